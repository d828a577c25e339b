-- pg_rating 0.1.0 -> 0.2.0
--
-- What changes, and why it is safe on a database with data:
--   * Tenants (rating.tenants, accounts.tenant_id) and row-level security on
--     every table that holds an account's data. Existing accounts get no
--     tenant, and roles that belong to no tenant keep seeing every account:
--     a database that defines no tenants sees no difference.
--   * Held usage: usage.status ('rated' or 'held') and hold_reason. Every
--     existing row was rated by 0.1.0, so the column is added with that value
--     and its default dropped: from now on the rating trigger sets it.
--   * Rerating: ledger kind 'reversal'. "One entry per usage row" becomes "one
--     original charge per usage row" plus "one reversal and one replacement
--     per charge"; every 0.1.0 ledger satisfies both.
--   * Views run as their reader (security_invoker), so that row-level
--     security applies through them; readers get the tables beneath them.
--   * Function bodies that changed are replaced whole; new ones are created.
-- No ledger entry, balance or invoice is touched. tests/client.rs
-- (upgrade_keeps_data_and_matches_a_fresh_install) checks that the result is
-- the schema a fresh 0.2.0 install creates. Run this right after installing
-- the 0.2.0 library: until then usage is rated as 0.1.0 rated it.

\echo Use "ALTER EXTENSION pg_rating UPDATE TO '0.2.0'" to load this file. \quit

-- Tenants ----------------------------------------------------------------------

CREATE TABLE rating.tenants (
    tenant_id text PRIMARY KEY CHECK (tenant_id <> ''),
    role_name text NOT NULL UNIQUE CHECK (role_name <> ''),
    name      text NOT NULL
);
COMMENT ON TABLE rating.tenants IS 'Tenants of a shared pg_rating database. A role that is a member of a tenant''s role sees and writes only the accounts of its tenants (and their usage, ledger, balances, reservations, alerts and invoices); roles that belong to no tenant, and superusers, see every account.';
COMMENT ON COLUMN rating.tenants.tenant_id IS 'Stable business key, e.g. acme.';
COMMENT ON COLUMN rating.tenants.role_name IS 'The database role whose members act for the tenant (GRANT it to the tenant''s login roles, together with rating_reader, rating_writer or rating_admin).';
COMMENT ON COLUMN rating.tenants.name IS 'Name shown to people.';
SELECT pg_catalog.pg_extension_config_dump('rating.tenants', '');
ALTER TABLE rating.accounts ADD COLUMN tenant_id text REFERENCES rating.tenants (tenant_id);
COMMENT ON COLUMN rating.accounts.tenant_id IS 'The tenant the account belongs to; NULL: visible only to roles that belong to no tenant.';
-- Identity sequences too, or a restored database would hand out used keys.
SELECT pg_catalog.pg_extension_config_dump('rating.tariffs_tariff_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rating.rates_rate_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rating.accounts_account_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rating.subscriptions_subscription_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rating.reservations_reservation_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rating.usage_usage_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rating.alerts_alert_id_seq', '');

-- Held usage -------------------------------------------------------------------
ALTER TABLE rating.usage
    ADD COLUMN status text NOT NULL DEFAULT 'rated' CONSTRAINT usage_status_known CHECK (status IN ('rated', 'held')),
    ADD COLUMN hold_reason text;
ALTER TABLE rating.usage ALTER COLUMN status DROP DEFAULT;
ALTER TABLE rating.usage ADD CONSTRAINT usage_held_rows_have_no_charge CHECK (CASE status
        WHEN 'rated' THEN charge IS NOT NULL AND hold_reason IS NULL
        ELSE charge IS NULL AND hold_reason IS NOT NULL END);

-- Rerating: reversals in the ledger ---------------------------------------------
ALTER TABLE rating.ledger
    DROP CONSTRAINT ledger_kind_known,
    DROP CONSTRAINT ledger_one_entry_per_usage,
    DROP CONSTRAINT ledger_charge_names_usage,
    DROP CONSTRAINT ledger_sign_follows_kind,
    ADD CONSTRAINT ledger_kind_known CHECK (kind IN ('charge', 'reversal', 'payment', 'credit', 'refund', 'adjustment')),
    ADD CONSTRAINT ledger_charge_names_usage CHECK ((kind IN ('charge', 'reversal')) = (usage_id IS NOT NULL)),
    ADD CONSTRAINT ledger_reversal_names_entry CHECK (kind <> 'reversal' OR corrects_entry_no IS NOT NULL),
    ADD CONSTRAINT ledger_sign_follows_kind CHECK (CASE kind
        WHEN 'charge' THEN amount <= 0
        WHEN 'reversal' THEN amount >= 0
        WHEN 'payment' THEN amount > 0
        WHEN 'credit' THEN amount > 0
        WHEN 'refund' THEN amount < 0
        ELSE amount <> 0 END);
COMMENT ON COLUMN rating.usage.status IS 'rated (priced and posted to the ledger) or held (no tariff could price it under pg_rating.unratable = hold; posted nowhere until rating.rate_held() prices it). Filled in by rating.';
COMMENT ON COLUMN rating.usage.hold_reason IS 'For a held row: the error that would have rejected it.';
COMMENT ON CONSTRAINT usage_held_rows_have_no_charge ON rating.usage IS 'A rated row has a charge; a held row has a reason and no charge.';
CREATE INDEX usage_held ON rating.usage (account_id) WHERE status = 'held';
COMMENT ON INDEX rating.usage_held IS 'Finds the held rows that rating.rate_held() prices.';
COMMENT ON TABLE rating.ledger IS 'Append-only money movements. amount is signed from the account holder''s side: a charge is negative, a payment or credit positive. An account''s balance is the sum of its amounts. Corrections are new entries that name the entry they correct; a usage row''s current charge is its one charge that no reversal names.';
COMMENT ON COLUMN rating.ledger.kind IS 'What moved the money: charge (a rated usage row), reversal (cancels a charge that rerating replaces), payment (money received), credit (a goodwill or service credit), refund (money paid back to the holder), adjustment (a manual correction, either sign).';
COMMENT ON COLUMN rating.ledger.usage_id IS 'For a charge or reversal: the usage row it charges (with account_id).';
COMMENT ON COLUMN rating.ledger.corrects_entry_no IS 'The entry of the same account this one corrects, if any: for a reversal the charge it cancels, for a rerated charge the charge it replaces.';
CREATE UNIQUE INDEX ledger_one_charge_per_usage ON rating.ledger (account_id, usage_id)
    WHERE corrects_entry_no IS NULL;
COMMENT ON INDEX rating.ledger_one_charge_per_usage IS 'A usage row is charged once; rerating only adds reversals and replacements that name the entry they correct.';
CREATE UNIQUE INDEX ledger_one_rerating_per_entry ON rating.ledger (account_id, corrects_entry_no, kind)
    WHERE usage_id IS NOT NULL AND corrects_entry_no IS NOT NULL;
COMMENT ON INDEX rating.ledger_one_rerating_per_entry IS 'A charge is reversed and replaced at most once.';

-- Tenancy: functions and row-level security (as sql/tenancy.sql) ------------
CREATE FUNCTION rating.restricted_tenants() RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT array_agg(t.tenant_id ORDER BY t.tenant_id)
      FROM rating.tenants t,
           (SELECT coalesce(nullif(current_setting('role'), 'none'), session_user::text) AS acting) r
     WHERE NOT (SELECT rolsuper FROM pg_roles WHERE rolname = r.acting)
       AND to_regrole(quote_ident(t.role_name)) IS NOT NULL
       AND pg_has_role(r.acting, t.role_name, 'MEMBER')
$$;
COMMENT ON FUNCTION rating.restricted_tenants() IS 'The tenants whose data the session''s role may see, or NULL if it belongs to no tenant (or is a superuser) and may see every account.';

CREATE FUNCTION rating.account_accessible(account_id bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN tenants IS NULL THEN true
                ELSE EXISTS (SELECT FROM rating.accounts a
                              WHERE a.account_id = $1 AND a.tenant_id = ANY (tenants)) END
      FROM (SELECT rating.restricted_tenants() AS tenants) t
$$;
COMMENT ON FUNCTION rating.account_accessible(bigint) IS 'May the session''s role act on the account? Always for an unrestricted role; for a tenant''s role, only if the account is one of its tenants''.';

CREATE FUNCTION rating.check_account_access(account_id bigint) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT rating.account_accessible(check_account_access.account_id) THEN
        RAISE EXCEPTION 'permission denied for account %', check_account_access.account_id
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Role %s may act only on the accounts of tenants %s.',
                                  coalesce(nullif(current_setting('role'), 'none'), session_user::text),
                                  rating.restricted_tenants());
    END IF;
END
$$;
COMMENT ON FUNCTION rating.check_account_access(bigint) IS 'Internal: refuses (42501) an account the session''s role may not act on; every SECURITY DEFINER function that takes an account calls it. An unknown account is refused the same way, so tenants learn nothing of others''.';

-- One policy per table, for every command: an unrestricted role passes on
-- the first, cheap test; a tenant's role is limited to its accounts.
ALTER TABLE rating.accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rating.accounts
    USING ((SELECT rating.restricted_tenants()) IS NULL
           OR tenant_id = ANY ((SELECT rating.restricted_tenants())::text[]));
COMMENT ON POLICY tenant_isolation ON rating.accounts IS 'A tenant''s roles see and write only their tenants'' accounts.';

DO $$
DECLARE
    account_table text;
BEGIN
    FOREACH account_table IN ARRAY ARRAY['balances', 'subscriptions', 'reservations', 'usage', 'ledger',
                                         'alert_thresholds', 'alerts', 'invoices', 'invoice_lines',
                                         'invoice_entries'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE rating.%I ENABLE ROW LEVEL SECURITY', account_table);
        EXECUTE pg_catalog.format(
            'CREATE POLICY tenant_isolation ON rating.%I
                 USING ((SELECT rating.restricted_tenants()) IS NULL
                        OR account_id IN (SELECT a.account_id FROM rating.accounts a))', account_table);
        EXECUTE pg_catalog.format(
            'COMMENT ON POLICY tenant_isolation ON rating.%I IS %L', account_table,
            'A tenant''s roles see and write only the rows of their tenants'' accounts.');
    END LOOP;
END
$$;

CREATE FUNCTION rating.accessible_accounts() RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.account_id
      FROM rating.accounts a, (SELECT rating.restricted_tenants() AS tenants) t
     WHERE t.tenants IS NULL OR a.tenant_id = ANY (t.tenants)
$$;
COMMENT ON FUNCTION rating.accessible_accounts() IS 'The accounts the session''s role may act on: for SECURITY DEFINER functions that work on many accounts, where row-level security does not apply.';

-- Tariffs are the operator's price list, shared by all tenants: everyone
-- with the privilege reads them, only unrestricted roles change them. A
-- tenant's roles read their own tenants' rows of rating.tenants.
DO $$
DECLARE
    shared_table text;
BEGIN
    FOREACH shared_table IN ARRAY ARRAY['tariffs', 'rates', 'tenants'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE rating.%I ENABLE ROW LEVEL SECURITY', shared_table);
        EXECUTE pg_catalog.format(
            'CREATE POLICY shared_reads ON rating.%I FOR SELECT USING (%s)', shared_table,
            CASE shared_table WHEN 'tenants'
                 THEN '(SELECT rating.restricted_tenants()) IS NULL OR tenant_id = ANY ((SELECT rating.restricted_tenants())::text[])'
                 ELSE 'true' END);
        EXECUTE pg_catalog.format(
            'CREATE POLICY operator_writes ON rating.%I
                 USING ((SELECT rating.restricted_tenants()) IS NULL)', shared_table);
        EXECUTE pg_catalog.format('COMMENT ON POLICY shared_reads ON rating.%I IS %L', shared_table,
            'Everyone with the privilege reads the price list; a tenant''s roles read their own tenants.');
        EXECUTE pg_catalog.format('COMMENT ON POLICY operator_writes ON rating.%I IS %L', shared_table,
            'Only roles that belong to no tenant change the shared price list and the tenants.');
    END LOOP;
END
$$;

-- Posting, reservations, invoices: bodies that changed ----------------------
CREATE OR REPLACE FUNCTION rating.locked_balance(account_id bigint) RETURNS rating.balances
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    locked rating.balances;
BEGIN
    PERFORM rating.check_account_access(locked_balance.account_id);
    SELECT * INTO locked FROM rating.balances b WHERE b.account_id = locked_balance.account_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist', locked_balance.account_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN locked;
END
$$;
CREATE OR REPLACE FUNCTION rating.post_usage_charges() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- Rows rated and posted, and the first row refused at its spending floor, if any.
    outcome record;
BEGIN
    -- Lock every touched balance in account order before changing any, so
    -- that concurrent multi-account statements queue instead of deadlocking.
    PERFORM 1
       FROM rating.balances b
      WHERE b.account_id IN (SELECT DISTINCT account_id FROM inserted_usage)
      ORDER BY b.account_id
        FOR UPDATE;

    WITH account AS (
        SELECT b.account_id, b.balance, b.last_entry_no, b.invoiced_through, a.spending_floor, a.limit_policy,
               CASE WHEN a.spending_floor IS NULL THEN 0 ELSE rating.held_funds(b.account_id) END AS held
          FROM rating.balances b
          JOIN rating.accounts a ON a.account_id = b.account_id
         WHERE b.account_id IN (SELECT DISTINCT account_id FROM inserted_usage)
    ), covered AS (
        -- What each row's reservation pays for: rows naming one reservation
        -- draw on what it still holds, in usage order.
        SELECT u.*,
               CASE WHEN r.reservation_id IS NULL THEN 0
                    ELSE least(u.drawn_through, r.remaining) - least(u.drawn_through - u.charge, r.remaining)
               END AS covered
          FROM (SELECT u.*, sum(u.charge) OVER (PARTITION BY u.account_id, u.reservation_id ORDER BY u.usage_id) AS drawn_through
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
        -- Only possible if an account lost its balance row: refuse rather
        -- than accept usage that is not on the ledger.
        RAISE EXCEPTION 'pg_rating: % usage rows were rated but % ledger entries posted', outcome.rated, outcome.posted
            USING ERRCODE = 'XX000', HINT = 'Every account needs its row in rating.balances.';
    END IF;
    RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION rating.post_entry(
    account_id bigint, kind text, amount numeric, sign integer,
    idempotency_key text, description text, corrects_entry_no bigint DEFAULT NULL)
RETURNS rating.ledger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    holder    rating.accounts;
    account_balance rating.balances;
    entry     rating.ledger;
    minor     smallint;
    signed    numeric;
    available numeric;
BEGIN
    IF post_entry.account_id IS NULL OR post_entry.amount IS NULL OR nullif(post_entry.idempotency_key, '') IS NULL THEN
        RAISE EXCEPTION 'account_id, amount and idempotency_key must be given (got %, %, %)',
                post_entry.account_id, post_entry.amount, post_entry.idempotency_key
            USING ERRCODE = 'not_null_violation',
                  HINT = 'The idempotency key makes a retried call post once: use the payment''s or ticket''s own reference.';
    END IF;
    PERFORM rating.check_amount(kind, post_entry.amount, nonzero_only => sign = 0);
    signed := CASE WHEN sign = 0 THEN post_entry.amount ELSE sign * post_entry.amount END;

    -- Refuses another tenant's account and an unknown one before anything
    -- about the account (its currency) shows in an error.
    account_balance := rating.locked_balance(post_entry.account_id);
    SELECT * INTO holder FROM rating.accounts a WHERE a.account_id = post_entry.account_id;
    SELECT c.minor_units INTO minor FROM rating.currencies c WHERE c.code = holder.currency;
    IF round(post_entry.amount, minor) <> post_entry.amount THEN
        RAISE EXCEPTION '% amount % has more decimals than % allows (%)', kind, post_entry.amount, holder.currency, minor
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT * INTO entry FROM rating.ledger l
     WHERE l.account_id = post_entry.account_id AND l.idempotency_key = post_entry.idempotency_key;
    IF FOUND THEN
        IF entry.kind = post_entry.kind AND entry.amount = signed
           AND entry.corrects_entry_no IS NOT DISTINCT FROM post_entry.corrects_entry_no THEN
            RETURN entry;  -- a retry of a call that already posted
        END IF;
        RAISE EXCEPTION 'idempotency key "%" of account % was already used for another entry', post_entry.idempotency_key, post_entry.account_id
            USING ERRCODE = 'unique_violation',
                  DETAIL = format('Entry %s is a %s of %s %s.', entry.entry_no, entry.kind, entry.amount, entry.currency);
    END IF;
    IF post_entry.corrects_entry_no IS NOT NULL AND NOT EXISTS (
        SELECT FROM rating.ledger l WHERE l.account_id = post_entry.account_id AND l.entry_no = post_entry.corrects_entry_no) THEN
        RAISE EXCEPTION 'account % has no ledger entry % to correct', post_entry.account_id, post_entry.corrects_entry_no
            USING ERRCODE = 'foreign_key_violation';
    END IF;

    available := account_balance.balance + signed - rating.held_funds(post_entry.account_id) - holder.spending_floor;
    IF signed < 0 AND available < 0 AND holder.limit_policy = 'reject' THEN
        RAISE EXCEPTION '% of % % would take account % below its spending floor of % %',
                kind, post_entry.amount, holder.currency, post_entry.account_id, holder.spending_floor, holder.currency
            USING ERRCODE = 'RT001', DETAIL = format('The balance is %s.', account_balance.balance);
    END IF;

    INSERT INTO rating.ledger (account_id, entry_no, kind, amount, currency, description, idempotency_key, corrects_entry_no, over_limit)
    VALUES (post_entry.account_id, account_balance.last_entry_no + 1, post_entry.kind, signed, holder.currency,
            post_entry.description, post_entry.idempotency_key, post_entry.corrects_entry_no,
            coalesce(signed < 0 AND available < 0, false))
    RETURNING * INTO entry;
    UPDATE rating.balances b
       SET balance = b.balance + signed, last_entry_no = b.last_entry_no + 1, updated_at = now()
     WHERE b.account_id = post_entry.account_id;
    RETURN entry;
END
$$;
CREATE OR REPLACE FUNCTION rating.verify_balances(only_discrepancies boolean DEFAULT false)
RETURNS TABLE (account_id bigint, balance numeric, ledger_total numeric, difference numeric,
               last_entry_no bigint, ledger_entries bigint, consistent boolean)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM (
        SELECT b.account_id, b.balance, l.total, b.balance - l.total, b.last_entry_no, l.entries,
               b.balance = l.total AND b.last_entry_no = l.entries AND l.top = l.entries
          FROM rating.balances b
          CROSS JOIN LATERAL (
                SELECT coalesce(sum(amount), 0) AS total, count(*) AS entries, coalesce(max(entry_no), 0) AS top
                  FROM rating.ledger e WHERE e.account_id = b.account_id) l
         WHERE b.account_id IN (SELECT rating.accessible_accounts())
    ) checked (account_id, balance, ledger_total, difference, last_entry_no, ledger_entries, consistent)
     WHERE NOT (only_discrepancies AND consistent)
     ORDER BY account_id
$$;
CREATE OR REPLACE FUNCTION rating.available_funds(account_id bigint) RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT b.balance - rating.held_funds(b.account_id) - a.spending_floor
      FROM rating.balances b
      JOIN rating.accounts a ON a.account_id = b.account_id
     WHERE b.account_id = $1 AND rating.account_accessible($1)
$$;
CREATE OR REPLACE FUNCTION rating.authorize(account_id bigint, service text, destination text DEFAULT NULL,
                                 occurred_at timestamptz DEFAULT now(), reservation_id bigint DEFAULT NULL)
RETURNS TABLE (quantity numeric, available numeric, currency text, rate_id bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    budget numeric;
BEGIN
    PERFORM rating.check_account_access(authorize.account_id);
    IF NOT EXISTS (SELECT FROM rating.accounts a WHERE a.account_id = authorize.account_id) THEN
        RAISE EXCEPTION 'account % does not exist', authorize.account_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    budget := rating.available_funds(authorize.account_id);
    -- A session that holds a reservation may also spend what it still holds.
    budget := budget + coalesce((SELECT r.remaining FROM rating.open_reservations r
                                  WHERE r.account_id = authorize.account_id AND r.reservation_id = authorize.reservation_id), 0);
    IF budget IS NULL THEN
        -- No limit: the answer is the rate alone (quantity NULL: unlimited).
        RETURN QUERY SELECT NULL::numeric, NULL::numeric, q.currency, q.rate_id
          FROM rating.affordable_quantity(authorize.account_id, authorize.service, 0, authorize.occurred_at, authorize.destination) q;
    ELSE
        RETURN QUERY SELECT q.quantity, budget, q.currency, q.rate_id
          FROM rating.affordable_quantity(authorize.account_id, authorize.service, greatest(budget, 0),
                                          authorize.occurred_at, authorize.destination) q;
    END IF;
END
$$;
CREATE OR REPLACE FUNCTION rating.release_reservation(account_id bigint, reservation_id bigint)
RETURNS rating.reservations
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    held rating.reservations;
BEGIN
    PERFORM rating.locked_balance(release_reservation.account_id);
    UPDATE rating.reservations r
       SET status = CASE WHEN r.expires_at > now() THEN 'released' ELSE 'expired' END, closed_at = now()
     WHERE r.account_id = release_reservation.account_id AND r.reservation_id = release_reservation.reservation_id
       AND r.status = 'open';
    SELECT * INTO held FROM rating.reservations r
     WHERE r.account_id = release_reservation.account_id AND r.reservation_id = release_reservation.reservation_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % has no reservation %', release_reservation.account_id, release_reservation.reservation_id
            USING ERRCODE = 'no_data_found';
    END IF;
    RETURN held;  -- releasing twice is harmless
END
$$;
CREATE OR REPLACE FUNCTION rating.close_period(account_id bigint, period_end timestamptz)
RETURNS rating.invoices
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    account_balance rating.balances;
    issued          rating.invoices;
    period_start    timestamptz;
BEGIN
    IF close_period.account_id IS NULL OR close_period.period_end IS NULL THEN
        RAISE EXCEPTION 'account_id and period_end must be given' USING ERRCODE = 'not_null_violation';
    END IF;
    IF NOT isfinite(close_period.period_end) OR close_period.period_end > now() THEN
        RAISE EXCEPTION 'period_end % is not a past instant', close_period.period_end
            USING ERRCODE = 'invalid_parameter_value', HINT = 'A period can be closed once it has ended.';
    END IF;
    account_balance := rating.locked_balance(close_period.account_id);
    period_start := coalesce(account_balance.invoiced_through, '-infinity');
    IF close_period.period_end <= period_start THEN
        SELECT * INTO issued FROM rating.invoices i
         WHERE i.account_id = close_period.account_id AND i.period_end = close_period.period_end;
        IF FOUND THEN
            RETURN issued;  -- a retry
        END IF;
        RAISE EXCEPTION 'account % is already invoiced through %', close_period.account_id, period_start
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    WITH due AS (
        -- A usage row carries its current rate: a reversal's line names the
        -- service only.
        SELECT l.entry_no, l.kind, l.amount, l.late, u.service,
               CASE WHEN l.kind = 'charge' THEN u.rate_id END AS rate_id,
               CASE WHEN l.kind = 'charge' THEN u.billed_quantity END AS billed_quantity
          FROM rating.ledger l
          LEFT JOIN rating.usage u ON u.account_id = l.account_id AND u.usage_id = l.usage_id
         WHERE l.account_id = close_period.account_id
           AND NOT EXISTS (SELECT FROM rating.invoice_entries ie
                            WHERE ie.account_id = l.account_id AND ie.entry_no = l.entry_no)
           AND coalesce(u.occurred_at, l.posted_at) < close_period.period_end
    ), header AS (
        INSERT INTO rating.invoices (account_id, invoice_no, period_start, period_end, currency, total, closing_balance, entries)
        SELECT close_period.account_id, account_balance.last_invoice_no + 1, period_start, close_period.period_end,
               a.currency, coalesce(d.total, 0),
               coalesce(d.total, 0) + coalesce((SELECT sum(i.total) FROM rating.invoices i
                                                 WHERE i.account_id = close_period.account_id), 0),
               d.entries
          FROM rating.accounts a,
               (SELECT sum(amount) AS total, count(*) AS entries FROM due) d
         WHERE a.account_id = close_period.account_id
        RETURNING *
    ), lines AS (
        INSERT INTO rating.invoice_lines (account_id, invoice_no, line_no, kind, service, rate_id, late,
                                          description, events, quantity, amount)
        SELECT close_period.account_id, account_balance.last_invoice_no + 1,
               row_number() OVER (ORDER BY kind = 'charge' DESC, kind, late, service, rate_id),
               kind, service, rate_id, late,
               CASE kind WHEN 'charge' THEN service || ' (rate ' || rate_id || ')'
                         WHEN 'reversal' THEN service || ' charges reversed by rerating'
                         ELSE kind END
                   || CASE WHEN late THEN ', late usage from an earlier period' ELSE '' END,
               count(*), sum(billed_quantity), sum(amount)
          FROM due
         GROUP BY kind, service, rate_id, late
        RETURNING 1
    ), covered AS (
        INSERT INTO rating.invoice_entries (account_id, entry_no, invoice_no)
        SELECT close_period.account_id, entry_no, account_balance.last_invoice_no + 1 FROM due
        RETURNING 1
    )
    SELECT h.* INTO issued FROM header h;

    UPDATE rating.balances b
       SET last_invoice_no = b.last_invoice_no + 1, invoiced_through = close_period.period_end
     WHERE b.account_id = close_period.account_id;
    RETURN issued;
END
$$;
COMMENT ON FUNCTION rating.locked_balance(bigint) IS 'Internal: the account''s balance row, locked FOR UPDATE; every movement of money and every hold takes this lock first. Refuses an account the session''s tenant may not act on (42501) and an unknown account (23503).';
COMMENT ON FUNCTION rating.post_usage_charges() IS 'AFTER INSERT statement trigger on rating.usage: locks the touched balances in account order, draws on reservations, checks spending floors (SQLSTATE RT001 or over_limit flags), appends one ledger entry per rated row (held rows are skipped) and moves each balance once.';
DROP TRIGGER usage_post ON rating.usage;
CREATE TRIGGER usage_post AFTER INSERT ON rating.usage
    REFERENCING NEW TABLE AS inserted_usage
    FOR EACH STATEMENT EXECUTE FUNCTION rating.post_usage_charges();
COMMENT ON TRIGGER usage_post ON rating.usage IS 'Posts the statement''s charges to the ledger and balances.';

-- Held usage and rerating (as sql/rerating.sql) -------------------------------
CREATE FUNCTION rating.rate_held(account_id bigint DEFAULT NULL)
RETURNS TABLE (rated bigint, still_held bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET pg_rating.maintenance = on
SET pg_rating.unratable = hold
AS $$
BEGIN
    IF rate_held.account_id IS NOT NULL THEN
        PERFORM rating.check_account_access(rate_held.account_id);
    END IF;
    -- Each held row goes through the INSERT path again, under its own
    -- usage_id: priced by the same trigger, posted by the same statement
    -- trigger, with the same limit checks. A row that still cannot be priced
    -- stays held with the current reason.
    WITH released AS (
        DELETE FROM rating.usage u
         WHERE u.status = 'held'
           AND (rate_held.account_id IS NULL OR u.account_id = rate_held.account_id)
           AND u.account_id IN (SELECT rating.accessible_accounts())
        RETURNING u.*
    ), repriced AS (
        INSERT INTO rating.usage (account_id, usage_id, event_id, service, quantity, occurred_at,
                                  destination, attributes, currency, reservation_id)
        OVERRIDING SYSTEM VALUE
        SELECT r.account_id, r.usage_id, r.event_id, r.service, r.quantity, r.occurred_at,
               r.destination, r.attributes, r.currency, r.reservation_id
          FROM released r
         ORDER BY r.account_id, r.usage_id
        RETURNING status
    )
    SELECT count(*) FILTER (WHERE status = 'rated'), count(*) FILTER (WHERE status = 'held')
      INTO rate_held.rated, rate_held.still_held
      FROM repriced;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION rating.rate_held(bigint) IS 'Prices the held usage rows of one account (or of all, with NULL) with the tariffs as they now stand and posts them, exactly as an INSERT would (limits included). Rows that still cannot be priced stay held with the current reason. Returns how many were rated and how many are still held; running it again rates nothing new.';

CREATE FUNCTION rating.rerate(account_id bigint, period_start timestamptz, period_end timestamptz)
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
        -- quote() raises what an insert would: a row the corrected tariff
        -- cannot price fails the whole call, and nothing is posted.
        SELECT u.usage_id, u.service, u.destination, u.quantity, c.entry_no AS replaced_entry_no,
               c.amount AS replaced_amount, q.charge, q.currency, q.tariff_id, q.rate_id,
               q.billed_quantity, q.breakdown,
               coalesce(u.occurred_at < account_balance.invoiced_through, false) AS late,
               row_number() OVER (ORDER BY u.usage_id) AS n
          FROM rating.usage u
          JOIN current_charge c ON c.usage_id = u.usage_id
         CROSS JOIN LATERAL rating.quote(u.account_id, u.service, u.quantity, u.occurred_at, u.destination) q
         WHERE u.account_id = rerate.account_id AND u.status = 'rated'
           AND u.occurred_at >= rerate.period_start AND u.occurred_at < rerate.period_end
           AND (q.charge, q.tariff_id, q.rate_id, q.billed_quantity)
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
COMMENT ON FUNCTION rating.rerate(bigint, timestamptz, timestamptz) IS 'Prices the account''s rated usage that occurred in [period_start, period_end) again with the tariffs as they now stand. For every row whose charge, tariff, rate or billed quantity changes it posts a reversal of the current charge and a replacement charge (never editing an entry) and updates the usage row''s rating columns. Returns the rows rerated and the net change of the balance; a second call with the same tariffs rerates nothing. Limits are not applied to corrections.';

CREATE FUNCTION rating.verify_usage(only_discrepancies boolean DEFAULT false)
RETURNS TABLE (account_id bigint, usage_id bigint, status text, charge numeric, ledger_total numeric,
               current_charges bigint, consistent boolean)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM (
        SELECT u.account_id, u.usage_id, u.status, u.charge, coalesce(l.total, 0), coalesce(l.current, 0),
               CASE u.status
                   WHEN 'rated' THEN coalesce(l.total = -u.charge AND l.current = 1, false)
                   ELSE l.total IS NULL END
          FROM rating.usage u
          LEFT JOIN (SELECT e.account_id, e.usage_id, sum(e.amount) AS total,
                            count(*) FILTER (WHERE e.kind = 'charge') - count(*) FILTER (WHERE e.kind = 'reversal') AS current
                       FROM rating.ledger e
                      WHERE e.usage_id IS NOT NULL
                      GROUP BY e.account_id, e.usage_id) l
            ON l.account_id = u.account_id AND l.usage_id = u.usage_id
         WHERE u.account_id IN (SELECT rating.accessible_accounts())
    ) checked (account_id, usage_id, status, charge, ledger_total, current_charges, consistent)
     WHERE NOT (only_discrepancies AND consistent)
     ORDER BY account_id, usage_id
$$;
COMMENT ON FUNCTION rating.verify_usage(boolean) IS 'For every usage row: is a rated row charged exactly once (its ledger entries sum to minus its charge, with one charge no reversal cancels), and is a held row posted nowhere? With only_discrepancies, lists just the rows where not.';

-- Views run as their reader ---------------------------------------------------
ALTER VIEW rating.open_reservations SET (security_invoker = true);
ALTER VIEW rating.account_statement SET (security_invoker = true);
ALTER VIEW rating.current_period_charges SET (security_invoker = true);
ALTER VIEW rating.account_invoices SET (security_invoker = true);
ALTER VIEW rating.account_invoice_lines SET (security_invoker = true);
ALTER VIEW rating.spending_alerts SET (security_invoker = true);
CREATE OR REPLACE VIEW rating.account_balances WITH (security_invoker = true) AS
SELECT a.account_id,
       a.name,
       a.currency,
       a.account_type,
       b.balance,
       a.credit_limit,
       a.spending_floor,
       h.held,
       b.balance - h.held - a.spending_floor AS available,
       b.last_entry_no AS ledger_entries,
       b.invoiced_through,
       b.updated_at
  FROM rating.accounts a
  JOIN rating.balances b ON b.account_id = a.account_id
 CROSS JOIN LATERAL (SELECT coalesce(sum(r.remaining), 0) AS held
                       FROM rating.open_reservations r WHERE r.account_id = a.account_id) h;
CREATE OR REPLACE VIEW rating.usage_daily WITH (security_invoker = true) AS
SELECT u.account_id,
       u.service,
       u.occurred_at::date AS day,
       u.currency,
       count(*) AS events,
       sum(u.quantity) AS quantity,
       sum(u.billed_quantity) AS billed_quantity,
       sum(u.charge) AS charged
  FROM rating.usage u
 WHERE u.status = 'rated'
 GROUP BY u.account_id, u.service, u.occurred_at::date, u.currency;
COMMENT ON VIEW rating.usage_daily IS 'Rated usage and its charges per account, service and day (the day of occurred_at in the session''s TimeZone). Held rows are in rating.held_usage.';
CREATE VIEW rating.held_usage WITH (security_invoker = true) AS
SELECT u.account_id,
       u.usage_id,
       u.event_id,
       u.service,
       u.quantity,
       u.occurred_at,
       u.destination,
       u.hold_reason
  FROM rating.usage u
 WHERE u.status = 'held';
COMMENT ON VIEW rating.held_usage IS 'Usage rows stored under pg_rating.unratable = hold that no tariff could price yet, with the reason; rating.rate_held() prices them once the tariff is fixed.';
COMMENT ON COLUMN rating.held_usage.account_id IS 'The account.';
COMMENT ON COLUMN rating.held_usage.usage_id IS 'The usage row.';
COMMENT ON COLUMN rating.held_usage.event_id IS 'The sender''s idempotency key.';
COMMENT ON COLUMN rating.held_usage.service IS 'Service used.';
COMMENT ON COLUMN rating.held_usage.quantity IS 'Units used.';
COMMENT ON COLUMN rating.held_usage.occurred_at IS 'When the usage happened.';
COMMENT ON COLUMN rating.held_usage.destination IS 'Destination, if any.';
COMMENT ON COLUMN rating.held_usage.hold_reason IS 'Why it could not be priced: the error a rejection would have raised.';

-- Privileges (as sql/roles.sql) ------------------------------------------------
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA rating FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rating.held_funds(bigint) FROM rating_reader, rating_admin;
GRANT SELECT ON rating.accounts, rating.balances, rating.ledger, rating.usage, rating.reservations,
                rating.invoices, rating.invoice_lines, rating.invoice_entries, rating.alerts
   TO rating_reader, rating_admin;
GRANT SELECT ON rating.held_usage TO rating_reader, rating_admin;
GRANT EXECUTE ON FUNCTION rating.restricted_tenants() TO PUBLIC;
GRANT SELECT ON rating.accounts TO rating_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON rating.tenants TO rating_admin;
GRANT EXECUTE ON FUNCTION rating.rate_held(bigint),
                          rating.rerate(bigint, timestamptz, timestamptz),
                          rating.verify_usage(boolean)
   TO rating_admin;
