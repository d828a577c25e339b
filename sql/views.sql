-- Views for analysts, CRM and ERP: read these, not the tables.

CREATE VIEW rating.account_balances AS
SELECT a.account_id,
       a.name,
       a.currency,
       b.balance,
       b.last_entry_no AS ledger_entries,
       b.updated_at
  FROM rating.accounts a
  JOIN rating.balances b ON b.account_id = a.account_id;
COMMENT ON VIEW rating.account_balances IS 'Each account''s current balance (negative: the holder owes) and how many ledger entries make it up.';
COMMENT ON COLUMN rating.account_balances.account_id IS 'The account.';
COMMENT ON COLUMN rating.account_balances.name IS 'Account holder.';
COMMENT ON COLUMN rating.account_balances.currency IS 'Currency of the balance.';
COMMENT ON COLUMN rating.account_balances.balance IS 'Sum of the account''s ledger amounts.';
COMMENT ON COLUMN rating.account_balances.ledger_entries IS 'Number of ledger entries of the account.';
COMMENT ON COLUMN rating.account_balances.updated_at IS 'When the balance last moved.';

CREATE VIEW rating.account_statement AS
SELECT l.account_id,
       l.entry_no,
       l.posted_at,
       l.kind,
       l.description,
       l.amount,
       l.currency,
       sum(l.amount) OVER (PARTITION BY l.account_id ORDER BY l.entry_no) AS running_balance,
       l.usage_id
  FROM rating.ledger l;
COMMENT ON VIEW rating.account_statement IS 'Ledger entries with the balance after each one, per account in entry order. Filter by account_id: the running balance is computed over the whole ledger of the accounts selected.';
COMMENT ON COLUMN rating.account_statement.account_id IS 'The account.';
COMMENT ON COLUMN rating.account_statement.entry_no IS 'Per-account entry number.';
COMMENT ON COLUMN rating.account_statement.posted_at IS 'When the entry was posted.';
COMMENT ON COLUMN rating.account_statement.kind IS 'What moved the money.';
COMMENT ON COLUMN rating.account_statement.description IS 'Statement line.';
COMMENT ON COLUMN rating.account_statement.amount IS 'Signed amount: a charge is negative.';
COMMENT ON COLUMN rating.account_statement.currency IS 'The account''s currency.';
COMMENT ON COLUMN rating.account_statement.running_balance IS 'Balance after this entry.';
COMMENT ON COLUMN rating.account_statement.usage_id IS 'The usage row a charge is for.';
