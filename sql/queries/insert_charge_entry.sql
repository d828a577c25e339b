-- One usage row's charge entry, written as rating.post_usage_charges()
-- writes it: $1 account, $2 entry number, $3 charge, $4 currency,
-- $5 usage_id, $6 service, $7 destination, $8 quantity, $9 occurred_at,
-- $10 the balance's invoiced_through.
INSERT INTO rating.ledger (account_id, entry_no, kind, amount, currency, usage_id, description, over_limit, late)
VALUES ($1, $2, 'charge', -$3, $4, $5,
        $6 || coalesce(' to ' || $7, '') || ', quantity ' || $8,
        false, coalesce($9 < $10, false))
