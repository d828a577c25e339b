-- The account's currency, tenant and whether it has a spending floor, and
-- every subscription it has (none: one row with NULL subscription
-- columns). The tenant is read through to_jsonb, as a table from before
-- 0.2.0 has no tenant_id.
SELECT a.currency, s.tariff_id, s.valid_from, s.valid_to, to_jsonb(a) ->> 'tenant_id',
       a.spending_floor IS NOT NULL
  FROM rating.accounts a
  LEFT JOIN rating.subscriptions s ON s.account_id = a.account_id
 WHERE a.account_id = $1
