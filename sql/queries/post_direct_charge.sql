-- Posts one rated usage row, not drawing on a reservation, as
-- rating.post_usage_charges() would: moves its account's balance by the
-- charge, which takes the balance's lock, and writes the charge's entry,
-- numbered after the balance's last one. One statement, so that a
-- single-row INSERT starts one executor for its posting, not two.
--
-- $1 account, $2 charge, $3 currency, $4 usage_id, $5 service,
-- $6 destination, $7 quantity, $8 occurred_at.
--
-- Run only for an account without a spending floor (the caller asks the
-- account's cached plan). No entry is written when the account has no
-- balance row: the caller then leaves the statement to
-- rating.post_usage_charges().
WITH moved AS (
    UPDATE rating.balances b
       SET balance = b.balance - $2, last_entry_no = b.last_entry_no + 1, updated_at = now()
     WHERE b.account_id = $1
    RETURNING b.last_entry_no, b.invoiced_through
)
INSERT INTO rating.ledger (account_id, entry_no, kind, amount, currency, usage_id, description, over_limit, late)
SELECT $1, moved.last_entry_no, 'charge', -$2, $3, $4,
       $5 || coalesce(' to ' || $6, '') || ', quantity ' || $7,
       false, coalesce($8 < moved.invoiced_through, false)
  FROM moved
