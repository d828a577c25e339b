-- Posting: every movement of money goes through here. Usage charges are
-- posted once per INSERT/COPY statement; payments, credits, refunds and
-- adjustments one call at a time. Both lock the account's balance row first,
-- check the spending floor, number the entry gaplessly and move the balance;
-- a statement trigger on rating.balances then raises spending alerts.
-- What reservations hold (rating.held_funds, rating.open_reservations) is
-- defined in reservations.sql; the bodies here look it up when they run.

CREATE FUNCTION rating.locked_balance(account_id bigint) RETURNS rating.balances
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
REVOKE ALL ON FUNCTION rating.locked_balance(bigint) FROM PUBLIC;
COMMENT ON FUNCTION rating.locked_balance(bigint) IS 'Internal: the account''s balance row, locked FOR UPDATE; every movement of money and every hold takes this lock first. Refuses an account the session''s tenant may not act on (42501) and an unknown account (23503).';

CREATE FUNCTION rating.check_amount(what text, amount numeric, nonzero_only boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- NaN compares greater than every number, so "amount > 0" alone lets it through.
    IF amount IN ('NaN', 'Infinity', '-Infinity') THEN
        RAISE EXCEPTION '% amount % is not a finite number', what, amount USING ERRCODE = 'numeric_value_out_of_range';
    END IF;
    IF (NOT nonzero_only AND amount <= 0) OR amount = 0 THEN
        RAISE EXCEPTION '% amount must be %, not %', what,
                CASE WHEN nonzero_only THEN 'non-zero' ELSE 'positive' END, amount
            USING ERRCODE = 'numeric_value_out_of_range';
    END IF;
END
$$;
COMMENT ON FUNCTION rating.check_amount(text, numeric, boolean) IS 'Internal: refuses (22003) an amount of money that is not finite, or not positive (with nonzero_only: zero); what names it in the message.';

CREATE FUNCTION rating.post_usage_charges() RETURNS trigger
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
COMMENT ON FUNCTION rating.post_usage_charges() IS 'Internal: the set-based posting of an INSERT statement on rating.usage with a reservation to draw on or a spending floor to check, run by the trigger function rating.post_usage() in its place (it posts any statement correctly): locks the touched balances in account order, draws on reservations, checks spending floors (SQLSTATE RT001 or over_limit flags), appends one ledger entry per rated row (held rows are skipped) and moves each balance once.';
-- Rust (src/posting.rs): posts the common statements itself and runs
-- post_usage_charges() for the others.
CREATE FUNCTION rating.post_usage() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'post_usage_trigger';
COMMENT ON FUNCTION rating.post_usage() IS 'AFTER INSERT statement trigger on rating.usage: when no row draws on a reservation and no touched account has a spending floor, posts the statement itself (the entries rating.post_usage_charges() would write) with the table access method''s calls: a statement of up to 1,000 rows by account, a larger one in two passes over its rows. Where the ledger or balances have a trigger, rule, CHECK or column not the extension''s, an account has an alert threshold, or a large statement''s rows of an account are not in usage order, it posts one account''s rows of a small statement with one kept statement, and any other statement with one set-based statement whose plan is kept per order of magnitude of the statement''s rows; runs rating.post_usage_charges() for every other statement.';

CREATE TRIGGER usage_post AFTER INSERT ON rating.usage
    REFERENCING NEW TABLE AS inserted_usage
    FOR EACH STATEMENT EXECUTE FUNCTION rating.post_usage();
COMMENT ON TRIGGER usage_post ON rating.usage IS 'Posts the statement''s charges to the ledger and balances.';

CREATE FUNCTION rating.raise_spending_alerts() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sent bigint;
BEGIN
    WITH crossed AS (
        INSERT INTO rating.alerts (account_id, threshold, direction, balance_before, balance_after)
        SELECT n.account_id, t.threshold,
               CASE WHEN n.balance < o.balance THEN 'down' ELSE 'up' END,
               o.balance, n.balance
          FROM old_balances o
          JOIN new_balances n ON n.account_id = o.account_id
          JOIN rating.alert_thresholds t ON t.account_id = n.account_id
         WHERE (o.balance >= t.threshold AND n.balance < t.threshold)
            OR (o.balance < t.threshold AND n.balance >= t.threshold)
        RETURNING *
    )
    SELECT count(pg_notify('rating_alerts', json_build_object(
               'account_id', c.account_id, 'alert_id', c.alert_id, 'threshold', c.threshold,
               'direction', c.direction, 'balance_before', c.balance_before,
               'balance_after', c.balance_after, 'currency', a.currency)::text))
      INTO sent
      FROM crossed c
      JOIN rating.accounts a ON a.account_id = c.account_id;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION rating.raise_spending_alerts() IS 'Internal: run by the trigger function rating.watch_balances() when balances may have crossed a threshold: records an alert for every threshold a balance crossed and sends it with NOTIFY on channel rating_alerts (delivered at commit, never after a rollback).';

-- Rust (src/alerts.rs): runs raise_spending_alerts() only when a threshold
-- may have been crossed.
CREATE FUNCTION rating.watch_balances() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'watch_balances_trigger';
COMMENT ON FUNCTION rating.watch_balances() IS 'AFTER UPDATE statement trigger on rating.balances: for up to 8 updated balances, reads their alert thresholds by index to find whether any was crossed, and runs rating.raise_spending_alerts() only if one was; runs it directly for larger statements.';

CREATE TRIGGER balances_alert AFTER UPDATE ON rating.balances
    REFERENCING OLD TABLE AS old_balances NEW TABLE AS new_balances
    FOR EACH STATEMENT EXECUTE FUNCTION rating.watch_balances();
COMMENT ON TRIGGER balances_alert ON rating.balances IS 'Raises spending alerts when balances cross their thresholds.';

CREATE FUNCTION rating.post_entry(
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
REVOKE ALL ON FUNCTION rating.post_entry(bigint, text, numeric, integer, text, text, bigint) FROM PUBLIC;
COMMENT ON FUNCTION rating.post_entry(bigint, text, numeric, integer, text, text, bigint) IS 'Internal: posts one payment, credit, refund or adjustment. Call the rating.post_* functions instead.';

CREATE FUNCTION rating.post_payment(account_id bigint, amount numeric, idempotency_key text, reference text DEFAULT NULL)
RETURNS rating.ledger
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT rating.post_entry($1, 'payment', $2, 1, $3, 'payment' || coalesce(': ' || $4, '')) $$;
COMMENT ON FUNCTION rating.post_payment(bigint, numeric, text, text) IS 'Records money received (amount > 0). A retried call with the same idempotency_key returns the entry already posted.';

CREATE FUNCTION rating.post_credit(account_id bigint, amount numeric, idempotency_key text, reason text)
RETURNS rating.ledger
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT rating.post_entry($1, 'credit', $2, 1, $3, 'credit: ' || coalesce($4, 'no reason given')) $$;
COMMENT ON FUNCTION rating.post_credit(bigint, numeric, text, text) IS 'Credits the account (amount > 0), e.g. a goodwill or service-level credit. Idempotent per key.';

CREATE FUNCTION rating.post_refund(account_id bigint, amount numeric, idempotency_key text, reason text)
RETURNS rating.ledger
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT rating.post_entry($1, 'refund', $2, -1, $3, 'refund: ' || coalesce($4, 'no reason given')) $$;
COMMENT ON FUNCTION rating.post_refund(bigint, numeric, text, text) IS 'Records money paid back to the holder (amount > 0, posted negative); refused past the spending floor under limit_policy reject. Idempotent per key.';

CREATE FUNCTION rating.post_adjustment(account_id bigint, amount numeric, idempotency_key text, reason text,
                                       corrects_entry_no bigint DEFAULT NULL)
RETURNS rating.ledger
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT rating.post_entry($1, 'adjustment', $2, 0, $3, 'adjustment: ' || coalesce($4, 'no reason given'), $5) $$;
COMMENT ON FUNCTION rating.post_adjustment(bigint, numeric, text, text, bigint) IS 'A manual correction of either sign (amount <> 0, as seen by the holder), optionally naming the entry it corrects. Idempotent per key.';

CREATE FUNCTION rating.verify_balances(only_discrepancies boolean DEFAULT false)
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
COMMENT ON FUNCTION rating.verify_balances(boolean) IS 'For every account: does the stored balance equal the sum of its ledger, and do its entry numbers run 1..n without a gap? With only_discrepancies, lists just the accounts where not.';
