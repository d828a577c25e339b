-- Grows an account's counter for a billing period by an event's units and
-- returns what it held before: one statement, which takes the counter row's
-- lock, so concurrent inserts for the account count one after the other.
INSERT INTO rating.usage_counters AS c (account_id, counter, period_start, period_end, units, included)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (account_id, counter, period_start) DO UPDATE SET units = c.units + EXCLUDED.units
RETURNING c.units - $5
