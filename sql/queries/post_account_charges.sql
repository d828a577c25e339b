-- Posts a statement's rated usage rows when all are for one account and
-- none draws on a reservation, as rating.post_usage_charges() would: moves
-- the balance once by their sum, which takes the balance's lock, and writes
-- one entry per row, numbered after the balance's last one in the order the
-- arrays give (the caller sorts them by usage_id, as the other paths number
-- them). One statement, with a plan that suits any number of rows. A
-- single row has its own statement, post_direct_charge.sql: taking it here
-- as arrays cost about 82,000 instructions more (callgrind, 1,000
-- single-row INSERTs).
--
-- $1 account, $2 the charges' sum, $3 how many, then one array element per
-- row: $4 usage_id, $5 charge, $6 currency, $7 service, $8 destination,
-- $9 quantity, $10 occurred_at.
--
-- Run only for an account without a spending floor (the caller asks the
-- account's cached plan). No entry is written when the account has no
-- balance row: the caller then leaves the statement to
-- rating.post_usage_charges().
WITH moved AS (
    UPDATE rating.balances b
       SET balance = b.balance - $2, last_entry_no = b.last_entry_no + $3, updated_at = now()
     WHERE b.account_id = $1
    RETURNING b.last_entry_no - $3 AS entry_no_before, b.invoiced_through
)
INSERT INTO rating.ledger (account_id, entry_no, kind, amount, currency, usage_id, description, over_limit, late)
SELECT $1, moved.entry_no_before + e.n, 'charge', -e.charge, e.currency, e.usage_id,
       e.service || coalesce(' to ' || e.destination, '') || ', quantity ' || e.quantity,
       false, coalesce(e.occurred_at < moved.invoiced_through, false)
  FROM moved
 CROSS JOIN unnest($4, $5, $6, $7, $8, $9, $10)
       WITH ORDINALITY AS e (usage_id, charge, currency, service, destination, quantity, occurred_at, n)
