-- Moves an account's balance by charges about to be posted ($2 their total,
-- $3 how many) and returns the entry number before them and the
-- balance's invoiced_through. The UPDATE takes the balance row's lock. No
-- row when the account has a spending floor: rating.post_usage_charges()
-- posts that statement.
UPDATE rating.balances b
   SET balance = b.balance - $2, last_entry_no = b.last_entry_no + $3, updated_at = now()
  FROM rating.accounts a
 WHERE b.account_id = $1 AND a.account_id = b.account_id AND a.spending_floor IS NULL
RETURNING b.last_entry_no - $3, b.invoiced_through
