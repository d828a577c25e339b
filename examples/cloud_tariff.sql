-- Example cloud tariff in USD, shaped like a public compute/storage/egress
-- price list: per-second compute with a one-minute minimum, storage in
-- GB-months, egress in graduated monthly tiers (first 10 GB at 0.09, next
-- 30 at 0.085, beyond at 0.07) and API requests per million.
INSERT INTO rating.tariffs (code, name, currency, rounding_mode)
VALUES ('CLOUD-STD', 'Cloud standard', 'USD', 'half_even');

-- A tiered rate and its tiers are checked together at commit: one transaction.
BEGIN;

INSERT INTO rating.rates (tariff_id, service, pricing_model, price, per_quantity, first_increment, next_increment,
                          minimum_charge, description)
SELECT t.tariff_id, r.service, CASE r.service WHEN 'egress_gb' THEN 'graduated' ELSE 'per_unit' END,
       r.price, r.per_quantity, r.first_increment, r.next_increment, r.minimum_charge, r.description
  FROM rating.tariffs t,
       (VALUES
        ('cpu_seconds',      0.0480,    3600,  60,    1,     0.00, 'vCPU: 0.048 per vCPU-hour, billed per second, 60 s minimum'),
        ('storage_gb_month', 0.0230,       1,   0.01,  0.01, 0.00, 'Object storage: 0.023 per GB-month'),
        ('egress_gb',        0.0000,       1,   0.001, 0.001, 0.00, 'Internet egress: graduated tiers per month'),
        ('api_requests',     0.4000, 1000000,   1,     1,     0.01, 'API: 0.40 per million requests, 0.01 minimum per batch')
       ) AS r(service, price, per_quantity, first_increment, next_increment, minimum_charge, description)
 WHERE t.code = 'CLOUD-STD';

INSERT INTO rating.rate_tiers (rate_id, tier_from, tier_to, price)
SELECT r.rate_id, t.tier_from, t.tier_to, t.price
  FROM rating.rates r,
       (VALUES (0, 10, 0.09), (10, 40, 0.085), (40, NULL, 0.07)) AS t(tier_from, tier_to, price)
 WHERE r.service = 'egress_gb';
COMMIT;
