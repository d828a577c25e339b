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
--   * Pricing models and caps: rates.pricing_model (per_unit, package, flat,
--     percentage) and rates.maximum_charge. Every existing rate is per_unit
--     with no cap, which is exactly how 0.2.0 priced it, so no charge
--     changes and nothing needs rerating. The columns are added last, as a
--     fresh install has them.
--   * Time bands: tariffs.time_zone (UTC for existing tariffs), the tables
--     time_bands, time_band_hours and holidays, rates.time_band (NULL: any
--     time, as before) and rates.quantity_unit ('unit' for existing rates:
--     nothing is split). A tariff defines no bands until someone adds them,
--     so every existing rate keeps pricing exactly as before. The exclusion
--     constraint on rates gains the band; with every band NULL it excludes
--     what it excluded.
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

-- Pricing models and caps ------------------------------------------------------

ALTER TABLE rating.rates
    ADD COLUMN pricing_model text NOT NULL DEFAULT 'per_unit'
        CONSTRAINT rates_pricing_model_known CHECK (pricing_model IN ('per_unit', 'package', 'flat', 'percentage')),
    ADD COLUMN maximum_charge numeric
        CONSTRAINT rates_maximum_charge_not_below_minimum CHECK (maximum_charge >= minimum_charge);
COMMENT ON COLUMN rating.rates.pricing_model IS 'How price is read: per_unit (price per per_quantity units after first/next increments), package (price per started block of per_quantity units), flat (price per event) or percentage (price percent of the quantity, an amount of money). Terms a model does not use must be left at 1.';
COMMENT ON COLUMN rating.rates.maximum_charge IS 'Most one event may cost, connect fee included (a cap); NULL: no cap. Applied, like minimum_charge, before the one rounding.';

-- Time bands -------------------------------------------------------------------

CREATE FUNCTION rating.validate_tariff() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'validate_tariff_wrapper';
CREATE FUNCTION rating.check_time_bands() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'check_time_bands_wrapper';
COMMENT ON FUNCTION rating.validate_tariff() IS 'BEFORE INSERT OR UPDATE row trigger on rating.tariffs: refuses a time zone the IANA database does not know (SQLSTATE 22023).';
COMMENT ON FUNCTION rating.check_time_bands() IS 'Constraint trigger, deferred to commit, on rating.time_bands and rating.time_band_hours: refuses a tariff whose band hours leave a gap or overlap in any day (SQLSTATE 23514).';

ALTER TABLE rating.tariffs ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';
COMMENT ON COLUMN rating.tariffs.time_zone IS 'IANA time zone (e.g. Europe/Berlin) whose wall clock places usage in time bands and holidays. Checked on write.';
CREATE TRIGGER tariffs_validate BEFORE INSERT OR UPDATE OF time_zone ON rating.tariffs
    FOR EACH ROW EXECUTE FUNCTION rating.validate_tariff();
COMMENT ON TRIGGER tariffs_validate ON rating.tariffs IS 'Refuses an unknown time zone.';

ALTER TABLE rating.rates
    ADD COLUMN time_band text,
    ADD COLUMN quantity_unit text NOT NULL DEFAULT 'unit'
        CONSTRAINT rates_quantity_unit_known CHECK (quantity_unit IN ('unit', 'second')),
    DROP CONSTRAINT rates_no_overlapping_versions,
    ADD CONSTRAINT rates_no_overlapping_versions EXCLUDE USING gist (
        tariff_id WITH =, service WITH =, (ltrim(destination_prefix, '+')) WITH =,
        (coalesce(time_band, '')) WITH =, tstzrange(valid_from, valid_to) WITH &&);
COMMENT ON COLUMN rating.rates.time_band IS 'The time band (of rating.time_bands) this rate prices; NULL: any time. For one prefix, a rate for the band in force wins over a rate for any time.';
COMMENT ON COLUMN rating.rates.quantity_unit IS 'unit, or second: the quantity is a duration in seconds from occurred_at, and in a tariff with time bands an event that crosses a band change is split there, each part priced at its band''s rate (per_unit pricing only).';
COMMENT ON CONSTRAINT rates_no_overlapping_versions ON rating.rates IS 'Two versions of the same rate (service, prefix and time band) may not be in force at the same instant.';

CREATE TABLE rating.time_bands (
    tariff_id   bigint NOT NULL REFERENCES rating.tariffs (tariff_id) ON DELETE CASCADE,
    band        text NOT NULL CONSTRAINT time_bands_band_not_empty CHECK (band <> ''),
    description text,
    PRIMARY KEY (tariff_id, band)
);
COMMENT ON TABLE rating.time_bands IS 'The time bands of a tariff (peak, off-peak, weekend, ...). Their hours are in rating.time_band_hours, which must cover every minute of the week exactly once (checked at commit); rating.holidays price whole local days as one band.';
COMMENT ON COLUMN rating.time_bands.tariff_id IS 'The tariff.';
COMMENT ON COLUMN rating.time_bands.band IS 'Name of the band, named by rates.time_band.';
COMMENT ON COLUMN rating.time_bands.description IS 'Free text, e.g. Mon-Fri 08:00-20:00.';

CREATE TABLE rating.time_band_hours (
    time_band_hours_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    tariff_id bigint NOT NULL,
    band      text NOT NULL,
    days      smallint[] NOT NULL
              CONSTRAINT time_band_hours_days_are_weekdays CHECK (cardinality(days) > 0 AND days <@ '{1,2,3,4,5,6,7}'::smallint[]),
    starts    time NOT NULL,
    ends      time NOT NULL,
    CONSTRAINT time_band_hours_span_forward CHECK (ends > starts),
    CONSTRAINT time_band_hours_band_fkey FOREIGN KEY (tariff_id, band)
        REFERENCES rating.time_bands (tariff_id, band) ON DELETE CASCADE
);
CREATE INDEX time_band_hours_by_tariff ON rating.time_band_hours (tariff_id, band);
COMMENT ON TABLE rating.time_band_hours IS 'When each time band is in force: on the given ISO weekdays, from starts to ends on the tariff''s wall clock. A tariff''s rows must cover every day 00:00-24:00 without gap or overlap (checked at commit, SQLSTATE 23514).';
COMMENT ON COLUMN rating.time_band_hours.time_band_hours_id IS 'Surrogate key.';
COMMENT ON COLUMN rating.time_band_hours.tariff_id IS 'The tariff.';
COMMENT ON COLUMN rating.time_band_hours.band IS 'The band in force.';
COMMENT ON COLUMN rating.time_band_hours.days IS 'ISO weekdays: 1 Monday .. 7 Sunday.';
COMMENT ON COLUMN rating.time_band_hours.starts IS 'Local time the band starts (inclusive).';
COMMENT ON COLUMN rating.time_band_hours.ends IS 'Local time the band ends (exclusive); 24:00 for the end of the day.';
COMMENT ON INDEX rating.time_band_hours_by_tariff IS 'Loads a tariff''s schedule, and serves the foreign key to rating.time_bands.';

CREATE TABLE rating.holidays (
    tariff_id bigint NOT NULL,
    holiday   date NOT NULL,
    band      text NOT NULL,
    name      text NOT NULL,
    PRIMARY KEY (tariff_id, holiday),
    CONSTRAINT holidays_band_fkey FOREIGN KEY (tariff_id, band)
        REFERENCES rating.time_bands (tariff_id, band) ON DELETE CASCADE
);
CREATE INDEX holidays_by_band ON rating.holidays (tariff_id, band);
COMMENT ON TABLE rating.holidays IS 'Local dates (in the tariff''s time zone) priced as one time band all day, whatever the weekday.';
COMMENT ON COLUMN rating.holidays.tariff_id IS 'The tariff.';
COMMENT ON COLUMN rating.holidays.holiday IS 'The local date.';
COMMENT ON COLUMN rating.holidays.band IS 'The band in force all that day.';
COMMENT ON COLUMN rating.holidays.name IS 'Name shown to people, e.g. Christmas Day.';
COMMENT ON INDEX rating.holidays_by_band IS 'Serves the foreign key to rating.time_bands.';

ALTER TABLE rating.rates ADD CONSTRAINT rates_time_band_fkey FOREIGN KEY (tariff_id, time_band)
    REFERENCES rating.time_bands (tariff_id, band);
COMMENT ON CONSTRAINT rates_time_band_fkey ON rating.rates IS 'A rate prices a band its tariff defines.';

SELECT pg_catalog.pg_extension_config_dump('rating.time_bands', '');
SELECT pg_catalog.pg_extension_config_dump('rating.time_band_hours', '');
SELECT pg_catalog.pg_extension_config_dump('rating.holidays', '');
SELECT pg_catalog.pg_extension_config_dump('rating.time_band_hours_time_band_hours_id_seq', '');

CREATE CONSTRAINT TRIGGER time_band_hours_cover_each_day AFTER INSERT OR UPDATE OR DELETE ON rating.time_band_hours
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION rating.check_time_bands();
CREATE CONSTRAINT TRIGGER time_bands_cover_each_day AFTER INSERT ON rating.time_bands
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION rating.check_time_bands();
COMMENT ON TRIGGER time_band_hours_cover_each_day ON rating.time_band_hours IS 'At commit: the tariff''s band hours cover every day 00:00-24:00 exactly once.';
COMMENT ON TRIGGER time_bands_cover_each_day ON rating.time_bands IS 'At commit: a tariff with bands has hours covering every day 00:00-24:00 exactly once.';

CREATE TRIGGER time_bands_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.time_bands
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache();
CREATE TRIGGER time_band_hours_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.time_band_hours
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache();
CREATE TRIGGER holidays_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.holidays
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache();
COMMENT ON TRIGGER time_bands_invalidate ON rating.time_bands IS 'Drops cached tariffs in every session at commit.';
COMMENT ON TRIGGER time_band_hours_invalidate ON rating.time_band_hours IS 'Drops cached tariffs in every session at commit.';
COMMENT ON TRIGGER holidays_invalidate ON rating.holidays IS 'Drops cached tariffs in every session at commit.';

-- The band tables are part of the shared price list, with the same row-level
-- security and privileges as rates (sql/tenancy.sql, sql/roles.sql).
DO $$
DECLARE
    shared_table text;
BEGIN
    FOREACH shared_table IN ARRAY ARRAY['time_bands', 'time_band_hours', 'holidays'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE rating.%I ENABLE ROW LEVEL SECURITY', shared_table);
        EXECUTE pg_catalog.format('CREATE POLICY shared_reads ON rating.%I FOR SELECT USING (true)', shared_table);
        EXECUTE pg_catalog.format(
            'CREATE POLICY operator_writes ON rating.%I
                 USING ((SELECT rating.restricted_tenants()) IS NULL)', shared_table);
        EXECUTE pg_catalog.format('COMMENT ON POLICY shared_reads ON rating.%I IS %L', shared_table,
            'Everyone with the privilege reads the price list; a tenant''s roles read their own tenants.');
        EXECUTE pg_catalog.format('COMMENT ON POLICY operator_writes ON rating.%I IS %L', shared_table,
            'Only roles that belong to no tenant change the shared price list and the tenants.');
        EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE, DELETE ON rating.%I TO rating_admin', shared_table);
    END LOOP;
END
$$;
