-- A tariff's allowances and the units each includes per billing period.
SELECT allowance, units
  FROM rating.allowances
 WHERE tariff_id = $1
