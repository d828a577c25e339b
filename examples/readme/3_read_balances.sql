SELECT account_id, name, currency, balance, ledger_entries FROM rating.account_balances;
SELECT entry_no, description, amount, running_balance
  FROM rating.account_statement WHERE account_id = 42 ORDER BY entry_no;
SELECT charge, currency, rate_id, breakdown
  FROM rating.quote(42, 'voice', 600, '2026-11-20 18:00+01', '+442079460000');
