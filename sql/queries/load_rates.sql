-- Every version of every rate of a tariff. Columns added after 0.2.0 are
-- read through to_jsonb, so that between installing a newer library and
-- ALTER EXTENSION pg_rating UPDATE an older table still loads, with the
-- defaults the update gives its rows.
SELECT rate_id, service, destination_prefix, valid_from, valid_to,
       price, per_quantity, first_increment, next_increment, connect_fee, minimum_charge,
       coalesce(to_jsonb(r) ->> 'pricing_model', 'per_unit'),
       (to_jsonb(r) ->> 'maximum_charge')::numeric,
       to_jsonb(r) ->> 'time_band',
       coalesce(to_jsonb(r) ->> 'quantity_unit', 'unit'),
       to_jsonb(r) ->> 'allowance'
  FROM rating.rates r
 WHERE tariff_id = $1
