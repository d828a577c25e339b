-- Example telecom tariff: a German mobile plan in EUR with monthly bundles.
-- Voice is priced per minute (per_quantity 60, quantity in seconds) with
-- the billing increments printed on real price lists; destinations by
-- longest E.164 prefix; the US rate has two versions. Calls within Germany
-- draw on 100 included minutes a month and data on 500 included MB, months
-- of the Berlin calendar.
INSERT INTO rating.tariffs (code, name, currency, rounding_mode, time_zone)
VALUES ('MOBILE-DE-S', 'Mobile S (Germany)', 'EUR', 'half_up', 'Europe/Berlin');

INSERT INTO rating.allowances (tariff_id, allowance, units, description)
SELECT t.tariff_id, a.allowance, a.units, a.description
  FROM rating.tariffs t,
       (VALUES ('national minutes', 6000, '100 minutes of calls within Germany a month'),
               ('data', 500, '500 MB of mobile data a month')) AS a(allowance, units, description)
 WHERE t.code = 'MOBILE-DE-S';

INSERT INTO rating.rates (tariff_id, service, destination_prefix, price, per_quantity,
                          first_increment, next_increment, connect_fee, minimum_charge,
                          valid_from, valid_to, allowance, description)
SELECT t.tariff_id, r.service, r.prefix, r.price, r.per_quantity, r.first_increment, r.next_increment,
       r.connect_fee, r.minimum_charge, r.valid_from, r.valid_to, r.allowance, r.description
  FROM rating.tariffs t,
       (VALUES
        ('voice', '',      0.99, 60, 60, 60, 0.00, 0.00, '-infinity'::timestamptz, NULL::timestamptz, NULL, 'Calls abroad, rest of world: 0.99/min, 60/60'),
        ('voice', '49',    0.09, 60, 60,  1, 0.00, 0.00, '-infinity', NULL, 'national minutes', 'Calls within Germany: 100 minutes included, then 0.09/min, first minute then per second'),
        ('voice', '49800', 0.00, 60,  1,  1, 0.00, 0.00, '-infinity', NULL, NULL, 'Toll-free numbers'),
        ('voice', '44',    0.29, 60, 30,  6, 0.15, 0.00, '-infinity', NULL, NULL, 'Calls to the UK: 0.15 connection + 0.29/min, 30/6'),
        ('voice', '1',     0.49, 60, 60, 60, 0.00, 0.00, '-infinity', '2026-11-01 00:00+01', NULL, 'Calls to USA/Canada until October 2026'),
        ('voice', '1',     0.39, 60, 60, 60, 0.00, 0.00, '2026-11-01 00:00+01', NULL, NULL, 'Calls to USA/Canada from November 2026'),
        ('sms',   '',      0.19,  1,  1,  1, 0.00, 0.00, '-infinity', NULL, NULL, 'SMS abroad'),
        ('sms',   '49',    0.09,  1,  1,  1, 0.00, 0.00, '-infinity', NULL, NULL, 'SMS within Germany'),
        ('data',  '',      0.24,  1,  1,  1, 0.00, 0.00, '-infinity', NULL, 'data', 'Mobile data: 500 MB included, then 0.24 per started MB (quantity in MB)')
       ) AS r(service, prefix, price, per_quantity, first_increment, next_increment, connect_fee, minimum_charge, valid_from, valid_to, allowance, description)
 WHERE t.code = 'MOBILE-DE-S';
