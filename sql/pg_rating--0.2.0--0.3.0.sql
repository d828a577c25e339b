-- pg_rating 0.2.0 -> 0.3.0
--
-- What changes, and why it is safe on a database with data:
--   * usage.event_id must be 1 to 200 characters, and usage.attributes a JSON
--     object. Before, an event id too long for the unique index failed with
--     a btree size error only when it did not compress, so the same retry
--     could be refused or accepted depending on its bytes; a JSON array or
--     scalar in attributes broke analysts' attributes ->> 'key' queries.
--     Existing rows are checked first: if any breaks a rule the update stops
--     with the count and a query that finds them, and changes nothing. Both
--     rules are part of usage's one CHECK constraint (below).
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
--   * Tiers and allowances: rating.rate_tiers (graduated and volume rates),
--     rating.allowances and rates.allowance, and rating.usage_counters, the
--     per-account, per-period counts they price against, with the view
--     rating.allowance_usage. No existing rate is tiered or draws on an
--     allowance, so none prices differently.
--   * A volume-tiered event can be a credit: the ledger's sign rule no
--     longer requires a charge to be negative or a reversal positive (every
--     existing entry satisfies the looser rule), and reservations cover only
--     positive charges. post_usage_charges locks balances one account at a
--     time, in account order, by key, instead of joining the statement's
--     accounts with all of rating.accounts, and runs with JIT off: its
--     plans are kept for the session, and one made for a large statement (a
--     hash of every account, JIT-compiled) made every later small statement
--     of the session 20 times slower.
--   * authorize grants on rates that count units per period: what is left
--     of an allowance first, then what the funds buy on top of the period's
--     count. The SQL of authorize and affordable_quantity is unchanged (the
--     pricing is in the library); their comments say what they now do.
--   * rerate takes its new prices from the new internal rating.reprice(),
--     which replays usage counted per month (tiers, allowances) in order,
--     a whole month at a time, and sets those months' counters; other usage
--     is priced exactly as quote() priced it before.
--   * The ledger's foreign key to accounts is replaced by a trigger that
--     refuses deleting an account with entries: the key checked every new
--     entry with a query of its own, the largest single cost of posting a
--     large statement, although only pg_rating's functions write entries,
--     each after locking the account's balance row (which has its key).
--     Every existing entry names an existing account: the key held until now.
--     Usage's key to accounts goes the same way (the rating trigger has
--     always looked the account up first, and refuses an unknown one with
--     the key's SQLSTATE); the trigger now also refuses deleting an account
--     with usage, after waiting for any transaction inserting usage for it.
--   * Posting: the trigger usage_post now runs the Rust rating.post_usage(),
--     which posts the common statement itself, with no reservation to draw
--     on and no spending floor to check: the rows of one account with one
--     kept statement, others with one set-based statement that locks each
--     balance once and uses what the lock read (its plan kept per order of
--     magnitude of the statement's rows). It hands every other statement to
--     post_usage_charges(), which keeps only its general path. The entries
--     are the same either way; the fixed cost of a single-row INSERT and
--     the per-row cost of a large one drop. Likewise balances_alert now
--     runs the Rust rating.watch_balances(), which for a few moved balances asks
--     whether any threshold was crossed before running
--     raise_spending_alerts(), unchanged. Both triggers are replaced in
--     this transaction: no statement goes unposted or unwatched.
--   * The ledger's idempotency key is unique through a partial index that
--     leaves out entries without a key (every charge and reversal) instead
--     of a constraint over all entries: the same rule, one index entry less
--     per charge. The index is built anew, reading the ledger once.
--   * subscriptions_by_account, a btree index on subscriptions.account_id:
--     rating reads an account's subscriptions by index when it first meets
--     the account, and the GiST index of the exclusion constraint cost
--     several times more per lookup. Built once, reading the table.
--   * accounts_with_spending_floor, a partial btree index of the accounts
--     that have a spending floor: posting a large statement asks it, for
--     each touched account, whether that account has one, instead of reading
--     the account's row by its key. Built once, reading the table.
--   * rating.balances gets fillfactor 50. Every posting updates the
--     balances it touches, and with full pages each update wrote the row's
--     new version on another page and a new entry in balances_pkey; with
--     half of each page free the new version stays on its page (a HOT
--     update), even when one statement moves every balance on the page.
--     Only pages written from now on are filled to half: rows move there
--     as they are updated, or all at once with VACUUM FULL rating.balances
--     (which locks the table while it runs) at a quiet time. The table,
--     one short row per account, takes up to twice the space.
--   * Comments on the three indexes that had none (rates_by_tariff,
--     subscriptions_by_tariff, invoice_entries_by_invoice).
--   * The ledger's four CHECK constraints become one, ledger_entry_well_formed,
--     which calls the Rust rating.ledger_entry_is_well_formed(): the same
--     rules, and every amount must be finite (pg_rating's own functions never
--     wrote another). Usage's usage_status_known and
--     usage_held_rows_have_no_charge, with the event id and attributes
--     rules, become one usage_row_well_formed, which calls the Rust
--     rating.usage_row_is_well_formed().
--     Same rules, cheaper to start: PostgreSQL reads and plans every CHECK
--     expression of a table again at the start of each INSERT, about a tenth
--     of the CPU of a single-row rated insert. Adding the constraints reads
--     the ledger and usage once; an entry that breaks a rule stops the
--     update with an error naming it, and nothing changes.
--   * Usage's foreign key to reservations and the ledger's key from a
--     correction to the entry it corrects become constraint triggers that
--     run only WHEN the key is set: PostgreSQL queued a key check for every
--     inserted row, about a microsecond a row for each key, though almost no
--     row names a reservation or corrects an entry. The triggers check what
--     the keys checked (the named row exists; a named reservation is locked
--     KEY SHARE until the transaction ends, and is never deleted, renumbered
--     or truncated away while usage names it; ledger entries are never
--     deleted anyway) with the keys' SQLSTATE, 23503. Every existing row
--     satisfies them: the keys held until now.
--     Whether usage names an account or a reservation being deleted is read
--     with the latest snapshot (the new internal rating.account_has_usage(),
--     rating.reservation_is_named() and rating.any_reservation_is_named()),
--     as foreign keys read it: a
--     REPEATABLE READ transaction's snapshot could miss usage committed
--     while its DELETE waited for that usage's lock.
--   * A new trigger, tenants_invalidate, on rating.tenants: the rating
--     trigger now refuses another tenant's account itself, with the
--     account's number (row-level security refused it after the trigger,
--     without one), from which tenants the session's role acts for, kept by
--     each session until a committed change to tenants, roles or catalog
--     tables. The comment of rating.catalog_cache_marker says so.
--   * Opening an account no longer makes every session compile its tariffs
--     again. A change to accounts, subscriptions or tenants now invalidates
--     a second marker, the new table rating.account_cache_marker, which
--     drops only the sessions' cached accounts (and roles' tenants): the
--     triggers on those three tables pass the argument 'accounts' to
--     rating.invalidate_catalog_cache(). Tariff data still drops
--     everything. A session whose library is newer than its schema finds
--     no second marker and drops everything on either, as before. The new
--     rating.session_cache() shows what a session has cached and loaded.
--     The comments of the tariff tables' triggers now say that they drop
--     the cached accounts too.
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

-- Pricing models and caps ------------------------------------------------------

ALTER TABLE rating.rates
    ADD COLUMN pricing_model text NOT NULL DEFAULT 'per_unit'
        CONSTRAINT rates_pricing_model_known CHECK (pricing_model IN ('per_unit', 'package', 'flat', 'percentage', 'graduated', 'volume')),
    ADD COLUMN maximum_charge numeric
        CONSTRAINT rates_maximum_charge_not_below_minimum CHECK (maximum_charge >= minimum_charge);
COMMENT ON COLUMN rating.rates.pricing_model IS 'How price is read: per_unit (price per per_quantity units after first/next increments), package (price per started block of per_quantity units), flat (price per event), percentage (price percent of the quantity, an amount of money), graduated or volume (the rate''s rows in rating.rate_tiers price the billing period''s units; price, fees, minimum and cap must be 0). Terms a model does not use must be left at 1.';
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
    ADD COLUMN allowance text,
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
COMMENT ON TRIGGER time_bands_invalidate ON rating.time_bands IS 'Drops every session''s compiled tariffs and cached accounts at commit.';
COMMENT ON TRIGGER time_band_hours_invalidate ON rating.time_band_hours IS 'Drops every session''s compiled tariffs and cached accounts at commit.';
COMMENT ON TRIGGER holidays_invalidate ON rating.holidays IS 'Drops every session''s compiled tariffs and cached accounts at commit.';

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

-- Tiers, allowances and their counters ------------------------------------------

CREATE FUNCTION rating.check_rate_tiers() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'check_rate_tiers_wrapper';
COMMENT ON FUNCTION rating.check_rate_tiers() IS 'Constraint trigger, deferred to commit, on rating.rates and rating.rate_tiers: refuses a graduated or volume rate whose tiers do not run from 0 to an open end without gap or overlap, and tiers on any other rate (SQLSTATE 23514).';
COMMENT ON COLUMN rating.rates.allowance IS 'The allowance (of rating.allowances) a per_unit rate draws on before its units are paid for; NULL: none.';

CREATE TABLE rating.rate_tiers (
    rate_id   bigint NOT NULL REFERENCES rating.rates (rate_id) ON DELETE CASCADE,
    tier_from numeric NOT NULL CONSTRAINT rate_tiers_from_not_negative CHECK (tier_from >= 0),
    tier_to   numeric,
    price     numeric NOT NULL CONSTRAINT rate_tiers_price_not_negative CHECK (price >= 0),
    PRIMARY KEY (rate_id, tier_from),
    CONSTRAINT rate_tiers_span_forward CHECK (tier_to > tier_from)
);
COMMENT ON TABLE rating.rate_tiers IS 'The tiers of a graduated or volume rate: price per per_quantity units for the billing period''s units from tier_from up to tier_to. A rate''s tiers must run from 0 to an open end without gap or overlap (checked at commit, SQLSTATE 23514).';
COMMENT ON COLUMN rating.rate_tiers.rate_id IS 'The graduated or volume rate.';
COMMENT ON COLUMN rating.rate_tiers.tier_from IS 'First unit of the period the tier prices (exclusive of the units before it): 0 for the first tier.';
COMMENT ON COLUMN rating.rate_tiers.tier_to IS 'Unit of the period the tier ends at (inclusive); NULL: no end (the last tier).';
COMMENT ON COLUMN rating.rate_tiers.price IS 'Price per per_quantity units in this tier.';

CREATE TABLE rating.allowances (
    tariff_id   bigint NOT NULL REFERENCES rating.tariffs (tariff_id) ON DELETE CASCADE,
    allowance   text NOT NULL CONSTRAINT allowances_name_not_empty CHECK (allowance <> ''),
    units       numeric NOT NULL CONSTRAINT allowances_units_positive CHECK (units > 0),
    description text,
    PRIMARY KEY (tariff_id, allowance)
);
COMMENT ON TABLE rating.allowances IS 'Units included free per billing period (a calendar month of the tariff''s time zone), e.g. 100 minutes or 1 GB, drawn on by the per_unit rates that name them before any of their units are paid for.';
COMMENT ON COLUMN rating.allowances.tariff_id IS 'The tariff.';
COMMENT ON COLUMN rating.allowances.allowance IS 'Name of the allowance, named by rates.allowance.';
COMMENT ON COLUMN rating.allowances.units IS 'Units included per billing period, in the unit of the rates that draw on it (after their increments).';
COMMENT ON COLUMN rating.allowances.description IS 'Free text, e.g. 100 national minutes.';

CREATE TABLE rating.usage_counters (
    account_id   bigint NOT NULL REFERENCES rating.accounts (account_id) ON DELETE CASCADE,
    counter      text NOT NULL,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    units        numeric NOT NULL,
    included     numeric,
    PRIMARY KEY (account_id, counter, period_start),
    CONSTRAINT usage_counters_period_not_empty CHECK (period_end > period_start)
);
COMMENT ON TABLE rating.usage_counters IS 'Units an account used per billing period of each tiered rate (counter ''tiers <service>[ to <prefix>]'') and each allowance (counter ''allowance <name>''). Grown by the rating trigger in the inserting transaction, under a row lock, so concurrent inserts count every unit once.';
COMMENT ON COLUMN rating.usage_counters.account_id IS 'The account.';
COMMENT ON COLUMN rating.usage_counters.counter IS 'What is counted: tiers <service>[ to <prefix>] or allowance <name>.';
COMMENT ON COLUMN rating.usage_counters.period_start IS 'Start of the billing period: local midnight of the first of the month in the tariff''s time zone.';
COMMENT ON COLUMN rating.usage_counters.period_end IS 'End of the billing period (exclusive).';
COMMENT ON COLUMN rating.usage_counters.units IS 'Billed units counted in the period.';
COMMENT ON COLUMN rating.usage_counters.included IS 'For an allowance: the units it includes per period; NULL for tiers.';

ALTER TABLE rating.rates ADD CONSTRAINT rates_allowance_fkey FOREIGN KEY (tariff_id, allowance)
    REFERENCES rating.allowances (tariff_id, allowance);
COMMENT ON CONSTRAINT rates_allowance_fkey ON rating.rates IS 'A rate draws on an allowance its tariff defines.';

SELECT pg_catalog.pg_extension_config_dump('rating.rate_tiers', '');
SELECT pg_catalog.pg_extension_config_dump('rating.allowances', '');
SELECT pg_catalog.pg_extension_config_dump('rating.usage_counters', '');

CREATE CONSTRAINT TRIGGER rate_tiers_run_from_zero AFTER INSERT OR UPDATE OR DELETE ON rating.rate_tiers
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION rating.check_rate_tiers();
CREATE CONSTRAINT TRIGGER rates_tiers_run_from_zero AFTER INSERT OR UPDATE OF pricing_model ON rating.rates
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION rating.check_rate_tiers();
COMMENT ON TRIGGER rate_tiers_run_from_zero ON rating.rate_tiers IS 'At commit: the rate''s tiers run from 0 to an open end without gap or overlap.';
COMMENT ON TRIGGER rates_tiers_run_from_zero ON rating.rates IS 'At commit: a graduated or volume rate has valid tiers, and no other rate has tiers.';
CREATE TRIGGER rate_tiers_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.rate_tiers
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache();
CREATE TRIGGER allowances_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.allowances
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache();
COMMENT ON TRIGGER rate_tiers_invalidate ON rating.rate_tiers IS 'Drops every session''s compiled tariffs and cached accounts at commit.';
COMMENT ON TRIGGER allowances_invalidate ON rating.allowances IS 'Drops every session''s compiled tariffs and cached accounts at commit.';

-- Tiers and allowances are part of the shared price list; counters are an
-- account's data (sql/tenancy.sql, sql/roles.sql).
DO $$
DECLARE
    shared_table text;
BEGIN
    FOREACH shared_table IN ARRAY ARRAY['rate_tiers', 'allowances'] LOOP
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
ALTER TABLE rating.usage_counters ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rating.usage_counters
    USING ((SELECT rating.restricted_tenants()) IS NULL
           OR account_id IN (SELECT a.account_id FROM rating.accounts a));
COMMENT ON POLICY tenant_isolation ON rating.usage_counters IS 'A tenant''s roles see and write only the rows of their tenants'' accounts.';
GRANT SELECT ON rating.usage_counters TO rating_reader, rating_admin;

CREATE VIEW rating.allowance_usage WITH (security_invoker = true) AS
SELECT c.account_id,
       substr(c.counter, length('allowance ') + 1) AS allowance,
       c.period_start,
       c.period_end,
       c.included,
       c.units AS used,
       greatest(c.included - c.units, 0) AS remaining
  FROM rating.usage_counters c
 WHERE c.included IS NOT NULL;
COMMENT ON VIEW rating.allowance_usage IS 'Each account''s allowances per billing period: what is included, used and left. Units used beyond the allowance were charged at the rate''s price.';
COMMENT ON COLUMN rating.allowance_usage.account_id IS 'The account.';
COMMENT ON COLUMN rating.allowance_usage.allowance IS 'The allowance (rating.allowances.allowance).';
COMMENT ON COLUMN rating.allowance_usage.period_start IS 'Start of the billing period.';
COMMENT ON COLUMN rating.allowance_usage.period_end IS 'End of the billing period (exclusive).';
COMMENT ON COLUMN rating.allowance_usage.included IS 'Units included in the period.';
COMMENT ON COLUMN rating.allowance_usage.used IS 'Units used in the period by the rates that draw on the allowance, free or not.';
COMMENT ON COLUMN rating.allowance_usage.remaining IS 'Free units left in the period.';
GRANT SELECT ON rating.allowance_usage TO rating_reader, rating_admin;

-- Volume tiers credit: a charge or reversal of either sign ----------------------

-- (The sign rule is relaxed where the ledger's constraints become one, below.)
COMMENT ON COLUMN rating.usage.charge IS 'Price of the event in the account''s currency, rounded to its minor unit. Filled in by rating. Negative only for a volume-tiered event that takes its period into a cheaper tier: the credit that reprices the period''s earlier units.';

CREATE OR REPLACE FUNCTION rating.post_usage_charges() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- Numbering a large statement's entries sorts its rows: in memory, not on disk.
SET work_mem = '64MB'
-- The plans here are kept for the session, costed for the statement that
-- first ran them: JIT-compiling one made for 200,000 rows took ~190 ms on
-- every later statement, however small.
SET jit = off
AS $$
DECLARE
    -- Rows rated and posted, and the first row refused at its spending floor, if any.
    outcome record;
BEGIN
    -- Lock every touched balance in account order before changing any, so
    -- that concurrent multi-account statements queue instead of deadlocking.
    -- One account at a time, by key: the plan is kept for the session, and
    -- a join that hashes all accounts, right for 200,000 rows, would be
    -- kept for every later 3-row statement too. (When the plain statement
    -- of rating.post_usage() has locked them already, in the same order,
    -- this only looks at each balance again.)
    PERFORM
       FROM (SELECT DISTINCT account_id FROM inserted_usage ORDER BY account_id) touched
      CROSS JOIN LATERAL (
            SELECT FROM rating.balances b
             WHERE b.account_id = touched.account_id
               FOR UPDATE) locked;

    WITH account AS (
        SELECT b.account_id, b.balance, b.last_entry_no, b.invoiced_through, a.spending_floor, a.limit_policy,
               CASE WHEN a.spending_floor IS NULL THEN 0 ELSE rating.held_funds(b.account_id) END AS held
          FROM rating.balances b
          JOIN rating.accounts a ON a.account_id = b.account_id
         WHERE b.account_id IN (SELECT DISTINCT account_id FROM inserted_usage)
    ), covered AS (
        -- What each row's reservation pays for: rows naming one reservation
        -- draw on what it still holds, in usage order.
        -- A credit (a volume tier's) draws nothing.
        SELECT u.*,
               CASE WHEN r.reservation_id IS NULL OR u.charge <= 0 THEN 0
                    ELSE least(u.drawn_through, r.remaining) - least(u.drawn_through - u.charge, r.remaining)
               END AS covered
          FROM (SELECT u.*, sum(greatest(u.charge, 0)) OVER (PARTITION BY u.account_id, u.reservation_id ORDER BY u.usage_id) AS drawn_through
                  FROM inserted_usage u WHERE u.status = 'rated') u
          LEFT JOIN rating.open_reservations r
            ON r.account_id = u.account_id AND r.reservation_id = u.reservation_id
    ), entry AS (
        SELECT c.*,
               a.last_entry_no + row_number() OVER w AS entry_no,
               a.balance - a.held - sum(c.charge - c.covered) OVER w - a.spending_floor AS available_after,
               a.spending_floor, a.limit_policy, a.balance AS balance_before, a.held,
               coalesce(c.occurred_at < a.invoiced_through, false) AS late
          FROM covered c
          JOIN account a ON a.account_id = c.account_id
        WINDOW w AS (PARTITION BY c.account_id ORDER BY c.usage_id)
    ), ledger_rows AS (
        INSERT INTO rating.ledger (account_id, entry_no, kind, amount, currency, usage_id, description, over_limit, late)
        SELECT account_id, entry_no, 'charge', -charge, currency, usage_id,
               service || coalesce(' to ' || destination, '') || ', quantity ' || quantity,
               coalesce(charge > covered AND available_after < 0, false),
               late
          FROM entry
        RETURNING 1
    ), moved AS (
        UPDATE rating.balances b
           SET balance = b.balance - t.total,
               last_entry_no = b.last_entry_no + t.entries,
               updated_at = now()
          FROM (SELECT account_id, sum(charge) AS total, count(*) AS entries
                  FROM inserted_usage WHERE status = 'rated' GROUP BY account_id) t
         WHERE b.account_id = t.account_id
    ), drawn AS (
        UPDATE rating.reservations r
           SET consumed = r.consumed + d.covered
          FROM (SELECT account_id, reservation_id, sum(covered) AS covered
                  FROM covered WHERE covered > 0 GROUP BY account_id, reservation_id) d
         WHERE r.account_id = d.account_id AND r.reservation_id = d.reservation_id
    )
    SELECT (SELECT count(*) FROM inserted_usage WHERE status = 'rated') AS rated,
           (SELECT count(*) FROM ledger_rows) AS posted,
           e.*
      INTO outcome
      FROM (SELECT 1) AS one
      LEFT JOIN LATERAL (
            SELECT e.account_id, e.usage_id, e.charge, e.currency, e.balance_before, e.held, e.spending_floor
              FROM entry e
             WHERE e.limit_policy = 'reject' AND e.charge > e.covered AND e.available_after < 0
             ORDER BY e.account_id, e.usage_id
             LIMIT 1) e ON true;

    IF outcome.account_id IS NOT NULL THEN
        RAISE EXCEPTION 'usage would take account % below its spending floor of % %',
                outcome.account_id, outcome.spending_floor, outcome.currency
            USING ERRCODE = 'RT001',
                  DETAIL = format('A charge of %s %s finds balance %s with %s held by reservations; the statement posts nothing.',
                                  outcome.charge, outcome.currency, outcome.balance_before, outcome.held),
                  HINT = 'Top up the account (rating.post_payment), raise its credit_limit, or set limit_policy = ''flag''.';
    END IF;
    IF outcome.posted <> outcome.rated THEN
        -- An account was deleted, with its balance row, after its usage was
        -- rated (or lost the row otherwise): refuse rather than accept usage
        -- that is not on the ledger.
        RAISE EXCEPTION '% usage % rated but only % posted: an account lost its balance row during the statement',
                        outcome.rated, CASE WHEN outcome.rated = 1 THEN 'row was' ELSE 'rows were' END, outcome.posted
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Was an account deleted meanwhile? Every account needs its row in rating.balances.';
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION rating.reprice(
	"account_id" bigint, /* i64 */
	"period_start" timestamp with time zone, /* TimestampWithTimeZone */
	"period_end" timestamp with time zone /* TimestampWithTimeZone */
) RETURNS TABLE (
	"usage_id" bigint,  /* i64 */
	"charge" NUMERIC,  /* AnyNumeric */
	"currency" TEXT,  /* String */
	"tariff_id" bigint,  /* i64 */
	"rate_id" bigint,  /* i64 */
	"billed_quantity" NUMERIC,  /* AnyNumeric */
	"breakdown" TEXT  /* String */
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'reprice_wrapper';

CREATE OR REPLACE FUNCTION rating.rerate(account_id bigint, period_start timestamptz, period_end timestamptz)
RETURNS TABLE (rerated bigint, balance_change numeric)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET pg_rating.maintenance = on
AS $$
DECLARE
    account_balance rating.balances;
BEGIN
    IF rerate.account_id IS NULL OR rerate.period_start IS NULL OR rerate.period_end IS NULL THEN
        RAISE EXCEPTION 'account_id, period_start and period_end must be given' USING ERRCODE = 'not_null_violation';
    END IF;
    IF rerate.period_end <= rerate.period_start THEN
        RAISE EXCEPTION 'period_end % is not after period_start %', rerate.period_end, rerate.period_start
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Taken first, as every posting does: concurrent usage of the account
    -- waits, and rows committed before the lock was granted are rerated too.
    account_balance := rating.locked_balance(rerate.account_id);

    WITH current_charge AS (
        SELECT DISTINCT ON (l.usage_id) l.usage_id, l.entry_no, l.amount
          FROM rating.ledger l
         WHERE l.account_id = rerate.account_id AND l.kind = 'charge'
         ORDER BY l.usage_id, l.entry_no DESC
    ), repriced AS (
        -- reprice() raises what an insert would: a row the corrected tariff
        -- cannot price fails the whole call, and nothing is posted. A row
        -- counted per month brings every row of its month with it.
        SELECT u.usage_id, u.service, u.destination, u.quantity, c.entry_no AS replaced_entry_no,
               c.amount AS replaced_amount, q.charge, q.currency, q.tariff_id, q.rate_id,
               q.billed_quantity, q.breakdown,
               coalesce(u.occurred_at < account_balance.invoiced_through, false) AS late,
               row_number() OVER (ORDER BY u.usage_id) AS n
          FROM rating.reprice(rerate.account_id, rerate.period_start, rerate.period_end) q
          JOIN rating.usage u ON u.account_id = rerate.account_id AND u.usage_id = q.usage_id
          JOIN current_charge c ON c.usage_id = u.usage_id
         WHERE (q.charge, q.tariff_id, q.rate_id, q.billed_quantity)
               IS DISTINCT FROM (u.charge, u.tariff_id, u.rate_id, u.billed_quantity)
    ), reversals AS (
        INSERT INTO rating.ledger (account_id, entry_no, kind, amount, currency, usage_id, description,
                                   corrects_entry_no, late)
        SELECT rerate.account_id, account_balance.last_entry_no + 2 * r.n - 1, 'reversal', -r.replaced_amount,
               r.currency, r.usage_id, 'rerating: reversal of entry ' || r.replaced_entry_no,
               r.replaced_entry_no, r.late
          FROM repriced r
        RETURNING amount
    ), replacements AS (
        INSERT INTO rating.ledger (account_id, entry_no, kind, amount, currency, usage_id, description,
                                   corrects_entry_no, late)
        SELECT rerate.account_id, account_balance.last_entry_no + 2 * r.n, 'charge', -r.charge,
               r.currency, r.usage_id,
               r.service || coalesce(' to ' || r.destination, '') || ', quantity ' || r.quantity
                   || ', rerated (replaces entry ' || r.replaced_entry_no || ')',
               r.replaced_entry_no, r.late
          FROM repriced r
        RETURNING amount
    ), restated AS (
        UPDATE rating.usage u
           SET charge = r.charge, tariff_id = r.tariff_id, rate_id = r.rate_id,
               billed_quantity = r.billed_quantity, breakdown = r.breakdown, rated_at = now()
          FROM repriced r
         WHERE u.account_id = rerate.account_id AND u.usage_id = r.usage_id
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM restated),
           coalesce((SELECT sum(amount) FROM reversals), 0) + coalesce((SELECT sum(amount) FROM replacements), 0)
      INTO rerate.rerated, rerate.balance_change;

    IF rerate.rerated > 0 THEN
        UPDATE rating.balances b
           SET balance = b.balance + rerate.balance_change,
               last_entry_no = b.last_entry_no + 2 * rerate.rerated,
               updated_at = now()
         WHERE b.account_id = rerate.account_id;
    END IF;
    RETURN NEXT;
END
$$;
REVOKE ALL ON FUNCTION rating.reprice(bigint, timestamptz, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION rating.reprice(bigint, timestamptz, timestamptz) IS 'Internal: the account''s rated usage of [period_start, period_end) priced again with the tariffs as they now stand, with every row counted in the same billing month as one of them (replayed in usage order from the start of the month, whose counters it sets to the replay''s totals). Called by rating.rerate() under the account''s balance lock.';
COMMENT ON FUNCTION rating.rerate(bigint, timestamptz, timestamptz) IS 'Prices the account''s rated usage that occurred in [period_start, period_end) again with the tariffs as they now stand. For every row whose charge, tariff, rate or billed quantity changes it posts a reversal of the current charge and a replacement charge (never editing an entry) and updates the usage row''s rating columns. Returns the rows rerated and the net change of the balance; a second call with the same tariffs rerates nothing. Limits are not applied to corrections. Usage priced against the count of its billing month''s units (tiers, allowances) is repriced by whole months, replayed in the order it was counted, and the month''s counters are set to the replay''s totals.';

-- The account keys of the ledger and usage ---------------------------------------

ALTER TABLE rating.ledger DROP CONSTRAINT ledger_account_id_fkey;
COMMENT ON COLUMN rating.ledger.account_id IS 'The account. Only pg_rating''s posting functions write entries, each after locking the account''s balance row; an account with entries cannot be deleted (trigger accounts_keep_entries).';

ALTER TABLE rating.usage DROP CONSTRAINT usage_account_id_fkey;
COMMENT ON COLUMN rating.usage.account_id IS 'The account that used the service; rating refuses an unknown account (23503), and an account with usage cannot be deleted (trigger accounts_keep_entries).';

CREATE FUNCTION rating.account_has_usage(account_id bigint) RETURNS bool
    STRICT VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'account_has_usage_wrapper';
CREATE FUNCTION rating.reservation_is_named(account_id bigint, reservation_id bigint) RETURNS bool
    STRICT VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'reservation_is_named_wrapper';
REVOKE ALL ON FUNCTION rating.account_has_usage(bigint) FROM PUBLIC;
CREATE FUNCTION rating.any_reservation_is_named() RETURNS bool
    STRICT VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'any_reservation_is_named_wrapper';
REVOKE ALL ON FUNCTION rating.reservation_is_named(bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION rating.any_reservation_is_named() FROM PUBLIC;
COMMENT ON FUNCTION rating.any_reservation_is_named() IS 'Internal: whether any usage row names a reservation, read with the latest snapshot (committed rows and this transaction''s own) at every isolation level: for the trigger reservations_keep_named_on_truncate.';
COMMENT ON FUNCTION rating.account_has_usage(bigint) IS 'Internal: whether the account has usage rows, read with the latest snapshot (committed rows and this transaction''s own) at every isolation level, as foreign keys check a deleted key: for the trigger accounts_keep_entries.';
COMMENT ON FUNCTION rating.reservation_is_named(bigint, bigint) IS 'Internal: whether usage of the account names its reservation, read with the latest snapshot (committed rows and this transaction''s own) at every isolation level, as foreign keys check a deleted key: for the trigger reservations_keep_named.';

-- Usage and the ledger name their account without a foreign key: a key
-- checks every row with a query of its own, while the rating trigger has
-- already found the account (it must, to price the row) and only
-- pg_rating's own functions write entries. This takes the keys' other job:
-- an account with usage or entries is never deleted. A transaction that is
-- inserting usage for the account holds its balance row (rated rows) or a
-- KEY SHARE lock on it (held rows) until it ends; the DELETE waits for it,
-- and then sees its rows.
CREATE FUNCTION rating.keep_accounts_with_entries() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM FROM rating.balances b WHERE b.account_id = OLD.account_id FOR UPDATE;
    IF rating.account_has_usage(OLD.account_id)
       OR EXISTS (SELECT FROM rating.ledger l WHERE l.account_id = OLD.account_id) THEN
        RAISE EXCEPTION 'account % has usage or ledger entries and cannot be deleted', OLD.account_id
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Usage and ledger entries are kept for good, and so is their account.';
    END IF;
    RETURN OLD;
END
$$;
COMMENT ON FUNCTION rating.keep_accounts_with_entries() IS 'Refuses (23503) deleting an account that has usage or ledger entries: the foreign keys usage and the ledger do without.';
CREATE TRIGGER accounts_keep_entries BEFORE DELETE ON rating.accounts
    FOR EACH ROW EXECUTE FUNCTION rating.keep_accounts_with_entries();
COMMENT ON TRIGGER accounts_keep_entries ON rating.accounts IS 'An account with usage or ledger entries is never deleted.';

-- Posting small statements ------------------------------------------------------

CREATE FUNCTION rating.post_usage() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'post_usage_trigger';
ALTER FUNCTION rating.post_usage() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION rating.post_usage() FROM PUBLIC;
COMMENT ON FUNCTION rating.post_usage_charges() IS 'Internal: the set-based posting of an INSERT statement on rating.usage with a reservation to draw on or a spending floor to check, run by the trigger function rating.post_usage() in its place (it posts any statement correctly): locks the touched balances in account order, draws on reservations, checks spending floors (SQLSTATE RT001 or over_limit flags), appends one ledger entry per rated row (held rows are skipped) and moves each balance once.';
COMMENT ON FUNCTION rating.post_usage() IS 'AFTER INSERT statement trigger on rating.usage: when no row draws on a reservation and no touched account has a spending floor, posts the statement itself (the entries rating.post_usage_charges() would write) with the table access method''s calls: a statement of up to 1,000 rows by account, a larger one in two passes over its rows. Where the ledger or balances have a trigger, rule, CHECK or column not the extension''s, an account has an alert threshold, or a large statement''s rows of an account are not in usage order, it posts one account''s rows of a small statement with one kept statement, and any other statement with one set-based statement whose plan is kept per order of magnitude of the statement''s rows; runs rating.post_usage_charges() for every other statement.';

DROP TRIGGER usage_post ON rating.usage;
CREATE TRIGGER usage_post AFTER INSERT ON rating.usage
    REFERENCING NEW TABLE AS inserted_usage
    FOR EACH STATEMENT EXECUTE FUNCTION rating.post_usage();
COMMENT ON TRIGGER usage_post ON rating.usage IS 'Posts the statement''s charges to the ledger and balances.';

CREATE FUNCTION rating.watch_balances() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'watch_balances_trigger';
REVOKE ALL ON FUNCTION rating.watch_balances() FROM PUBLIC;
COMMENT ON FUNCTION rating.raise_spending_alerts() IS 'Internal: run by the trigger function rating.watch_balances() when balances may have crossed a threshold: records an alert for every threshold a balance crossed and sends it with NOTIFY on channel rating_alerts (delivered at commit, never after a rollback).';
COMMENT ON FUNCTION rating.watch_balances() IS 'AFTER UPDATE statement trigger on rating.balances: for up to 8 updated balances, reads their alert thresholds by index to find whether any was crossed, and runs rating.raise_spending_alerts() only if one was; runs it directly for larger statements.';

DROP TRIGGER balances_alert ON rating.balances;
CREATE TRIGGER balances_alert AFTER UPDATE ON rating.balances
    REFERENCING OLD TABLE AS old_balances NEW TABLE AS new_balances
    FOR EACH STATEMENT EXECUTE FUNCTION rating.watch_balances();
COMMENT ON TRIGGER balances_alert ON rating.balances IS 'Raises spending alerts when balances cross their thresholds.';

-- The ledger's idempotency keys ------------------------------------------------

ALTER TABLE rating.ledger DROP CONSTRAINT ledger_idempotency_key_unique;
CREATE UNIQUE INDEX ledger_idempotency_key_unique ON rating.ledger (account_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
COMMENT ON INDEX rating.ledger_idempotency_key_unique IS 'A caller''s key posts once per account. Charges and reversals carry none and are left out, which spares an index entry per charge.';

-- Subscriptions by account -----------------------------------------------------

CREATE INDEX subscriptions_by_account ON rating.subscriptions (account_id);
COMMENT ON INDEX rating.subscriptions_by_account IS 'Finds an account''s subscriptions when rating first meets the account in a session: a btree lookup, several times cheaper than one in the exclusion constraint''s GiST index.';

-- Accounts with a spending floor ---------------------------------------------

CREATE INDEX accounts_with_spending_floor ON rating.accounts (account_id) WHERE spending_floor IS NOT NULL;
COMMENT ON INDEX rating.accounts_with_spending_floor IS 'The accounts with a spending floor: posting a large statement asks it whether each touched account has one, which costs next to nothing when few accounts do.';

-- Room for HOT updates of the balances ----------------------------------------

ALTER TABLE rating.balances SET (fillfactor = 50);

-- Comments on the indexes that had none --------------------------------------

COMMENT ON INDEX rating.rates_by_tariff IS 'Loads a tariff''s rates, and serves the foreign key to rating.tariffs.';
COMMENT ON INDEX rating.subscriptions_by_tariff IS 'Finds the accounts subscribed to a tariff, and serves the foreign key to rating.tariffs.';
COMMENT ON INDEX rating.invoice_entries_by_invoice IS 'Finds the ledger entries an invoice covers, and serves the foreign key to rating.invoices.';

-- One CHECK constraint each for the ledger and usage --------------------------

CREATE FUNCTION rating.ledger_entry_is_well_formed(
    account_id bigint, entry_no bigint, kind text, amount numeric, usage_id bigint, corrects_entry_no bigint)
RETURNS boolean
IMMUTABLE PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'ledger_entry_is_well_formed';
REVOKE ALL ON FUNCTION rating.ledger_entry_is_well_formed(bigint, bigint, text, numeric, bigint, bigint) FROM PUBLIC;
COMMENT ON FUNCTION rating.ledger_entry_is_well_formed(bigint, bigint, text, numeric, bigint, bigint) IS 'Internal: the CHECK of rating.ledger. True for a well-formed entry; raises check_violation (23514) naming the entry and the rule it breaks. One function call rather than four SQL constraints, because PostgreSQL reads and plans every CHECK expression again at the start of each INSERT.';

ALTER TABLE rating.ledger
    DROP CONSTRAINT ledger_kind_known,
    DROP CONSTRAINT ledger_charge_names_usage,
    DROP CONSTRAINT ledger_reversal_names_entry,
    DROP CONSTRAINT ledger_sign_follows_kind,
    ADD CONSTRAINT ledger_entry_well_formed CHECK (
        rating.ledger_entry_is_well_formed(account_id, entry_no, kind, amount, usage_id, corrects_entry_no));
COMMENT ON CONSTRAINT ledger_entry_well_formed ON rating.ledger IS 'The kind is known; charges and reversals name their usage row and nothing else does; a reversal names the entry it corrects; payments and credits are positive, refunds negative, adjustments not zero; every amount is finite. A charge is usually negative, but a volume-tiered event that takes the period into a cheaper tier is credited (positive), and a reversal has the opposite sign of its charge.';

CREATE FUNCTION rating.usage_row_is_well_formed(
    status text, charge numeric, hold_reason text, event_id text, attributes jsonb)
RETURNS boolean
IMMUTABLE PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'usage_row_is_well_formed';
COMMENT ON FUNCTION rating.usage_row_is_well_formed(text, numeric, text, text, jsonb) IS 'Internal: the CHECK usage_row_well_formed of rating.usage. True for a well-formed row; raises check_violation (23514) naming the rule it breaks and the offending values. One function call rather than three SQL constraints, because PostgreSQL reads and plans every CHECK expression again at the start of each INSERT.';
-- As a fresh install grants it: usage's CHECK calls it as the inserting role.
REVOKE ALL ON FUNCTION rating.usage_row_is_well_formed(text, numeric, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rating.usage_row_is_well_formed(text, numeric, text, text, jsonb) TO PUBLIC;

ALTER TABLE rating.usage
    DROP CONSTRAINT usage_status_known,
    DROP CONSTRAINT usage_held_rows_have_no_charge,
    ADD CONSTRAINT usage_row_well_formed CHECK (
        rating.usage_row_is_well_formed(status, charge, hold_reason, event_id, attributes));
COMMENT ON CONSTRAINT usage_row_well_formed ON rating.usage IS 'Every row is rated (with a charge, without a hold reason) or held (with a reason, without a charge); an event id is 1 to 200 characters, always small enough for the unique index, so a retry is recognised whatever its length; attributes are a JSON object, so that analysts can read any key of any row (attributes ->> ''cell_id'').';

-- Keys kept by triggers WHEN they are set ------------------------------------

ALTER TABLE rating.usage DROP CONSTRAINT usage_reservation_fkey;
ALTER TABLE rating.ledger DROP CONSTRAINT ledger_corrects_an_entry;
COMMENT ON COLUMN rating.usage.reservation_id IS 'The reservation (of the same account) the session held funds with; its charge is drawn from the reservation first. Checked by the trigger usage_names_a_reservation (23503).';
COMMENT ON COLUMN rating.ledger.corrects_entry_no IS 'The entry of the same account this one corrects, if any: for a reversal the charge it cancels, for a rerated charge the charge it replaces. Checked by the trigger ledger_corrects_an_entry (23503).';

-- A usage row may name a reservation of its account; almost none do, so
-- the check runs only WHEN one is named. Like a foreign key's check, it
-- runs at the end of the statement and locks the reservation (KEY SHARE)
-- so that it cannot be deleted until this transaction ends.
CREATE FUNCTION rating.check_reservation_named() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM FROM rating.reservations r
     WHERE r.account_id = NEW.account_id AND r.reservation_id = NEW.reservation_id
       FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % has no reservation %', NEW.account_id, NEW.reservation_id
            USING ERRCODE = 'foreign_key_violation',
                  SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME, CONSTRAINT = TG_NAME,
                  HINT = 'Name a reservation that rating.reserve() returned for the same account.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION rating.check_reservation_named() IS 'Constraint trigger on rating.usage: refuses (23503) a row naming a reservation its account does not have, and locks the one it names against deletion until the transaction ends.';
CREATE CONSTRAINT TRIGGER usage_names_a_reservation AFTER INSERT OR UPDATE OF account_id, reservation_id ON rating.usage
    FOR EACH ROW WHEN (NEW.reservation_id IS NOT NULL)
    EXECUTE FUNCTION rating.check_reservation_named();
COMMENT ON TRIGGER usage_names_a_reservation ON rating.usage IS 'A usage row names only a reservation of its own account (the foreign key it replaces queued a check for every row).';

CREATE FUNCTION rating.keep_named_reservations() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF rating.any_reservation_is_named() THEN
            RAISE EXCEPTION 'rating.reservations cannot be truncated: usage names its reservations'
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.account_id, NEW.reservation_id) = (OLD.account_id, OLD.reservation_id) THEN
        RETURN NEW;
    END IF;
    IF rating.reservation_is_named(OLD.account_id, OLD.reservation_id) THEN
        RAISE EXCEPTION 'reservation % of account % is named by usage and cannot be %',
                OLD.reservation_id, OLD.account_id, CASE TG_OP WHEN 'DELETE' THEN 'deleted' ELSE 'renumbered' END
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Release it with rating.release_reservation() instead.';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION rating.keep_named_reservations() IS 'Refuses (23503) deleting, renumbering or truncating reservations that usage rows name.';
CREATE TRIGGER reservations_keep_named BEFORE DELETE OR UPDATE OF account_id, reservation_id ON rating.reservations
    FOR EACH ROW EXECUTE FUNCTION rating.keep_named_reservations();
CREATE TRIGGER reservations_keep_named_on_truncate BEFORE TRUNCATE ON rating.reservations
    FOR EACH STATEMENT EXECUTE FUNCTION rating.keep_named_reservations();
COMMENT ON TRIGGER reservations_keep_named ON rating.reservations IS 'A reservation that usage names is never deleted or renumbered.';
COMMENT ON TRIGGER reservations_keep_named_on_truncate ON rating.reservations IS 'Reservations that usage names are never truncated away.';

-- A correcting entry (a reversal, a rerated charge) names the entry it
-- corrects; the ledger is append-only (ledger_append_only), so the entry
-- named only has to exist when the correction is inserted.
CREATE FUNCTION rating.check_corrected_entry() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM rating.ledger l
                    WHERE l.account_id = NEW.account_id AND l.entry_no = NEW.corrects_entry_no) THEN
        RAISE EXCEPTION 'account % has no ledger entry % to correct', NEW.account_id, NEW.corrects_entry_no
            USING ERRCODE = 'foreign_key_violation',
                  SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME, CONSTRAINT = TG_NAME;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION rating.check_corrected_entry() IS 'Constraint trigger on rating.ledger: refuses (23503) a correction naming an entry its account does not have.';
CREATE CONSTRAINT TRIGGER ledger_corrects_an_entry AFTER INSERT OR UPDATE OF account_id, corrects_entry_no ON rating.ledger
    FOR EACH ROW WHEN (NEW.corrects_entry_no IS NOT NULL)
    EXECUTE FUNCTION rating.check_corrected_entry();
COMMENT ON TRIGGER ledger_corrects_an_entry ON rating.ledger IS 'A correction names an entry of its own account (the foreign key it replaces queued a check for every entry).';

REVOKE ALL ON FUNCTION rating.check_reservation_named() FROM PUBLIC;
REVOKE ALL ON FUNCTION rating.keep_named_reservations() FROM PUBLIC;
REVOKE ALL ON FUNCTION rating.check_corrected_entry() FROM PUBLIC;

-- Tenancy: the rating trigger's answer follows rating.tenants -----------------

CREATE TRIGGER tenants_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.tenants
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache('accounts');
COMMENT ON TRIGGER tenants_invalidate ON rating.tenants IS 'Makes every session ask again, after commit, which tenants its role acts for.';

-- Caches: opening an account keeps the compiled tariffs -------------------------

-- Accounts, subscriptions and tenants invalidate their own marker, which
-- drops the sessions' cached accounts but not their compiled tariffs.
CREATE TABLE rating.account_cache_marker ();
COMMENT ON TABLE rating.account_cache_marker IS 'Never holds rows. A change to accounts, subscriptions or tenants queues a relcache invalidation of this table, which PostgreSQL delivers to every backend at commit; pg_rating then drops its cached accounts and asks again which tenants a session''s role acts for, keeping its compiled tariffs.';
COMMENT ON TABLE rating.catalog_cache_marker IS 'Never holds rows. A change to tariffs, rates, currencies, time bands, tiers, allowances or holidays queues a relcache invalidation of this table, which PostgreSQL delivers to every backend at commit; pg_rating then drops its compiled tariffs and cached accounts, and asks again which tenants a session''s role acts for.';
COMMENT ON FUNCTION rating.invalidate_catalog_cache() IS 'Statement trigger on the catalog tables: makes every session drop its compiled tariffs and cached accounts once this transaction commits; with the argument ''accounts'' (on accounts, subscriptions and tenants), only its cached accounts.';
DROP TRIGGER accounts_invalidate ON rating.accounts;
CREATE TRIGGER accounts_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.accounts
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache('accounts');
COMMENT ON TRIGGER accounts_invalidate ON rating.accounts IS 'Drops cached accounts, not compiled tariffs, in every session at commit.';
DROP TRIGGER subscriptions_invalidate ON rating.subscriptions;
CREATE TRIGGER subscriptions_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache('accounts');
COMMENT ON TRIGGER subscriptions_invalidate ON rating.subscriptions IS 'Drops cached accounts, not compiled tariffs, in every session at commit.';
-- The tariff tables' triggers drop the accounts too (their comments from
-- 0.1.0 said only tariffs).
COMMENT ON TRIGGER currencies_invalidate ON rating.currencies IS 'Drops every session''s compiled tariffs and cached accounts at commit.';
COMMENT ON TRIGGER tariffs_invalidate ON rating.tariffs IS 'Drops every session''s compiled tariffs and cached accounts at commit.';
COMMENT ON TRIGGER rates_invalidate ON rating.rates IS 'Drops every session''s compiled tariffs and cached accounts at commit.';

CREATE FUNCTION rating.session_cache() RETURNS TABLE (cache text, entries bigint, loads bigint)
    STRICT VOLATILE PARALLEL RESTRICTED
    LANGUAGE c AS 'MODULE_PATHNAME', 'session_cache_wrapper';
REVOKE ALL ON FUNCTION rating.session_cache() FROM PUBLIC;
COMMENT ON FUNCTION rating.session_cache() IS 'This session''s caches: for tariffs (compiled), accounts and the tenants of roles, how many entries are cached now and how many the session has loaded so far. A change to tariff data empties them all; to accounts, subscriptions or tenants, only accounts and roles'' tenants.';
GRANT EXECUTE ON FUNCTION rating.session_cache() TO rating_reader, rating_writer, rating_admin;

-- authorize and affordable_quantity now grant on tiers and allowances.
COMMENT ON FUNCTION rating.affordable_quantity(bigint, text, numeric, timestamptz, text) IS 'The largest quantity of a service (to a destination) whose charge for the account at occurred_at, and that of every shorter use, fits in budget, and the rate that prices it; errors as the insert of that usage would. A rate that counts units per billing period (tiers, an allowance) is priced on top of the period''s count as it stands, read without a lock. rating.authorize supplies the budget.';
COMMENT ON FUNCTION rating.authorize(bigint, text, text, timestamptz, bigint) IS 'How much of a service the account can use now: the largest quantity (e.g. seconds of a call to destination) whose charge fits in its available funds, plus those of reservation_id if given; what is left of an allowance comes free first, and tiers are priced on the billing period''s units so far. quantity and available are NULL for an account without a limit. Posts and holds nothing: follow with rating.reserve().';
