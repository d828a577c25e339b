-- Sets an account's counter for a billing period to what rerating counted,
-- and returns it (as record_counter.sql returns a value).
INSERT INTO rating.usage_counters (account_id, counter, period_start, period_end, units, included)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (account_id, counter, period_start) DO UPDATE SET units = EXCLUDED.units, included = EXCLUDED.included
RETURNING units
