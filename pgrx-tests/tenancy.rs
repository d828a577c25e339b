// Tenants and row-level security: a tenant's roles see and write only their
// tenants' accounts, through the tables, the views and every function.

/// Two tenants, acme (account 3001) and globex (3002); 3003 belongs to none.
/// acme_staff acts for acme with all three rating roles.
fn two_tenants() {
    fixture();
    run("DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'acme_staff') THEN
                CREATE ROLE acme_staff; CREATE ROLE globex_staff; CREATE ROLE acme_member;
            END IF;
         END $$");
    run("GRANT acme_staff TO acme_member");
    run("GRANT rating_reader, rating_writer, rating_admin TO acme_member");
    run("INSERT INTO rating.tenants VALUES ('acme', 'acme_staff', 'Acme'), ('globex', 'globex_staff', 'Globex')");
    run("UPDATE rating.accounts SET tenant_id = 'acme' WHERE account_id = 3001");
    run("UPDATE rating.accounts SET tenant_id = 'globex' WHERE account_id = 3002");
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES
            (3001, 'sms', 1, now()), (3002, 'sms', 2, now()), (3002, 'data', 5, now())");
    run("SELECT rating.close_period(3002, now() - interval '1 microsecond')");
}

fn as_acme(statement: &str) -> String {
    error_of(&format!("SET LOCAL ROLE acme_member; {statement}; RESET ROLE"))
}

fn seen_by_acme(query: &str) -> String {
    run("SET LOCAL ROLE acme_member");
    let seen = text(query);
    run("RESET ROLE");
    seen
}

#[pg_test]
fn a_tenant_sees_only_its_accounts_in_every_table_and_view() {
    two_tenants();
    for relation in [
        "rating.accounts", "rating.balances", "rating.usage", "rating.ledger", "rating.invoices",
        "rating.invoice_lines", "rating.subscriptions", "rating.account_balances",
        "rating.account_statement", "rating.usage_daily", "rating.current_period_charges",
        "rating.account_invoices", "rating.account_invoice_lines",
    ] {
        let seen = seen_by_acme(&format!(
            "SELECT coalesce(string_agg(DISTINCT account_id::text, ','), 'none') FROM {relation}"
        ));
        let expected = if relation.contains("invoice") { "none" } else { "3001" };
        assert_eq!(seen, expected, "{relation}");
    }
    assert_eq!(seen_by_acme("SELECT string_agg(tenant_id, ',') FROM rating.tenants"), "acme");
    // The superuser (and any role outside every tenant) still sees all.
    assert_eq!(text("SELECT string_agg(account_id::text, ',' ORDER BY account_id) FROM rating.account_balances"), "3001,3002,3003,3004");
}

#[pg_test]
fn a_tenant_cannot_touch_another_tenants_accounts() {
    two_tenants();
    // An account rating has not met yet in this session is refused too.
    run("INSERT INTO rating.accounts (account_id, name, currency, tenant_id) VALUES (3005, 'Eve', 'EUR', 'globex')");
    run("INSERT INTO rating.subscriptions (account_id, tariff_id) VALUES (3005, 1001)");
    let refused = [
        "INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3005, 'sms', 1, now())",
        "INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3002, 'sms', 1, now())",
        "INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3003, 'sms', 1, now())",
        "SELECT rating.post_payment(3002, 10, 'steal-1')",
        "SELECT rating.post_adjustment(3002, -10, 'steal-2', 'x')",
        "SELECT rating.reserve(3002, 1, 'steal-3')",
        "SELECT rating.release_reservation(3002, 1)",
        "SELECT * FROM rating.quote(3002, 'sms', 1)",
        "SELECT * FROM rating.authorize(3002, 'sms')",
        "SELECT * FROM rating.affordable_quantity(3002, 'sms', 1)",
        "SELECT rating.close_period(3002, now())",
        "SELECT rating.rerate(3002, '-infinity', 'infinity')",
        "SELECT rating.rate_held(3002)",
        "SELECT * FROM rating.quote(99999, 'sms', 1)",
        "UPDATE rating.accounts SET tenant_id = 'globex' WHERE account_id = 3001",
        "INSERT INTO rating.accounts (name, currency, tenant_id) VALUES ('Mallory', 'EUR', 'globex')",
        "INSERT INTO rating.tenants VALUES ('evil', 'acme_staff', 'Evil')",
        "INSERT INTO rating.rates (tariff_id, service, price) VALUES (1001, 'mms', 0)",
        "INSERT INTO rating.alert_thresholds VALUES (3002, 5)",
    ];
    for statement in refused {
        let outcome = as_acme(statement);
        assert!(
            outcome.starts_with("42501"),
            "acme was not refused {statement}: {outcome}"
        );
    }
    // Statements that find no rows of another tenant change nothing.
    assert_eq!(as_acme("DELETE FROM rating.rates"), "no error");
    assert_eq!(as_acme("UPDATE rating.rates SET price = 0"), "no error");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.rates WHERE price > 0"), 5);
    assert_eq!(as_acme("UPDATE rating.accounts SET name = 'x', tenant_id = 'acme' WHERE account_id = 3002"), "no error");
    assert_eq!(text("SELECT name || ' ' || tenant_id FROM rating.accounts WHERE account_id = 3002"), "Bob globex");
    assert_eq!(seen_by_acme("SELECT coalesce(rating.available_funds(3002)::text, 'none')"), "none");
    assert_eq!(seen_by_acme("SELECT count(*)::text FROM rating.verify_balances()"), "1");
    assert_eq!(seen_by_acme("SELECT count(*)::text FROM rating.verify_usage()"), "1");
    assert_books_balance();
}

#[pg_test]
fn a_tenant_does_its_job_on_its_own_accounts() {
    two_tenants();
    for statement in [
        "INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3001, 'sms', 3, now())",
        "SELECT rating.post_payment(3001, 10, 'pay-1')",
        "SELECT rating.reserve(3001, 1, 'res-1')",
        "SELECT * FROM rating.authorize(3001, 'sms')",
        "INSERT INTO rating.accounts (account_id, name, currency, tenant_id) VALUES (3777, 'New', 'EUR', 'acme')",
        "SELECT rating.close_period(3001, now() - interval '1 microsecond')",
    ] {
        assert_eq!(as_acme(statement), "no error", "{statement}");
    }
    assert_eq!(text("SELECT balance::text FROM rating.balances WHERE account_id = 3001"), "9.80");
    assert_eq!(text("SELECT tenant_id FROM rating.accounts WHERE account_id = 3777"), "acme");
    assert_books_balance();
}

#[pg_test]
fn usage_for_another_tenants_account_is_refused_by_number() {
    two_tenants();
    run("INSERT INTO rating.accounts (account_id, name, currency, tenant_id) VALUES (3005, 'Eve', 'EUR', 'globex')");
    run("INSERT INTO rating.subscriptions (account_id, tariff_id) VALUES (3005, 1001)");
    let usage = |account: &str| {
        format!("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES {account}")
    };
    // Cached in this session (3002) or not yet met (3005, 99999, unknown):
    // refused alike, by number, before row-level security or rating speak.
    for (rows, refused) in [
        ("(3002, 'sms', 1, now())", 3002),
        ("(3005, 'sms', 1, now())", 3005),
        ("(99999, 'sms', 1, now())", 99999),
        ("(3003, 'sms', 1, now())", 3003),
        ("(3001, 'sms', 1, now()), (3002, 'sms', 1, now())", 3002),
    ] {
        assert_eq!(
            as_acme(&usage(rows)),
            format!("42501: permission denied for account {refused}"),
            "{rows}"
        );
    }
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage WHERE account_id = 3001"), 1);
    assert_eq!(as_acme(&usage("(3001, 'sms', 1, now())")), "no error");
    // The same when accounts are read by the SPI query (no index found by
    // its name), once the cached ones are dropped.
    run("DROP INDEX rating.subscriptions_by_account");
    run("ALTER INDEX rating.subscriptions_no_overlap RENAME TO renamed_by_hand");
    run("UPDATE rating.accounts SET name = name");
    assert_eq!(as_acme(&usage("(3002, 'sms', 1, now())")), "42501: permission denied for account 3002");
    assert_eq!(as_acme(&usage("(3001, 'sms', 1, now())")), "no error");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage WHERE account_id = 3001"), 3);
    assert_books_balance();
}

#[pg_test]
fn what_a_tenants_role_may_rate_follows_grants_and_tenants() {
    two_tenants();
    let sms_for_3002 =
        "INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3002, 'sms', 1, now())";
    let refused = "42501: permission denied for account 3002";
    assert_eq!(as_acme(sms_for_3002), refused);
    // A membership granted and revoked: acme_member then acts for both.
    run("GRANT globex_staff TO acme_member");
    assert_eq!(as_acme(sms_for_3002), "no error");
    run("REVOKE globex_staff FROM acme_member");
    assert_eq!(as_acme(sms_for_3002), refused);
    // Only rating.tenants changes: globex is now run by acme_member itself.
    run("UPDATE rating.tenants SET role_name = 'acme_member' WHERE tenant_id = 'globex'");
    assert_eq!(as_acme(sms_for_3002), "no error");
    run("UPDATE rating.tenants SET role_name = 'globex_staff' WHERE tenant_id = 'globex'");
    assert_eq!(as_acme(sms_for_3002), refused);
    // Only the account changes tenant.
    run("UPDATE rating.accounts SET tenant_id = 'acme' WHERE account_id = 3002");
    assert_eq!(as_acme(sms_for_3002), "no error");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage WHERE account_id = 3002"), 5);
    assert_books_balance();
}
