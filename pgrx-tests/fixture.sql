-- A small, hand-checkable world for the in-database tests. Explicit keys,
-- because identity sequences do not roll back between tests.
INSERT INTO rating.tariffs (tariff_id, code, name, currency) VALUES
    (1001, 'TEST-MOBILE', 'Test mobile', 'EUR'),
    (1002, 'TEST-USD', 'Test dollar plan', 'USD');
INSERT INTO rating.rates (rate_id, tariff_id, service, destination_prefix, price, per_quantity,
                          first_increment, next_increment, connect_fee, minimum_charge) VALUES
    (2001, 1001, 'voice', '',   0.12, 60, 60, 60, 0,    0),
    (2002, 1001, 'voice', '44', 0.06, 60, 30,  6, 0.02, 0),
    (2003, 1001, 'sms',   '',   0.05,  1,  1,  1, 0,    0),
    (2004, 1001, 'data',  '',   0.01,  1,  1,  1, 0,    0.03),
    (2010, 1002, 'voice', '',   0.10, 60,  1,  1, 0,    0);
INSERT INTO rating.accounts (account_id, name, currency) VALUES
    (3001, 'Alice', 'EUR'), (3002, 'Bob', 'EUR'), (3003, 'Carol', 'EUR'), (3004, 'Dave', 'USD');
INSERT INTO rating.subscriptions (account_id, tariff_id, valid_from) VALUES
    (3001, 1001, '2026-01-01 00:00+00'),
    (3002, 1001, '-infinity'),
    (3004, 1002, '-infinity');
