-- Three roles, least privilege. They are cluster-wide, so they are created
-- only if missing and survive DROP EXTENSION; the grants are per database.
--   rating_admin:  tariffs, rates, accounts, subscriptions, alert thresholds;
--                  closes billing periods, prices held usage, rerates;
--                  reads everything.
--   rating_writer: inserts usage and posts money movements (payments, credits,
--                  refunds, adjustments, reservations); nothing else.
--   rating_reader: the views (and the tables beneath them), quote and
--                  authorize; nothing else.
-- With tenants (sql/tenancy.sql), GRANT a tenant's role as well: row-level
-- security then limits every one of these to the tenant's accounts.
-- Grant them to login roles: GRANT rating_writer TO mediation;
-- Everything that must touch the ledger or balances does so through
-- SECURITY DEFINER functions and triggers with a pinned search_path.

DO $$
DECLARE
    role_name text;
BEGIN
    -- CREATE EXTENSION in another database may be creating them now: wait
    -- for it. Taking the lock also takes in the catalog changes committed
    -- meanwhile, so that the COMMENTs below find a role created there even
    -- if this transaction had looked it up before.
    LOCK TABLE pg_catalog.pg_authid IN SHARE ROW EXCLUSIVE MODE;
    FOREACH role_name IN ARRAY ARRAY['rating_admin', 'rating_writer', 'rating_reader'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', role_name);
        END IF;
    END LOOP;
END
$$;
COMMENT ON ROLE rating_admin IS 'pg_rating: manages tariffs, rates, accounts, subscriptions and alert thresholds; closes billing periods.';
COMMENT ON ROLE rating_writer IS 'pg_rating: inserts usage and posts payments, credits, refunds, adjustments and reservations.';
COMMENT ON ROLE rating_reader IS 'pg_rating: reads the views.';

-- Functions that read or write where their invoker may not. The per-row
-- trigger rate_usage gets no SET clause, which would cost a GUC save and
-- restore per row; its queries name every object with its schema.
ALTER FUNCTION rating.rate_usage() SECURITY DEFINER;
-- The posting trigger runs once per statement and parses its kept queries:
-- it pins search_path. Its set-based statement sets work_mem and jit itself
-- (src/posting.rs), as post_usage_charges() does with SET clauses; a SET
-- clause here would cost every single-row INSERT a save and restore.
-- The alert trigger rating.watch_balances() reads thresholds by index and
-- parses no SQL: it runs as its invoker, always a posting function or the
-- owner, and rating.raise_spending_alerts() carries its own SET clauses.
ALTER FUNCTION rating.post_usage() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION rating.quote(bigint, text, numeric, timestamptz, text)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION rating.affordable_quantity(bigint, text, numeric, timestamptz, text)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION rating.open_balances() SECURITY DEFINER;
ALTER FUNCTION rating.check_subscription_currency() SECURITY DEFINER;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA rating FROM PUBLIC;

GRANT USAGE ON SCHEMA rating TO rating_admin, rating_writer, rating_reader;

GRANT SELECT ON rating.account_balances, rating.account_statement, rating.usage_daily,
                rating.current_period_charges, rating.open_reservations, rating.account_invoices,
                rating.account_invoice_lines, rating.spending_alerts, rating.held_usage,
                rating.allowance_usage
   TO rating_reader, rating_admin;
-- The views run as their reader, under row-level security: readers need the
-- tables beneath them.
GRANT SELECT ON rating.accounts, rating.balances, rating.ledger, rating.usage, rating.reservations,
                rating.invoices, rating.invoice_lines, rating.invoice_entries, rating.alerts,
                rating.usage_counters
   TO rating_reader, rating_admin;
GRANT EXECUTE ON FUNCTION rating.available_funds(bigint) TO rating_reader, rating_admin;
-- Row-level security policies call this as the querying role.
GRANT EXECUTE ON FUNCTION rating.restricted_tenants() TO PUBLIC;
-- usage's CHECK calls this as the inserting role.
GRANT EXECUTE ON FUNCTION rating.usage_row_is_well_formed(text, numeric, text, text, jsonb) TO PUBLIC;
-- What a session's own cache holds: anyone working with the extension may ask.
COMMENT ON FUNCTION rating.session_cache() IS 'This session''s caches: for tariffs (compiled), accounts and the tenants of roles, how many entries are cached now and how many the session has loaded so far. A change to tariff data empties them all; to accounts, subscriptions or tenants, only accounts and roles'' tenants.';
GRANT EXECUTE ON FUNCTION rating.session_cache() TO rating_reader, rating_writer, rating_admin;
GRANT EXECUTE ON FUNCTION rating.quote(bigint, text, numeric, timestamptz, text),
                          rating.authorize(bigint, text, text, timestamptz, bigint),
                          rating.affordable_quantity(bigint, text, numeric, timestamptz, text)
   TO rating_reader, rating_writer, rating_admin;

-- Writers: usage in (SELECT as well, for RETURNING and ON CONFLICT), money movements.
GRANT INSERT, SELECT ON rating.usage TO rating_writer;
GRANT SELECT ON rating.accounts TO rating_writer;  -- the usage policy looks up the row's account
GRANT EXECUTE ON FUNCTION rating.post_payment(bigint, numeric, text, text),
                          rating.post_credit(bigint, numeric, text, text),
                          rating.post_refund(bigint, numeric, text, text),
                          rating.post_adjustment(bigint, numeric, text, text, bigint),
                          rating.reserve(bigint, numeric, text, interval),
                          rating.release_reservation(bigint, bigint)
   TO rating_writer;

-- Administrators: the catalog, thresholds, period closing, verification.
GRANT SELECT, INSERT, UPDATE, DELETE ON rating.tariffs, rating.rates, rating.accounts,
                                        rating.subscriptions, rating.alert_thresholds, rating.tenants,
                                        rating.time_bands, rating.time_band_hours, rating.holidays,
                                        rating.rate_tiers, rating.allowances
   TO rating_admin;
GRANT SELECT ON rating.currencies TO rating_admin;
GRANT EXECUTE ON FUNCTION rating.close_period(bigint, timestamptz),
                          rating.rate_held(bigint),
                          rating.rerate(bigint, timestamptz, timestamptz),
                          rating.verify_balances(boolean),
                          rating.verify_usage(boolean),
                          rating.expire_reservations()
   TO rating_admin;
