-- What an account's counter holds for a billing period (for quotes: no lock,
-- no change).
SELECT units
  FROM rating.usage_counters
 WHERE account_id = $1 AND counter = $2 AND period_start = $3
