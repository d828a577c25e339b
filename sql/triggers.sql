-- Triggers that keep the rating tables consistent. The rating of each usage
-- row is in Rust (rating.rate_usage); posting is one set-based statement per
-- INSERT/COPY statement, so a 200,000-row INSERT ... SELECT updates each
-- touched balance once.

COMMENT ON FUNCTION rating.rate_usage() IS 'BEFORE INSERT row trigger on rating.usage: prices the row with the tariff in force at occurred_at and fills in charge, currency, tariff_id, rate_id, billed_quantity, breakdown and rated_at.';
COMMENT ON FUNCTION rating.validate_rate() IS 'BEFORE INSERT OR UPDATE row trigger on rating.rates: refuses terms the rating engine would refuse (SQLSTATE 23514).';
COMMENT ON FUNCTION rating.validate_tariff() IS 'BEFORE INSERT OR UPDATE row trigger on rating.tariffs: refuses a time zone the IANA database does not know (SQLSTATE 22023).';
COMMENT ON FUNCTION rating.check_time_bands() IS 'Constraint trigger, deferred to commit, on rating.time_bands and rating.time_band_hours: refuses a tariff whose band hours leave a gap or overlap in any day (SQLSTATE 23514).';
COMMENT ON FUNCTION rating.check_rate_tiers() IS 'Constraint trigger, deferred to commit, on rating.rates and rating.rate_tiers: refuses a graduated or volume rate whose tiers do not run from 0 to an open end without gap or overlap, and tiers on any other rate (SQLSTATE 23514).';
COMMENT ON FUNCTION rating.invalidate_catalog_cache() IS 'Statement trigger on the catalog tables: makes every session drop its compiled tariffs and cached accounts once this transaction commits; with the argument ''accounts'' (on accounts, subscriptions and tenants), only its cached accounts.';
COMMENT ON FUNCTION rating.quote(bigint, text, numeric, timestamptz, text) IS 'What a usage event would cost, computed exactly as an INSERT into rating.usage would, posting nothing. Same errors as the insert.';

CREATE TRIGGER usage_rate BEFORE INSERT ON rating.usage
    FOR EACH ROW EXECUTE FUNCTION rating.rate_usage();
COMMENT ON TRIGGER usage_rate ON rating.usage IS 'Prices every inserted usage row.';

CREATE FUNCTION rating.refuse_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- The one deliberate way around: a superuser who has said so for this
    -- transaction (SET LOCAL pg_rating.maintenance = on).
    IF current_setting('pg_rating.maintenance', true) = 'on'
       AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION 'rating.% does not allow %', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'feature_not_supported',
              HINT = 'Post a correcting entry instead (rating.post_adjustment).';
END
$$;
COMMENT ON FUNCTION rating.refuse_change() IS 'Trigger that refuses UPDATE/DELETE/TRUNCATE on append-only tables, except for a superuser who has set pg_rating.maintenance = on.';

CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON rating.ledger
    FOR EACH ROW EXECUTE FUNCTION rating.refuse_change();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON rating.ledger
    FOR EACH STATEMENT EXECUTE FUNCTION rating.refuse_change();
CREATE TRIGGER usage_final BEFORE UPDATE OR DELETE ON rating.usage
    FOR EACH ROW EXECUTE FUNCTION rating.refuse_change();
CREATE TRIGGER usage_no_truncate BEFORE TRUNCATE ON rating.usage
    FOR EACH STATEMENT EXECUTE FUNCTION rating.refuse_change();
COMMENT ON TRIGGER ledger_append_only ON rating.ledger IS 'Ledger rows are never changed or removed.';
COMMENT ON TRIGGER ledger_no_truncate ON rating.ledger IS 'Ledger rows are never removed.';
COMMENT ON TRIGGER usage_final ON rating.usage IS 'Rated usage is neither edited nor removed: the ledger already holds its charge.';
COMMENT ON TRIGGER usage_no_truncate ON rating.usage IS 'Rated usage is never removed: the ledger already holds its charge.';

CREATE TRIGGER invoices_immutable BEFORE UPDATE OR DELETE ON rating.invoices
    FOR EACH ROW EXECUTE FUNCTION rating.refuse_change();
CREATE TRIGGER invoice_lines_immutable BEFORE UPDATE OR DELETE ON rating.invoice_lines
    FOR EACH ROW EXECUTE FUNCTION rating.refuse_change();
CREATE TRIGGER invoice_entries_immutable BEFORE UPDATE OR DELETE ON rating.invoice_entries
    FOR EACH ROW EXECUTE FUNCTION rating.refuse_change();
CREATE TRIGGER alerts_immutable BEFORE UPDATE OR DELETE ON rating.alerts
    FOR EACH ROW EXECUTE FUNCTION rating.refuse_change();
CREATE TRIGGER invoices_no_truncate BEFORE TRUNCATE ON rating.invoices
    FOR EACH STATEMENT EXECUTE FUNCTION rating.refuse_change();
COMMENT ON TRIGGER invoices_immutable ON rating.invoices IS 'An issued invoice never changes.';
COMMENT ON TRIGGER invoice_lines_immutable ON rating.invoice_lines IS 'An issued invoice never changes.';
COMMENT ON TRIGGER invoice_entries_immutable ON rating.invoice_entries IS 'An issued invoice never changes.';
COMMENT ON TRIGGER alerts_immutable ON rating.alerts IS 'Alerts are a record of what was sent.';
COMMENT ON TRIGGER invoices_no_truncate ON rating.invoices IS 'Issued invoices are never removed.';

CREATE FUNCTION rating.open_balances() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO rating.balances (account_id) SELECT account_id FROM new_accounts;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION rating.open_balances() IS 'Gives every new account its zero balance row.';
CREATE TRIGGER accounts_open_balance AFTER INSERT ON rating.accounts
    REFERENCING NEW TABLE AS new_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION rating.open_balances();
COMMENT ON TRIGGER accounts_open_balance ON rating.accounts IS 'Creates the balance row of each new account.';

CREATE FUNCTION rating.check_currency_fixed() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.currency IS DISTINCT FROM OLD.currency THEN
        RAISE EXCEPTION 'the currency of rating.% % cannot change from % to %',
                TG_TABLE_NAME, to_jsonb(OLD) ->> TG_ARGV[0], OLD.currency, NEW.currency
            USING ERRCODE = 'check_violation',
                  HINT = 'Create a new account or tariff in the other currency.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION rating.check_currency_fixed() IS 'Refuses a change of currency of an account or tariff: ledgers and subscriptions rely on it. Its argument names the key column shown in the message.';
CREATE TRIGGER accounts_currency_fixed BEFORE UPDATE OF currency ON rating.accounts
    FOR EACH ROW EXECUTE FUNCTION rating.check_currency_fixed('account_id');
CREATE TRIGGER tariffs_currency_fixed BEFORE UPDATE OF currency ON rating.tariffs
    FOR EACH ROW EXECUTE FUNCTION rating.check_currency_fixed('tariff_id');
COMMENT ON TRIGGER accounts_currency_fixed ON rating.accounts IS 'An account keeps its currency.';
COMMENT ON TRIGGER tariffs_currency_fixed ON rating.tariffs IS 'A tariff keeps its currency.';

CREATE FUNCTION rating.check_subscription_currency() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    account_currency text;
    tariff_currency  text;
BEGIN
    SELECT currency INTO account_currency FROM rating.accounts WHERE account_id = NEW.account_id;
    SELECT currency INTO tariff_currency FROM rating.tariffs WHERE tariff_id = NEW.tariff_id;
    IF account_currency <> tariff_currency THEN
        RAISE EXCEPTION 'tariff % prices in % but account % is in %',
                NEW.tariff_id, tariff_currency, NEW.account_id, account_currency
            USING ERRCODE = 'check_violation',
                  HINT = 'Subscribe the account to a tariff in its own currency.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION rating.check_subscription_currency() IS 'Refuses a subscription to a tariff in another currency than the account''s.';
CREATE TRIGGER subscriptions_currency BEFORE INSERT OR UPDATE ON rating.subscriptions
    FOR EACH ROW EXECUTE FUNCTION rating.check_subscription_currency();
COMMENT ON TRIGGER subscriptions_currency ON rating.subscriptions IS 'Tariff and account must share a currency.';

CREATE TRIGGER rates_validate BEFORE INSERT OR UPDATE ON rating.rates
    FOR EACH ROW EXECUTE FUNCTION rating.validate_rate();
COMMENT ON TRIGGER rates_validate ON rating.rates IS 'Refuses rate terms the engine would refuse.';

CREATE TRIGGER tariffs_validate BEFORE INSERT OR UPDATE OF time_zone ON rating.tariffs
    FOR EACH ROW EXECUTE FUNCTION rating.validate_tariff();
COMMENT ON TRIGGER tariffs_validate ON rating.tariffs IS 'Refuses an unknown time zone.';

-- A schedule is written row by row and has gaps until its last row is in:
-- it is checked whole, at commit.
CREATE CONSTRAINT TRIGGER time_band_hours_cover_each_day AFTER INSERT OR UPDATE OR DELETE ON rating.time_band_hours
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION rating.check_time_bands();
CREATE CONSTRAINT TRIGGER time_bands_cover_each_day AFTER INSERT ON rating.time_bands
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION rating.check_time_bands();
COMMENT ON TRIGGER time_band_hours_cover_each_day ON rating.time_band_hours IS 'At commit: the tariff''s band hours cover every day 00:00-24:00 exactly once.';
COMMENT ON TRIGGER time_bands_cover_each_day ON rating.time_bands IS 'At commit: a tariff with bands has hours covering every day 00:00-24:00 exactly once.';

-- Likewise a rate and its tiers are written row by row.
CREATE CONSTRAINT TRIGGER rate_tiers_run_from_zero AFTER INSERT OR UPDATE OR DELETE ON rating.rate_tiers
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION rating.check_rate_tiers();
CREATE CONSTRAINT TRIGGER rates_tiers_run_from_zero AFTER INSERT OR UPDATE OF pricing_model ON rating.rates
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION rating.check_rate_tiers();
COMMENT ON TRIGGER rate_tiers_run_from_zero ON rating.rate_tiers IS 'At commit: the rate''s tiers run from 0 to an open end without gap or overlap.';
COMMENT ON TRIGGER rates_tiers_run_from_zero ON rating.rates IS 'At commit: a graduated or volume rate has valid tiers, and no other rate has tiers.';

CREATE TRIGGER currencies_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.currencies
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache();
CREATE TRIGGER tariffs_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.tariffs
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache();
CREATE TRIGGER rates_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.rates
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache();
CREATE TRIGGER accounts_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.accounts
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache('accounts');
CREATE TRIGGER subscriptions_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache('accounts');
CREATE TRIGGER time_bands_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.time_bands
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache();
CREATE TRIGGER time_band_hours_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.time_band_hours
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache();
CREATE TRIGGER holidays_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.holidays
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache();
CREATE TRIGGER rate_tiers_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.rate_tiers
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache();
CREATE TRIGGER allowances_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.allowances
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache();
CREATE TRIGGER tenants_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rating.tenants
    FOR EACH STATEMENT EXECUTE FUNCTION rating.invalidate_catalog_cache('accounts');
COMMENT ON TRIGGER currencies_invalidate ON rating.currencies IS 'Drops every session''s compiled tariffs and cached accounts at commit.';
COMMENT ON TRIGGER tariffs_invalidate ON rating.tariffs IS 'Drops every session''s compiled tariffs and cached accounts at commit.';
COMMENT ON TRIGGER rates_invalidate ON rating.rates IS 'Drops every session''s compiled tariffs and cached accounts at commit.';
COMMENT ON TRIGGER accounts_invalidate ON rating.accounts IS 'Drops cached accounts, not compiled tariffs, in every session at commit.';
COMMENT ON TRIGGER subscriptions_invalidate ON rating.subscriptions IS 'Drops cached accounts, not compiled tariffs, in every session at commit.';
COMMENT ON TRIGGER time_bands_invalidate ON rating.time_bands IS 'Drops every session''s compiled tariffs and cached accounts at commit.';
COMMENT ON TRIGGER time_band_hours_invalidate ON rating.time_band_hours IS 'Drops every session''s compiled tariffs and cached accounts at commit.';
COMMENT ON TRIGGER holidays_invalidate ON rating.holidays IS 'Drops every session''s compiled tariffs and cached accounts at commit.';
COMMENT ON TRIGGER rate_tiers_invalidate ON rating.rate_tiers IS 'Drops every session''s compiled tariffs and cached accounts at commit.';
COMMENT ON TRIGGER allowances_invalidate ON rating.allowances IS 'Drops every session''s compiled tariffs and cached accounts at commit.';
COMMENT ON TRIGGER tenants_invalidate ON rating.tenants IS 'Makes every session ask again, after commit, which tenants its role acts for.';
