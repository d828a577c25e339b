// Billing periods, invoices, spending alerts and roles.

fn usage_at(account_id: i64, service: &str, quantity: i64, occurred_at: &str) {
    run(&format!(
        "INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES ({account_id}, '{service}', {quantity}, '{occurred_at}')"
    ));
}

/// An invoice's total, the sum of its lines and the sum of the ledger entries it covers.
fn invoice_sums(invoice_no: i64) -> String {
    text(&format!(
        "SELECT concat_ws('|', i.total,
                (SELECT sum(amount) FROM rating.invoice_lines l WHERE l.account_id = i.account_id AND l.invoice_no = i.invoice_no),
                (SELECT sum(e.amount) FROM rating.invoice_entries ie
                   JOIN rating.ledger e ON e.account_id = ie.account_id AND e.entry_no = ie.entry_no
                  WHERE ie.account_id = i.account_id AND ie.invoice_no = i.invoice_no))
           FROM rating.invoices i WHERE i.account_id = 3001 AND i.invoice_no = {invoice_no}"
    ))
}

#[pg_test]
fn closing_a_period_issues_an_invoice_equal_to_its_ledger() {
    fixture();
    usage_at(3001, "voice", 61, "2026-03-02 10:00+00"); // 0.24
    usage_at(3001, "voice", 30, "2026-03-09 10:00+00"); // 0.12
    usage_at(3001, "sms", 1, "2026-03-20 10:00+00"); // 0.05
    usage_at(3001, "sms", 1, "2026-04-02 10:00+00"); // April: not on March's invoice
    let invoice = text("SELECT concat_ws('|', invoice_no, period_start, period_end, total, closing_balance, entries) FROM rating.close_period(3001, '2026-04-01 00:00+00')");
    assert_eq!(invoice, "1|-infinity|2026-04-01 00:00:00+00|-0.41|-0.41|3");
    assert_eq!(invoice_sums(1), "-0.41|-0.41|-0.41");
    assert_eq!(
        text("SELECT string_agg(concat_ws(':', line_no, description, events, quantity, amount), ',' ORDER BY line_no) FROM rating.account_invoice_lines"),
        "1:sms (rate 2003):1:1:-0.05,2:voice (rate 2001):2:180:-0.36"
    );
    // Closing it again is a retry; closing an earlier instant is refused.
    assert_eq!(one::<i64>("SELECT invoice_no FROM rating.close_period(3001, '2026-04-01 00:00+00')"), 1);
    let refused = error_of("SELECT rating.close_period(3001, '2026-03-15')");
    assert!(refused.starts_with("22023: account 3001 is already invoiced through 2026-04-01"), "{refused}");
    let future = error_of("SELECT rating.close_period(3001, now() + interval '1 day')");
    assert!(future.starts_with("22023: period_end"), "{future}");
    assert!(error_of("UPDATE rating.invoices SET total = 0").starts_with("0A000"));

    // March usage that arrives after March was closed: charged now, marked late.
    usage_at(3001, "sms", 1, "2026-03-31 23:59+00");
    assert!(one::<bool>("SELECT late FROM rating.ledger WHERE account_id = 3001 ORDER BY entry_no DESC LIMIT 1"));
    assert_eq!(
        text("SELECT string_agg(concat_ws(':', kind, service, late, amount), ',' ORDER BY late, service) FROM rating.current_period_charges"),
        "charge:sms:f:-0.05,charge:sms:t:-0.05"
    );
    run("SELECT rating.close_period(3001, '2026-05-01 00:00+00')");
    assert_eq!(invoice_sums(2), "-0.10|-0.10|-0.10");
    assert_eq!(
        text("SELECT string_agg(description, ',' ORDER BY line_no) FROM rating.invoice_lines WHERE invoice_no = 2"),
        "sms (rate 2003),sms (rate 2003), late usage from an earlier period"
    );
    assert_eq!(text("SELECT closing_balance::text FROM rating.invoices WHERE invoice_no = 2"), "-0.51");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.current_period_charges"), 0);
}

#[pg_test]
fn crossing_a_threshold_raises_one_alert_each_way() {
    fixture();
    run("INSERT INTO rating.alert_thresholds (account_id, threshold) VALUES (3001, -0.10), (3001, -1.00)");
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) SELECT 3001, 'sms', 1, now() FROM generate_series(1, 2)");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.alerts"), 0, "-0.10 is not below -0.10");
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3001, 'sms', 1, now())");
    run("SELECT rating.post_payment(3001, 5, 'p-1')");
    assert_eq!(
        text("SELECT string_agg(concat_ws(':', threshold, direction, balance_before, balance_after), ',' ORDER BY alert_id) FROM rating.spending_alerts"),
        "-0.10:down:-0.10:-0.15,-0.10:up:-0.15:4.85"
    );
}

#[pg_test]
fn alerts_are_raised_when_the_thresholds_index_is_not_found_by_name() {
    fixture();
    run("INSERT INTO rating.alert_thresholds (account_id, threshold) VALUES (3001, -0.10)");
    // The single-row path reads thresholds by this index; without it, the
    // set-based function decides.
    run("ALTER INDEX rating.alert_thresholds_pkey RENAME TO renamed_by_hand");
    let sms = &one_sms_now(3001);
    run(sms);
    run(sms);
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.alerts"), 0, "-0.10 is not below -0.10");
    run(sms);
    assert_eq!(
        text("SELECT string_agg(concat_ws(':', threshold, direction, balance_before, balance_after), ',') FROM rating.alerts"),
        "-0.10:down:-0.10:-0.15"
    );
}

/// Account 3001's thresholds crossed by a single row, a small multi-account
/// statement and a large one, each on its own path: the alerts raised.
fn alerts_raised_on_each_posting_path() -> String {
    run("INSERT INTO rating.alert_thresholds VALUES (3001, -0.01), (3001, -0.10), (3001, -1.00)");
    run(&one_sms_now(3001));
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
         VALUES (3001, 'sms', 1, now()), (3002, 'sms', 1, now()), (3001, 'sms', 1, now())");
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
         SELECT 3001 + g % 2, 'sms', 1, now() FROM generate_series(1, 2000) g");
    assert_books_balance();
    // (A threshold kept as a double precision loses its trailing zeros.)
    text("SELECT string_agg(concat_ws(':', round(threshold, 2), balance_after), ',' ORDER BY alert_id) FROM rating.alerts")
}

const THRESHOLDS_CROSSED: &str = "-0.01:-0.05,-0.10:-0.15,-1.00:-50.15";

#[pg_test]
fn alerts_are_raised_when_the_thresholds_table_was_made_partitioned_by_hand() {
    fixture();
    // A partitioned table has no pages and no index of its own to read:
    // the set-based function decides.
    run("ALTER EXTENSION pg_rating DROP TABLE rating.alert_thresholds");
    run("DROP TABLE rating.alert_thresholds");
    run("CREATE TABLE rating.alert_thresholds (account_id bigint, threshold numeric, PRIMARY KEY (account_id, threshold))
         PARTITION BY RANGE (account_id)");
    run("CREATE TABLE rating.alert_thresholds_all PARTITION OF rating.alert_thresholds DEFAULT");
    assert_eq!(alerts_raised_on_each_posting_path(), THRESHOLDS_CROSSED);
}

#[pg_test]
fn alerts_are_raised_when_the_thresholds_type_was_changed_by_hand() {
    fixture();
    // Read as a numeric, a double precision would be garbage: SQL reads it.
    run("ALTER TABLE rating.alert_thresholds ALTER threshold TYPE double precision");
    assert_eq!(alerts_raised_on_each_posting_path(), THRESHOLDS_CROSSED);
}

#[pg_test]
fn alerts_are_raised_however_many_balances_a_statement_moves() {
    fixture();
    run("INSERT INTO rating.accounts (account_id, name, currency) SELECT 5000 + g, 'watched ' || g, 'EUR' FROM generate_series(1, 20) g");
    run("INSERT INTO rating.subscriptions (account_id, tariff_id, valid_from) SELECT 5000 + g, 1001, '-infinity' FROM generate_series(1, 20) g");
    run("INSERT INTO rating.alert_thresholds (account_id, threshold) SELECT 5000 + g, -0.05 FROM generate_series(1, 20) g");
    // Three balances moved, only the last across its threshold: each is
    // looked up on its own, and the crossing one found.
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
         VALUES (5001, 'sms', 1, now()), (5002, 'sms', 1, now()), (5003, 'sms', 2, now())");
    assert_eq!(
        text("SELECT string_agg(concat_ws(':', account_id, threshold, direction, balance_after), ',') FROM rating.alerts"),
        "5003:-0.05:down:-0.10"
    );
    // Twenty balances moved in one statement: the set-based path. All but
    // 5003, already below, cross.
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
         SELECT 5000 + g, 'sms', 2, now() FROM generate_series(1, 20) g");
    assert_eq!(
        text("SELECT concat_ws('|', count(*), count(DISTINCT account_id), min(account_id), bool_and(direction = 'down')) FROM rating.alerts"),
        "20|20|5001|t"
    );
    // A statement moving a balance without thresholds, then one with a
    // threshold that it crosses: each account is looked up.
    run("INSERT INTO rating.alert_thresholds (account_id, threshold) VALUES (3002, -0.02)");
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
         VALUES (3001, 'sms', 1, now()), (3002, 'sms', 1, now())");
    assert_eq!(
        text("SELECT concat_ws(':', account_id, threshold, direction, balance_after) FROM rating.alerts ORDER BY alert_id DESC LIMIT 1"),
        "3002:-0.02:down:-0.05"
    );
    assert_books_balance();
}

#[pg_test]
fn each_role_may_do_its_job_and_nothing_else() {
    fixture();
    run("GRANT USAGE ON SCHEMA tests TO PUBLIC");
    let usage = "INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3001, 'sms', 1, now())";
    let as_role = |role: &str, statement: &str| -> String {
        run(&format!("SET LOCAL ROLE {role}"));
        let outcome = error_of(statement);
        run("RESET ROLE");
        outcome
    };
    let allowed: &[(&str, &str)] = &[
        ("rating_writer", usage),
        ("rating_writer", "SELECT rating.post_payment(3001, 1, 'p-1')"),
        ("rating_writer", "SELECT rating.reserve(3001, 1, 'r-1')"),
        ("rating_reader", "SELECT * FROM rating.account_balances"),
        ("rating_reader", "SELECT * FROM rating.account_statement"),
        ("rating_reader", "SELECT * FROM rating.ledger"),
        ("rating_reader", "SELECT * FROM rating.held_usage"),
        ("rating_reader", "SELECT * FROM rating.quote(3001, 'sms', 1)"),
        ("rating_admin", "INSERT INTO rating.rates (tariff_id, service, price) VALUES (1001, 'mms', 0.3)"),
        ("rating_admin", "INSERT INTO rating.accounts (account_id, name, currency) VALUES (3999, 'Eve', 'EUR')"),
        ("rating_admin", "SELECT rating.close_period(3001, now() - interval '1 day')"),
        ("rating_admin", "SELECT * FROM rating.verify_balances()"),
        ("rating_admin", "SELECT * FROM rating.verify_usage()"),
        ("rating_admin", "SELECT * FROM rating.rate_held()"),
        ("rating_admin", "SELECT * FROM rating.rerate(3001, '-infinity', 'infinity')"),
    ];
    for (role, statement) in allowed {
        assert_eq!(as_role(role, statement), "no error", "{role}: {statement}");
    }
    let refused: &[(&str, &str)] = &[
        ("rating_writer", "SELECT * FROM rating.account_balances"),
        ("rating_writer", "UPDATE rating.rates SET price = 0"),
        ("rating_writer", "INSERT INTO rating.ledger (account_id, entry_no, kind, amount, currency, description) VALUES (3001, 99, 'payment', 1, 'EUR', 'x')"),
        ("rating_writer", "UPDATE rating.balances SET balance = 100"),
        ("rating_writer", "SELECT rating.close_period(3001, now())"),
        ("rating_reader", usage),
        ("rating_reader", "SELECT * FROM rating.tariffs"),
        ("rating_reader", "DELETE FROM rating.ledger"),
        ("rating_reader", "SELECT rating.rerate(3001, '-infinity', 'infinity')"),
        ("rating_writer", "SELECT rating.rate_held()"),
        ("rating_reader", "SELECT rating.post_payment(3001, 1, 'p-2')"),
        ("rating_admin", usage),
        ("rating_admin", "SELECT rating.post_payment(3001, 1, 'p-3')"),
        ("rating_admin", "SELECT rating.post_entry(3001, 'payment', 1, 1, 'p-4', 'x')"),
        ("rating_admin", "UPDATE rating.balances SET balance = 100"),
    ];
    for (role, statement) in refused {
        let outcome = as_role(role, statement);
        assert!(outcome.starts_with("42501: permission denied"), "{role} was not refused {statement}: {outcome}");
    }
    assert_eq!(text("SELECT balance::text FROM rating.balances WHERE account_id = 3001"), "0.95");
    assert_books_balance();
}
