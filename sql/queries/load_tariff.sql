-- A tariff's header with its currency's minor unit (time_zone: UTC on a
-- database not yet updated to 0.3.0), and whether the database has 0.3.0's
-- tables (time bands, tiers, allowances) at all.
SELECT t.currency, c.minor_units::int4, t.rounding_mode,
       coalesce(to_jsonb(t) ->> 'time_zone', 'UTC'),
       to_regclass('rating.time_bands') IS NOT NULL
  FROM rating.tariffs t
  JOIN rating.currencies c ON c.code = t.currency
 WHERE t.tariff_id = $1
