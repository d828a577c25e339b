-- An account's rated usage around a rerating window, in the order it was
-- counted: a month either side, so every billing month the window touches
-- is there whole.
SELECT usage_id, service, quantity, occurred_at, destination
  FROM rating.usage
 WHERE account_id = $1 AND status = 'rated'
   AND occurred_at >= $2 - interval '32 days' AND occurred_at < $3 + interval '32 days'
 ORDER BY usage_id
