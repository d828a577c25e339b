-- The set-based posting of an INSERT statement on rating.usage in the
-- common case: no row draws on a reservation and no touched account has a
-- spending floor. Run by rating.post_usage() (src/posting.rs) with the
-- statement's transition table registered as inserted_usage; it writes the
-- entries rating.post_usage_charges() would.
--
-- One pass over the usage rows sums each account's charges. Each touched
-- balance is then locked once, in account order (so that concurrent
-- multi-account statements queue instead of deadlocking), and what the lock
-- read (the row's latest version, even one committed after this statement
-- began) numbers the entries: the usage rows join it by hash instead of
-- each looking its balance up by key. The balances are moved by those sums,
-- by key: an UPDATE finds the version its snapshot sees and follows it to
-- the latest, which an UPDATE by the locked version's address would not see.
--
-- Returns whether the statement was plain, how many rows were rated and how
-- many of them have a locked balance to be posted to (the caller refuses
-- the statement if these differ). When it was not plain, nothing is posted
-- (but the balances stay locked) and rating.post_usage_charges() takes
-- over.
WITH touched AS MATERIALIZED (
    SELECT account_id,
           count(*) FILTER (WHERE status = 'rated') AS entries,
           coalesce(sum(charge) FILTER (WHERE status = 'rated'), 0) AS total
      FROM inserted_usage
     GROUP BY account_id
), locked AS MATERIALIZED (
    SELECT touched.account_id, touched.entries, touched.total,
           balance.last_entry_no, balance.invoiced_through, balance.spending_floor
      FROM (SELECT * FROM touched ORDER BY account_id) touched
     CROSS JOIN LATERAL (
            -- The floor comes from the partial index of the accounts
            -- that have one: nearly empty where few do.
            SELECT b.last_entry_no, b.invoiced_through, floored.spending_floor
              FROM rating.balances b
              LEFT JOIN rating.accounts floored
                ON floored.account_id = b.account_id AND floored.spending_floor IS NOT NULL
             WHERE b.account_id = touched.account_id
               FOR UPDATE OF b) balance
), verdict AS MATERIALIZED (
    -- count(*) reads every row of locked: all balances are locked before
    -- anything is written, whichever way the verdict goes.
    SELECT count(*) FILTER (WHERE spending_floor IS NOT NULL) = 0
           AND NOT EXISTS (SELECT FROM inserted_usage u WHERE u.reservation_id IS NOT NULL) AS plain
      FROM locked
), ledger_rows AS (
    -- Run to completion although nothing reads it, as every data-modifying
    -- WITH is.
    INSERT INTO rating.ledger (account_id, entry_no, kind, amount, currency, usage_id, description, over_limit, late)
    SELECT u.account_id, l.last_entry_no + row_number() OVER (PARTITION BY u.account_id ORDER BY u.usage_id),
           'charge', -u.charge, u.currency, u.usage_id,
           u.service || coalesce(' to ' || u.destination, '') || ', quantity ' || u.quantity,
           false, coalesce(u.occurred_at < l.invoiced_through, false)
      FROM inserted_usage u
      JOIN locked l ON l.account_id = u.account_id
     WHERE u.status = 'rated' AND (SELECT plain FROM verdict)
), moved AS (
    UPDATE rating.balances b
       SET balance = b.balance - l.total, last_entry_no = b.last_entry_no + l.entries, updated_at = now()
      FROM locked l
     WHERE b.account_id = l.account_id AND l.entries > 0 AND (SELECT plain FROM verdict)
)
SELECT (SELECT plain FROM verdict),
       (SELECT coalesce(sum(entries), 0)::bigint FROM touched),
       (SELECT coalesce(sum(entries), 0)::bigint FROM locked)
