-- Pricing again. Held usage (pg_rating.unratable = hold) is priced once the
-- tariff is fixed; rated usage is rerated after a tariff correction. Neither
-- edits a ledger entry: held rows have none, and rerating posts a reversal of
-- the current charge and its replacement, both naming the entry they correct.

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
