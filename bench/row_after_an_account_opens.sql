-- Milliseconds a single-row INSERT on the 10,000-prefix tariff takes in a
-- session that has the tariff compiled, before and right after an account
-- is opened (an account and its subscription committed). The commit is this
-- session's, but another session's reaches it the same way, as an
-- invalidation: opening an account drops the cached accounts, and before
-- 0.3.0 the compiled tariffs too. Prints "before after".
INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination)
VALUES (100001, 'voice', 61, now(), '+4930100001');
SELECT clock_timestamp() AS started \gset
INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination)
VALUES (100001, 'voice', 61, now(), '+4930100001');
SELECT clock_timestamp() AS before_done \gset
INSERT INTO rating.accounts (account_id, name, currency) VALUES (900001, 'opened', 'EUR');
INSERT INTO rating.subscriptions (account_id, tariff_id) VALUES (900001, 2);
SELECT clock_timestamp() AS opened \gset
INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination)
VALUES (100001, 'voice', 61, now(), '+4930100001');
SELECT round(extract(epoch FROM :'before_done'::timestamptz - :'started'::timestamptz) * 1000, 1) || ' '
    || round(extract(epoch FROM clock_timestamp() - :'opened'::timestamptz) * 1000, 1);
DELETE FROM rating.subscriptions WHERE account_id = 900001;
DELETE FROM rating.accounts WHERE account_id = 900001;
