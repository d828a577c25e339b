-- Every version of every rate of a tariff (a database at 0.3.0 or later).
SELECT rate_id, service, destination_prefix, valid_from, valid_to,
       price, per_quantity, first_increment, next_increment, connect_fee, minimum_charge,
       pricing_model, maximum_charge, time_band, quantity_unit, allowance
  FROM rating.rates
 WHERE tariff_id = $1
