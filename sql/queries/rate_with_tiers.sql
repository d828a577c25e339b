-- One rate, its pricing model and its tiers (none: one row with NULL tiers);
-- no row if the rate is gone.
SELECT r.tariff_id, r.service, r.destination_prefix, r.pricing_model, t.tier_from, t.tier_to, t.price
  FROM rating.rates r
  LEFT JOIN rating.rate_tiers t ON t.rate_id = r.rate_id
 WHERE r.rate_id = $1
