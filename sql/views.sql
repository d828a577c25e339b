-- Views for analysts, CRM and ERP: read these, not the tables. They run with
-- the reader's privileges (security_invoker), so a tenant's roles see only
-- their tenants' rows through them (sql/tenancy.sql).

CREATE VIEW rating.account_balances WITH (security_invoker = true) AS
SELECT a.account_id,
       a.name,
       a.currency,
       a.account_type,
       b.balance,
       a.credit_limit,
       a.spending_floor,
       h.held,
       b.balance - h.held - a.spending_floor AS available,
       b.last_entry_no AS ledger_entries,
       b.invoiced_through,
       b.updated_at
  FROM rating.accounts a
  JOIN rating.balances b ON b.account_id = a.account_id
 CROSS JOIN LATERAL (SELECT coalesce(sum(r.remaining), 0) AS held
                       FROM rating.open_reservations r WHERE r.account_id = a.account_id) h;
COMMENT ON VIEW rating.account_balances IS 'Each account''s current balance (negative: the holder owes), what reservations hold, and what it may still spend.';
COMMENT ON COLUMN rating.account_balances.account_id IS 'The account.';
COMMENT ON COLUMN rating.account_balances.name IS 'Account holder.';
COMMENT ON COLUMN rating.account_balances.currency IS 'Currency of the balance.';
COMMENT ON COLUMN rating.account_balances.account_type IS 'prepaid or postpaid.';
COMMENT ON COLUMN rating.account_balances.balance IS 'Sum of the account''s ledger amounts.';
COMMENT ON COLUMN rating.account_balances.credit_limit IS 'How far below zero the account may go; NULL: see spending_floor.';
COMMENT ON COLUMN rating.account_balances.spending_floor IS 'Lowest balance the account may reach; NULL: no limit.';
COMMENT ON COLUMN rating.account_balances.held IS 'Funds held by open reservations.';
COMMENT ON COLUMN rating.account_balances.available IS 'What the account may still spend (balance - held - spending_floor); NULL: no limit.';
COMMENT ON COLUMN rating.account_balances.ledger_entries IS 'Number of ledger entries of the account.';
COMMENT ON COLUMN rating.account_balances.invoiced_through IS 'End of the last closed billing period.';
COMMENT ON COLUMN rating.account_balances.updated_at IS 'When the balance last moved.';

CREATE VIEW rating.account_statement WITH (security_invoker = true) AS
SELECT l.account_id,
       l.entry_no,
       l.posted_at,
       l.kind,
       l.description,
       l.amount,
       l.currency,
       sum(l.amount) OVER (PARTITION BY l.account_id ORDER BY l.entry_no) AS running_balance,
       l.usage_id,
       l.corrects_entry_no,
       l.over_limit,
       l.late
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
COMMENT ON COLUMN rating.account_statement.corrects_entry_no IS 'The entry a correction corrects.';
COMMENT ON COLUMN rating.account_statement.over_limit IS 'Posted past the spending floor (limit_policy flag).';
COMMENT ON COLUMN rating.account_statement.late IS 'A charge for usage of an already closed period.';

CREATE VIEW rating.usage_daily WITH (security_invoker = true) AS
SELECT u.account_id,
       u.service,
       u.occurred_at::date AS day,
       u.currency,
       count(*) AS events,
       sum(u.quantity) AS quantity,
       sum(u.billed_quantity) AS billed_quantity,
       sum(u.charge) AS charged
  FROM rating.usage u
 WHERE u.status = 'rated'
 GROUP BY u.account_id, u.service, u.occurred_at::date, u.currency;
COMMENT ON VIEW rating.usage_daily IS 'Rated usage and its charges per account, service and day (the day of occurred_at in the session''s TimeZone). Held rows are in rating.held_usage.';
COMMENT ON COLUMN rating.usage_daily.account_id IS 'The account.';
COMMENT ON COLUMN rating.usage_daily.service IS 'The service.';
COMMENT ON COLUMN rating.usage_daily.day IS 'Day the usage occurred, in the session''s time zone.';
COMMENT ON COLUMN rating.usage_daily.currency IS 'Currency of the charges.';
COMMENT ON COLUMN rating.usage_daily.events IS 'Number of usage rows.';
COMMENT ON COLUMN rating.usage_daily.quantity IS 'Total quantity as sent.';
COMMENT ON COLUMN rating.usage_daily.billed_quantity IS 'Total quantity after increments.';
COMMENT ON COLUMN rating.usage_daily.charged IS 'Total charges.';

CREATE VIEW rating.current_period_charges WITH (security_invoker = true) AS
SELECT l.account_id,
       b.invoiced_through AS period_start,
       l.kind,
       u.service,
       l.late,
       l.currency,
       count(*) AS entries,
       sum(l.amount) AS amount
  FROM rating.ledger l
  JOIN rating.balances b ON b.account_id = l.account_id
  LEFT JOIN rating.usage u ON u.account_id = l.account_id AND u.usage_id = l.usage_id
 WHERE NOT EXISTS (SELECT FROM rating.invoice_entries ie WHERE ie.account_id = l.account_id AND ie.entry_no = l.entry_no)
 GROUP BY l.account_id, b.invoiced_through, l.kind, u.service, l.late, l.currency;
COMMENT ON VIEW rating.current_period_charges IS 'What the open billing period holds so far: not yet invoiced ledger entries per account, kind and service.';
COMMENT ON COLUMN rating.current_period_charges.account_id IS 'The account.';
COMMENT ON COLUMN rating.current_period_charges.period_start IS 'Start of the open period (end of the last closed one; NULL before the first invoice).';
COMMENT ON COLUMN rating.current_period_charges.kind IS 'Ledger entry kind.';
COMMENT ON COLUMN rating.current_period_charges.service IS 'For charges: the service.';
COMMENT ON COLUMN rating.current_period_charges.late IS 'Charges for usage of an already closed period.';
COMMENT ON COLUMN rating.current_period_charges.currency IS 'The account''s currency.';
COMMENT ON COLUMN rating.current_period_charges.entries IS 'Number of ledger entries.';
COMMENT ON COLUMN rating.current_period_charges.amount IS 'Signed sum (charges negative).';

CREATE VIEW rating.account_invoices WITH (security_invoker = true) AS
SELECT i.account_id, i.invoice_no, i.period_start, i.period_end, i.currency, i.total, i.closing_balance, i.entries, i.issued_at
  FROM rating.invoices i;
COMMENT ON VIEW rating.account_invoices IS 'Issued invoices, for CRM and ERP.';
COMMENT ON COLUMN rating.account_invoices.account_id IS 'The invoiced account.';
COMMENT ON COLUMN rating.account_invoices.invoice_no IS 'Per-account invoice number.';
COMMENT ON COLUMN rating.account_invoices.period_start IS 'Start of the billing period.';
COMMENT ON COLUMN rating.account_invoices.period_end IS 'End of the billing period (exclusive).';
COMMENT ON COLUMN rating.account_invoices.currency IS 'Currency.';
COMMENT ON COLUMN rating.account_invoices.total IS 'Signed total of the period (negative: owed).';
COMMENT ON COLUMN rating.account_invoices.closing_balance IS 'Balance of everything invoiced so far.';
COMMENT ON COLUMN rating.account_invoices.entries IS 'Ledger entries covered.';
COMMENT ON COLUMN rating.account_invoices.issued_at IS 'When it was issued.';

CREATE VIEW rating.account_invoice_lines WITH (security_invoker = true) AS
SELECT l.account_id, l.invoice_no, l.line_no, l.description, l.kind, l.service, l.rate_id, l.late, l.events, l.quantity, l.amount
  FROM rating.invoice_lines l;
COMMENT ON VIEW rating.account_invoice_lines IS 'The lines of issued invoices.';
COMMENT ON COLUMN rating.account_invoice_lines.account_id IS 'The invoiced account.';
COMMENT ON COLUMN rating.account_invoice_lines.invoice_no IS 'The invoice.';
COMMENT ON COLUMN rating.account_invoice_lines.line_no IS 'Position on the invoice.';
COMMENT ON COLUMN rating.account_invoice_lines.description IS 'What the line is for.';
COMMENT ON COLUMN rating.account_invoice_lines.kind IS 'Ledger entry kind.';
COMMENT ON COLUMN rating.account_invoice_lines.service IS 'For charges: the service.';
COMMENT ON COLUMN rating.account_invoice_lines.rate_id IS 'For charges: the rate.';
COMMENT ON COLUMN rating.account_invoice_lines.late IS 'Late usage from an earlier period.';
COMMENT ON COLUMN rating.account_invoice_lines.events IS 'Entries summed.';
COMMENT ON COLUMN rating.account_invoice_lines.quantity IS 'Total billed quantity of charges.';
COMMENT ON COLUMN rating.account_invoice_lines.amount IS 'Signed sum.';

CREATE VIEW rating.spending_alerts WITH (security_invoker = true) AS
SELECT a.account_id, a.alert_id, a.threshold, a.direction, a.balance_before, a.balance_after, a.raised_at
  FROM rating.alerts a;
COMMENT ON VIEW rating.spending_alerts IS 'Alerts raised when balances crossed their thresholds (also sent on NOTIFY channel rating_alerts).';
COMMENT ON COLUMN rating.spending_alerts.account_id IS 'The account.';
COMMENT ON COLUMN rating.spending_alerts.alert_id IS 'The alert.';
COMMENT ON COLUMN rating.spending_alerts.threshold IS 'Threshold crossed.';
COMMENT ON COLUMN rating.spending_alerts.direction IS 'down or up.';
COMMENT ON COLUMN rating.spending_alerts.balance_before IS 'Balance before.';
COMMENT ON COLUMN rating.spending_alerts.balance_after IS 'Balance after.';
COMMENT ON COLUMN rating.spending_alerts.raised_at IS 'When.';

CREATE VIEW rating.held_usage WITH (security_invoker = true) AS
SELECT u.account_id,
       u.usage_id,
       u.event_id,
       u.service,
       u.quantity,
       u.occurred_at,
       u.destination,
       u.hold_reason
  FROM rating.usage u
 WHERE u.status = 'held';
COMMENT ON VIEW rating.held_usage IS 'Usage rows stored under pg_rating.unratable = hold that no tariff could price yet, with the reason; rating.rate_held() prices them once the tariff is fixed.';
COMMENT ON COLUMN rating.held_usage.account_id IS 'The account.';
COMMENT ON COLUMN rating.held_usage.usage_id IS 'The usage row.';
COMMENT ON COLUMN rating.held_usage.event_id IS 'The sender''s idempotency key.';
COMMENT ON COLUMN rating.held_usage.service IS 'Service used.';
COMMENT ON COLUMN rating.held_usage.quantity IS 'Units used.';
COMMENT ON COLUMN rating.held_usage.occurred_at IS 'When the usage happened.';
COMMENT ON COLUMN rating.held_usage.destination IS 'Destination, if any.';
COMMENT ON COLUMN rating.held_usage.hold_reason IS 'Why it could not be priced: the error a rejection would have raised.';

CREATE VIEW rating.allowance_usage WITH (security_invoker = true) AS
SELECT c.account_id,
       substr(c.counter, length('allowance ') + 1) AS allowance,
       c.period_start,
       c.period_end,
       c.included,
       c.units AS used,
       greatest(c.included - c.units, 0) AS remaining
  FROM rating.usage_counters c
 WHERE c.included IS NOT NULL;
COMMENT ON VIEW rating.allowance_usage IS 'Each account''s allowances per billing period: what is included, used and left. Units used beyond the allowance were charged at the rate''s price.';
COMMENT ON COLUMN rating.allowance_usage.account_id IS 'The account.';
COMMENT ON COLUMN rating.allowance_usage.allowance IS 'The allowance (rating.allowances.allowance).';
COMMENT ON COLUMN rating.allowance_usage.period_start IS 'Start of the billing period.';
COMMENT ON COLUMN rating.allowance_usage.period_end IS 'End of the billing period (exclusive).';
COMMENT ON COLUMN rating.allowance_usage.included IS 'Units included in the period.';
COMMENT ON COLUMN rating.allowance_usage.used IS 'Units used in the period by the rates that draw on the allowance, free or not.';
COMMENT ON COLUMN rating.allowance_usage.remaining IS 'Free units left in the period.';
