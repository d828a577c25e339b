-- One usage row per transaction, as a mediation system's single INSERTs;
-- pgbench fills in :table and :accounts.
\set account random(1, :accounts)
INSERT INTO :table (account_id, service, quantity, occurred_at, destination)
VALUES (:account, 'voice', 61, now(), '+4930' || :account);
