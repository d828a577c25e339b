CREATE EXTENSION pg_rating CASCADE;
INSERT INTO rating.tariffs (code, name, currency, rounding_mode)
VALUES ('MOBILE-S', 'Mobile S', 'EUR', 'half_up')
RETURNING tariff_id;
INSERT INTO rating.rates (tariff_id, service, destination_prefix, price, per_quantity,
                          first_increment, next_increment, connect_fee, description)
VALUES (1, 'voice', '',   0.99, 60, 60, 60, 0,    'Rest of world, 60/60'),
       (1, 'voice', '49', 0.09, 60, 60,  1, 0,    'Germany, first minute then per second'),
       (1, 'voice', '44', 0.29, 60, 30,  6, 0.15, 'UK: connection fee, 30/6'),
       (1, 'sms',   '',   0.09,  1,  1,  1, 0,    'SMS'),
       (1, 'data',  '',   0.24,  1,  1,  1, 0,    'Per started MB');
INSERT INTO rating.rates (tariff_id, service, price, next_increment)
VALUES (1, 'mms', 0.30, 0);
INSERT INTO rating.accounts (account_id, name, currency) VALUES (42, 'Anna Schmidt', 'EUR');
INSERT INTO rating.subscriptions (account_id, tariff_id, valid_from) VALUES (42, 1, '2026-01-01');
