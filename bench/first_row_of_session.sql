-- Milliseconds that the first and the second single-row INSERT of a new
-- session take for an account on the 10,000-prefix tariff: the first
-- compiles the tariff (20,000 rates), the second finds it compiled (each
-- loads its own account). Prints "first second".
SELECT clock_timestamp() AS started \gset
INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination)
VALUES (100001, 'voice', 61, now(), '+4930100001');
SELECT clock_timestamp() AS first_done \gset
INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination)
VALUES (100002, 'voice', 61, now(), '+4930100002');
SELECT round(extract(epoch FROM :'first_done'::timestamptz - :'started'::timestamptz) * 1000, 1) || ' '
    || round(extract(epoch FROM clock_timestamp() - :'first_done'::timestamptz) * 1000, 1);
