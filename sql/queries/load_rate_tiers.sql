-- The tiers of a tariff's graduated and volume rates.
SELECT t.rate_id, t.tier_from, t.tier_to, t.price
  FROM rating.rate_tiers t
  JOIN rating.rates r ON r.rate_id = t.rate_id
 WHERE r.tariff_id = $1
