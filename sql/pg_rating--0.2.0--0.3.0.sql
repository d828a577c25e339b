-- pg_rating 0.2.0 -> 0.3.0
--
-- What changes, and why it is safe on a database with data:
--   * usage.event_id must be 1 to 200 characters, and usage.attributes a JSON
--     object. Before, an event id too long for the unique index failed with
--     a btree size error only when it did not compress, so the same retry
--     could be refused or accepted depending on its bytes; a JSON array or
--     scalar in attributes broke analysts' attributes ->> 'key' queries.
--     Existing rows are checked first: if any breaks a rule the update stops
--     with the count and a query that finds them, and changes nothing.
-- No ledger entry, balance or invoice is touched. tests/reliability.rs
-- (upgrade_keeps_data_and_matches_a_fresh_install) checks that the result is
-- the schema a fresh 0.3.0 install creates.

\echo Use "ALTER EXTENSION pg_rating UPDATE TO '0.3.0'" to load this file. \quit

-- Usage rows: event ids and attributes ----------------------------------------

DO $$
DECLARE
    offending bigint;
BEGIN
    SELECT count(*) INTO offending FROM rating.usage
     WHERE NOT coalesce(length(event_id) BETWEEN 1 AND 200, true)
        OR jsonb_typeof(attributes) <> 'object';
    IF offending > 0 THEN
        RAISE EXCEPTION 'pg_rating 0.3.0 cannot be installed: % usage rows have an empty or over-long event_id or non-object attributes', offending
            USING ERRCODE = 'check_violation',
                  HINT = 'Find them with: SELECT account_id, usage_id FROM rating.usage WHERE NOT coalesce(length(event_id) BETWEEN 1 AND 200, true) OR jsonb_typeof(attributes) <> ''object''. Correct them as a superuser with SET LOCAL pg_rating.maintenance = on, then update again.';
    END IF;
END
$$;

ALTER TABLE rating.usage
    ADD CONSTRAINT usage_event_id_length CHECK (length(event_id) BETWEEN 1 AND 200),
    ADD CONSTRAINT usage_attributes_object CHECK (jsonb_typeof(attributes) = 'object');
COMMENT ON CONSTRAINT usage_event_id_length ON rating.usage IS 'An event id is 1 to 200 characters: always small enough for the unique index, so a retry is recognised whatever its length.';
COMMENT ON CONSTRAINT usage_attributes_object ON rating.usage IS 'Attributes are a JSON object, so that analysts can read any key of any row (attributes ->> ''cell_id'').';
