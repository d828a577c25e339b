INSERT INTO rating.accounts (account_id, name, currency, account_type) VALUES (43, 'Ben Wagner', 'EUR', 'prepaid');
INSERT INTO rating.subscriptions (account_id, tariff_id, valid_from) VALUES (43, 1, '2026-01-01');
INSERT INTO rating.alert_thresholds (account_id, threshold) VALUES (43, 1.00);
SELECT entry_no, kind, amount FROM rating.post_payment(43, 5.00, 'psp-8812', 'card top-up');
SELECT entry_no, kind, amount FROM rating.post_payment(43, 5.00, 'psp-8812', 'card top-up');
SELECT quantity, available, rate_id FROM rating.authorize(43, 'voice', '+447700900123');
SELECT reservation_id, amount, expires_at > now() AS open FROM rating.reserve(43, 3.00, 'call-77');
INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at, destination, reservation_id)
VALUES (43, 'call-77', 'voice', 540, now(), '+447700900123', 1)
RETURNING charge, breakdown;
SELECT rating.release_reservation(43, 1) IS NOT NULL AS released;
INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination)
VALUES (43, 'voice', 3600, now(), '+12125550100');
\echo :LAST_ERROR_SQLSTATE
SELECT account_id, balance, held, available FROM rating.account_balances WHERE account_id = 43;
SELECT threshold, direction, balance_before, balance_after FROM rating.spending_alerts;
SELECT invoice_no, period_end, total, closing_balance, entries FROM rating.close_period(42, '2026-11-03 00:00+01');
SELECT line_no, description, events, quantity, amount FROM rating.account_invoice_lines WHERE account_id = 42;
SELECT * FROM rating.verify_balances(only_discrepancies => true);
