-- Every version of every rate of a tariff, on a database not yet updated to
-- 0.3.0 (a newer library is installed, ALTER EXTENSION pg_rating UPDATE not
-- yet run): the columns 0.3.0 adds read as the defaults the update gives.
SELECT rate_id, service, destination_prefix, valid_from, valid_to,
       price, per_quantity, first_increment, next_increment, connect_fee, minimum_charge,
       'per_unit', NULL::numeric, NULL::text, 'unit', NULL::text
  FROM rating.rates
 WHERE tariff_id = $1
