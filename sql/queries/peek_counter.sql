-- What an account's counter holds for a billing period (for quotes and
-- grants: no lock, no change); NULL before the period's first units.
SELECT (SELECT units
          FROM rating.usage_counters
         WHERE account_id = $1 AND counter = $2 AND period_start = $3) AS units
