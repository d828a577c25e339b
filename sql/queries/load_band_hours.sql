-- A tariff's time bands and the hours each is in force (a band with no hours
-- yet: one row with NULL hours). Times as seconds after local midnight.
SELECT b.band, array_to_string(h.days, ','),
       extract(epoch FROM h.starts)::int4, extract(epoch FROM h.ends)::int4
  FROM rating.time_bands b
  LEFT JOIN rating.time_band_hours h ON h.tariff_id = b.tariff_id AND h.band = b.band
 WHERE b.tariff_id = $1
