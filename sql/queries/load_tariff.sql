-- A tariff's header with its currency's minor unit.
SELECT t.currency, c.minor_units::int4, t.rounding_mode
  FROM rating.tariffs t
  JOIN rating.currencies c ON c.code = t.currency
 WHERE t.tariff_id = $1
