INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at, destination) VALUES
    (42, 'cdr-1', 'voice',  61, '2026-11-02 09:15+01', '+493012345678'),
    (42, 'cdr-2', 'voice', 125, '2026-11-02 10:02+01', '+447700900123'),
    (42, 'cdr-3', 'sms',     1, '2026-11-02 10:05+01', '+4917612345678'),
    (42, 'cdr-4', 'data',  2.3, '2026-11-02 11:00+01', NULL)
RETURNING event_id, charge, rate_id, breakdown;
INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at)
VALUES (42, 'cdr-3', 'sms', 1, '2026-11-02 10:05+01');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at)
VALUES (42, 'cdr-3', 'sms', 1, '2026-11-02 10:05+01')
ON CONFLICT (account_id, event_id) DO NOTHING;
INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
VALUES (42, 'fax', 1, '2026-11-02 12:00+01');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
VALUES (42, 'voice', -5, '2026-11-02 12:00+01');
\echo :LAST_ERROR_SQLSTATE
