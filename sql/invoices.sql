-- Billing periods. Closing a period turns every not yet invoiced ledger entry
-- that belongs to it into an immutable invoice: charges by when the usage
-- occurred, other entries by when they were posted. Usage of a closed period
-- that arrives later is charged in the open period (ledger.late) and shows on
-- the next invoice under lines of its own.

CREATE FUNCTION rating.close_period(account_id bigint, period_end timestamptz)
RETURNS rating.invoices
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    account_balance rating.balances;
    issued          rating.invoices;
    period_start    timestamptz;
BEGIN
    IF close_period.account_id IS NULL OR close_period.period_end IS NULL THEN
        RAISE EXCEPTION 'account_id and period_end must be given' USING ERRCODE = 'not_null_violation';
    END IF;
    IF NOT isfinite(close_period.period_end) OR close_period.period_end > now() THEN
        RAISE EXCEPTION 'period_end % is not a past instant', close_period.period_end
            USING ERRCODE = 'invalid_parameter_value', HINT = 'A period can be closed once it has ended.';
    END IF;
    account_balance := rating.locked_balance(close_period.account_id);
    period_start := coalesce(account_balance.invoiced_through, '-infinity');
    IF close_period.period_end <= period_start THEN
        SELECT * INTO issued FROM rating.invoices i
         WHERE i.account_id = close_period.account_id AND i.period_end = close_period.period_end;
        IF FOUND THEN
            RETURN issued;  -- a retry
        END IF;
        RAISE EXCEPTION 'account % is already invoiced through %', close_period.account_id, period_start
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    WITH due AS (
        -- A usage row carries its current rate: a reversal's line names the
        -- service only.
        SELECT l.entry_no, l.kind, l.amount, l.late, u.service,
               CASE WHEN l.kind = 'charge' THEN u.rate_id END AS rate_id,
               CASE WHEN l.kind = 'charge' THEN u.billed_quantity END AS billed_quantity
          FROM rating.ledger l
          LEFT JOIN rating.usage u ON u.account_id = l.account_id AND u.usage_id = l.usage_id
         WHERE l.account_id = close_period.account_id
           AND NOT EXISTS (SELECT FROM rating.invoice_entries ie
                            WHERE ie.account_id = l.account_id AND ie.entry_no = l.entry_no)
           AND coalesce(u.occurred_at, l.posted_at) < close_period.period_end
    ), header AS (
        INSERT INTO rating.invoices (account_id, invoice_no, period_start, period_end, currency, total, closing_balance, entries)
        SELECT close_period.account_id, account_balance.last_invoice_no + 1, period_start, close_period.period_end,
               a.currency, coalesce(d.total, 0),
               coalesce(d.total, 0) + coalesce((SELECT sum(i.total) FROM rating.invoices i
                                                 WHERE i.account_id = close_period.account_id), 0),
               d.entries
          FROM rating.accounts a,
               (SELECT sum(amount) AS total, count(*) AS entries FROM due) d
         WHERE a.account_id = close_period.account_id
        RETURNING *
    ), lines AS (
        INSERT INTO rating.invoice_lines (account_id, invoice_no, line_no, kind, service, rate_id, late,
                                          description, events, quantity, amount)
        SELECT close_period.account_id, account_balance.last_invoice_no + 1,
               row_number() OVER (ORDER BY kind = 'charge' DESC, kind, late, service, rate_id),
               kind, service, rate_id, late,
               CASE kind WHEN 'charge' THEN service || ' (rate ' || rate_id || ')'
                         WHEN 'reversal' THEN service || ' charges reversed by rerating'
                         ELSE kind END
                   || CASE WHEN late THEN ', late usage from an earlier period' ELSE '' END,
               count(*), sum(billed_quantity), sum(amount)
          FROM due
         GROUP BY kind, service, rate_id, late
        RETURNING 1
    ), covered AS (
        INSERT INTO rating.invoice_entries (account_id, entry_no, invoice_no)
        SELECT close_period.account_id, entry_no, account_balance.last_invoice_no + 1 FROM due
        RETURNING 1
    )
    SELECT h.* INTO issued FROM header h;

    UPDATE rating.balances b
       SET last_invoice_no = b.last_invoice_no + 1, invoiced_through = close_period.period_end
     WHERE b.account_id = close_period.account_id;
    RETURN issued;
END
$$;
COMMENT ON FUNCTION rating.close_period(bigint, timestamptz) IS 'Closes the account''s open billing period at period_end (a past instant): issues an immutable invoice of every not yet invoiced ledger entry of the period, one line per kind, service, rate and lateness. Closing the same period again returns the same invoice.';
