-- The demo: accounts on both example tariffs, a realistic batch of usage
-- inserted the ways applications do, and what analysts then read.
\pset footer off

INSERT INTO rating.accounts (account_id, name, currency) VALUES
    (1001, 'Anna Schmidt',      'EUR'),
    (1002, 'Jonas Weber',       'EUR'),
    (1003, 'Lea Fischer',       'EUR'),
    (2001, 'Acme Analytics Inc', 'USD'),
    (2002, 'Globex Media LLC',  'USD');
INSERT INTO rating.subscriptions (account_id, tariff_id, valid_from)
SELECT a.account_id, t.tariff_id, '2026-01-01 00:00+01'
  FROM rating.accounts a
  JOIN rating.tariffs t ON t.code = CASE a.currency WHEN 'EUR' THEN 'MOBILE-DE-S' ELSE 'CLOUD-STD' END;

-- A mediation system posting CDRs: one multi-row INSERT ...
INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at, destination) VALUES
    (1001, 'cdr-0001', 'voice', 61,  '2026-11-02 09:15:00+01', '+493012345678'),
    (1001, 'cdr-0002', 'voice', 125, '2026-11-02 10:02:00+01', '+447700900123'),
    (1001, 'cdr-0003', 'voice', 42,  '2026-10-30 18:30:00+01', '+12125550100'),
    (1001, 'cdr-0004', 'voice', 42,  '2026-11-03 18:30:00+01', '+12125550100'),
    (1001, 'cdr-0005', 'voice', 300, '2026-11-03 19:00:00+01', '+4980012345'),
    (1001, 'cdr-0006', 'sms',   1,   '2026-11-03 19:05:00+01', '+4917612345678'),
    (1001, 'cdr-0007', 'data',  2.3, '2026-11-03 20:00:00+01', NULL);

-- ... and a day of traffic for three subscribers by INSERT ... SELECT
-- (deterministic, so every run prints the same figures).
INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at, destination)
SELECT 1001 + g % 3,
       'batch-' || g,
       (ARRAY['voice', 'voice', 'voice', 'sms', 'data'])[1 + g % 5],
       CASE g % 5 WHEN 3 THEN 1 WHEN 4 THEN (g % 97) / 10.0 ELSE (g * 37) % 900 END,
       '2026-11-10 00:00+01'::timestamptz + g * interval '17 seconds',
       CASE WHEN g % 5 = 4 THEN NULL
            ELSE (ARRAY['+4930', '+4917', '+44207', '+1212', '+3361', '+49800'])[1 + g % 6] || lpad((g * 7919 % 1000000)::text, 6, '0')
       END
  FROM generate_series(1, 5000) g;

-- A cloud provider's hourly meter export.
INSERT INTO rating.usage (account_id, service, quantity, occurred_at, attributes)
SELECT 2001 + h % 2, m.service, m.quantity * (1 + h % 4), '2026-11-15 00:00+00'::timestamptz + h * interval '1 hour',
       jsonb_build_object('region', 'eu-central-1', 'hour', h)
  FROM generate_series(0, 23) h,
       (VALUES ('cpu_seconds', 7200), ('egress_gb', 1.375), ('api_requests', 2500000), ('storage_gb_month', 1.3699)) AS m(service, quantity);

\echo
\echo 'Rated CDRs of account 1001 (what priced them and how):'
SELECT event_id, service, destination, quantity, billed_quantity AS billed, charge, currency, rate_id, breakdown
  FROM rating.usage
 WHERE account_id = 1001 AND event_id LIKE 'cdr-%'
 ORDER BY event_id;

\echo 'Statement of account 1001, first entries (rating.account_statement):'
SELECT entry_no, description, amount, running_balance
  FROM rating.account_statement
 WHERE account_id = 1001
 ORDER BY entry_no
 LIMIT 8;

\echo 'Usage and charges by account and service:'
SELECT account_id, service, count(*) AS events, round(sum(quantity), 3) AS quantity, sum(charge) AS charged, currency
  FROM rating.usage
 GROUP BY account_id, service, currency
 ORDER BY account_id, service;

\echo 'Balances (rating.account_balances):'
SELECT account_id, name, currency, balance, ledger_entries FROM rating.account_balances ORDER BY account_id;

\echo 'This month''s bundles and tiers: what each account has used (rating.allowance_usage, rating.usage_counters):'
SELECT account_id, allowance, included, used, remaining FROM rating.allowance_usage ORDER BY account_id, allowance;
SELECT account_id, counter, period_start, units FROM rating.usage_counters WHERE included IS NULL ORDER BY account_id;

\echo 'What would a 10-minute call to London cost Anna now? (rating.quote posts nothing)'
SELECT charge, currency, rate_id, breakdown FROM rating.quote(1001, 'voice', 600, now(), '+442079460000');

\echo 'Acme pays by wire (retried by its bank: posted once), and Globex''s period to 16 November is invoiced:'
SELECT entry_no, kind, amount, description FROM rating.post_payment(2001, 30.00, 'wire-2026-11-001', 'wire transfer');
SELECT entry_no, kind, amount, description FROM rating.post_payment(2001, 30.00, 'wire-2026-11-001', 'wire transfer');
SELECT invoice_no, period_end, total, closing_balance, entries FROM rating.close_period(2002, '2026-11-16 00:00+00');
SELECT line_no, description, events, quantity, amount FROM rating.account_invoice_lines WHERE account_id = 2002 ORDER BY line_no;

\echo 'Check: every balance equals the sum of its ledger (rating.verify_balances), every usage row has one charge:'
SELECT count(*) AS accounts,
       count(*) FILTER (WHERE consistent) AS balanced,
       (SELECT count(*) FROM rating.usage) AS usage_rows,
       (SELECT count(*) FROM rating.ledger WHERE kind = 'charge') AS charge_entries
  FROM rating.verify_balances();
