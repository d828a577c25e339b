-- Every version of every rate of a tariff.
SELECT rate_id, service, destination_prefix, valid_from, valid_to,
       price, per_quantity, first_increment, next_increment, connect_fee, minimum_charge
  FROM rating.rates
 WHERE tariff_id = $1
