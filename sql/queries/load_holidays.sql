-- A tariff's holidays, dates in ISO form whatever the session's DateStyle.
SELECT to_char(holiday, 'YYYY-MM-DD'), band
  FROM rating.holidays
 WHERE tariff_id = $1
