-- Backend CPU of :rows plain usage rows whose reservation_id is NULL, with
-- (:with_key true) or without a foreign key like the one rating.usage had to
-- rating.reservations until 0.3.0: PostgreSQL queues a key's check for every
-- inserted row, even one whose key is NULL. Prints milliseconds; leaves
-- nothing behind.
\ir cpu_ticks.sql
BEGIN;
TRUNCATE bench.plain_usage;
\if :with_key
ALTER TABLE bench.plain_usage ADD FOREIGN KEY (account_id, reservation_id)
    REFERENCES rating.reservations (account_id, reservation_id);
\endif
SELECT pg_temp.cpu_ticks() AS ticks_before \gset
INSERT INTO bench.plain_usage (account_id, service, quantity, occurred_at, destination)
SELECT * FROM bench.calls(:rows, 1, 10);
SELECT round((pg_temp.cpu_ticks() - :ticks_before) * 1000.0 / :ticks);
ROLLBACK;
