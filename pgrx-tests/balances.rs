// Prepaid and credit limits, money movements, verification. Account 3002 is
// made prepaid where a test needs it; an SMS costs 0.05 under the fixture.

const SMS: &str = "INSERT INTO rating.usage (account_id, service, quantity, occurred_at)";

fn sms(account_id: i64, count: i64) -> String {
    format!("{SMS} SELECT {account_id}, 'sms', 1, now() FROM generate_series(1, {count})")
}

fn balance(account_id: i64) -> String {
    text(&format!("SELECT balance::text FROM rating.balances WHERE account_id = {account_id}"))
}

#[pg_test]
fn prepaid_usage_beyond_the_balance_is_refused_whole() {
    fixture();
    run("UPDATE rating.accounts SET account_type = 'prepaid' WHERE account_id = 3002");
    run("SELECT rating.post_payment(3002, 0.12, 'topup-1')");
    run(&sms(3002, 2));
    // 0.02 left: a two-row statement whose second row does not fit posts nothing.
    let refused = error_of(&sms(3002, 1));
    assert!(refused.starts_with("RT001: usage would take account 3002 below its spending floor of 0 EUR"), "{refused}");
    assert_eq!(balance(3002), "0.02");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage WHERE account_id = 3002"), 2);
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger WHERE account_id = 3002"), 3);
    assert_books_balance();
}

#[pg_test]
fn a_postpaid_credit_limit_is_a_floor_below_zero() {
    fixture();
    run("UPDATE rating.accounts SET credit_limit = 0.10 WHERE account_id = 3001");
    run(&sms(3001, 2));
    assert!(error_of(&sms(3001, 1)).starts_with("RT001: usage would take account 3001 below its spending floor of -0.10 EUR"));
    assert_eq!(balance(3001), "-0.10");
    assert_eq!(text("SELECT available::text FROM rating.account_balances WHERE account_id = 3001"), "0.00");
}

#[pg_test]
fn the_flag_policy_posts_and_marks_what_passes_the_floor() {
    fixture();
    run("UPDATE rating.accounts SET account_type = 'prepaid', limit_policy = 'flag' WHERE account_id = 3002");
    run("SELECT rating.post_payment(3002, 0.07, 'topup-1')");
    run(&sms(3002, 2));
    assert_eq!(balance(3002), "-0.03");
    assert_eq!(
        text("SELECT string_agg(kind || ':' || over_limit, ',' ORDER BY entry_no) FROM rating.ledger WHERE account_id = 3002"),
        "payment:false,charge:false,charge:true"
    );
    assert_books_balance();
}

#[pg_test]
fn money_movements_post_once_per_idempotency_key() {
    fixture();
    let first = text("SELECT entry_no || ':' || amount FROM rating.post_payment(3001, 25.00, 'bank-77', 'SEPA 77')");
    let retry = text("SELECT entry_no || ':' || amount FROM rating.post_payment(3001, 25.00, 'bank-77', 'SEPA 77')");
    assert_eq!((first.as_str(), retry.as_str()), ("1:25.00", "1:25.00"));
    run("SELECT rating.post_credit(3001, 2.50, 'ticket-9', 'outage on 3 March')");
    run("SELECT rating.post_refund(3001, 5, 'refund-1', 'overpaid')");
    run("SELECT rating.post_adjustment(3001, -2.50, 'ticket-9-fix', 'credit posted twice', 2)");
    assert_eq!(
        text("SELECT string_agg(concat_ws(':', entry_no, kind, amount, corrects_entry_no), ',' ORDER BY entry_no) FROM rating.ledger"),
        "1:payment:25.00,2:credit:2.50,3:refund:-5,4:adjustment:-2.50:2"
    );
    assert_eq!(balance(3001), "20.00");
    assert_books_balance();
}

#[pg_test]
fn bad_money_movements_are_refused_with_their_sqlstate() {
    fixture();
    run("SELECT rating.post_payment(3001, 25.00, 'bank-77')");
    run("UPDATE rating.accounts SET account_type = 'prepaid' WHERE account_id = 3002");
    let cases: &[(&str, &str)] = &[
        ("SELECT rating.post_payment(3001, 30.00, 'bank-77')", "23505: idempotency key \"bank-77\" of account 3001 was already used"),
        ("SELECT rating.post_payment(3001, 0, 'p-0')", "22003: payment amount must be positive, not 0"),
        ("SELECT rating.post_payment(3001, -5, 'p-1')", "22003: payment amount must be positive, not -5"),
        ("SELECT rating.post_payment(3001, 'NaN', 'p-2')", "22003: payment amount NaN is not a finite number"),
        ("SELECT rating.post_payment(3001, 10.005, 'p-3')", "22023: payment amount 10.005 has more decimals than EUR allows (2)"),
        ("SELECT rating.post_payment(3001, 10, NULL)", "23502: account_id, amount and idempotency_key must be given"),
        ("SELECT rating.post_payment(999, 10, 'p-4')", "23503: account 999 does not exist"),
        ("SELECT rating.post_adjustment(3001, 0, 'a-1', 'nothing')", "22003: adjustment amount must be non-zero, not 0"),
        ("SELECT rating.post_adjustment(3001, 1, 'a-2', 'fix', 99)", "23503: account 3001 has no ledger entry 99 to correct"),
        ("SELECT rating.post_refund(3002, 1, 'r-1', 'goodwill')", "RT001: refund of 1 EUR would take account 3002 below its spending floor of 0 EUR"),
    ];
    for (statement, expected) in cases {
        let error = error_of(statement);
        assert!(error.starts_with(expected), "{statement}\n  expected: {expected}\n  got:      {error}");
    }
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger"), 1);
}

#[pg_test]
fn verification_finds_a_balance_that_drifted_from_its_ledger() {
    fixture();
    run(&sms(3001, 3));
    run("SELECT rating.post_payment(3002, 1, 'p-1')");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.verify_balances() WHERE NOT consistent"), 0);
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.verify_balances()"), 4);
    // The deliberate maintenance path, which a superuser must ask for.
    assert!(error_of("UPDATE rating.ledger SET amount = -0.06 WHERE account_id = 3001 AND entry_no = 1").starts_with("0A000"));
    run("SET LOCAL pg_rating.maintenance = on");
    run("UPDATE rating.ledger SET amount = -0.06 WHERE account_id = 3001 AND entry_no = 1");
    run("SET LOCAL pg_rating.maintenance = off");
    assert_eq!(
        text("SELECT string_agg(concat_ws(':', account_id, balance, ledger_total, difference), ',') FROM rating.verify_balances(only_discrepancies => true)"),
        "3001:-0.15:-0.16:0.01"
    );
}

#[pg_test]
fn an_account_with_usage_or_ledger_entries_is_never_deleted() {
    fixture();
    run("SELECT rating.post_payment(3002, 5.00, 'topup-keep')");
    let refused = error_of("DELETE FROM rating.accounts WHERE account_id = 3002");
    assert!(refused.starts_with("23503: account 3002 has usage or ledger entries and cannot be deleted"), "{refused}");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger WHERE account_id = 3002"), 1);
    assert_eq!(balance(3002), "5.00");
    // Held usage has no ledger entry, and still keeps its account.
    run("SET LOCAL pg_rating.unratable = hold");
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3003, 'sms', 1, now())");
    assert_eq!(text("SELECT status FROM rating.usage WHERE account_id = 3003"), "held");
    let refused = error_of("DELETE FROM rating.accounts WHERE account_id = 3003");
    assert!(refused.starts_with("23503: account 3003 has usage or ledger entries"), "{refused}");
    // Usage for an account that does not exist is refused by rating.
    let unknown = error_of("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3998, 'sms', 1, now())");
    assert!(unknown.starts_with("23503: "), "{unknown}");
    // An account nothing was ever posted to goes, with its balance row.
    run("INSERT INTO rating.accounts (account_id, name, currency) VALUES (3999, 'opened by mistake', 'EUR')");
    run("DELETE FROM rating.accounts WHERE account_id = 3999");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.balances WHERE account_id = 3999"), 0);
    assert_books_balance();
}

#[pg_test]
fn a_correction_names_an_entry_of_its_own_account() {
    fixture();
    run("SELECT rating.post_payment(3001, 25.00, 'bank-1')");
    run("SELECT rating.post_payment(3001, 1.00, 'bank-2')");
    run("SELECT rating.post_payment(3002, 5.00, 'bank-3')");
    // Written directly, past post_entry()'s own check: the ledger's trigger
    // refuses an entry that is missing, or is another account's.
    for (account, corrects) in [(3001, 99), (3002, 2)] {
        let refused = error_of(&format!(
            "INSERT INTO rating.ledger (account_id, entry_no, kind, amount, currency, description, corrects_entry_no)
             VALUES ({account}, 10, 'adjustment', -1, 'EUR', 'direct', {corrects})"
        ));
        let expected = format!("23503: account {account} has no ledger entry {corrects} to correct");
        assert!(refused.starts_with(&expected), "{refused}");
    }
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger"), 3);
    assert_books_balance();
}
