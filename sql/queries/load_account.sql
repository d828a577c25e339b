-- The account's currency and every subscription it has (none: one row of NULLs).
SELECT a.currency, s.tariff_id, s.valid_from, s.valid_to
  FROM rating.accounts a
  LEFT JOIN rating.subscriptions s ON s.account_id = a.account_id
 WHERE a.account_id = $1
