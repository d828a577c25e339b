// Online charging: authorize, reserve, consume, release.

fn prepaid_with(amount: &str) {
    fixture();
    run("UPDATE rating.accounts SET account_type = 'prepaid' WHERE account_id = 3002");
    run(&format!("SELECT rating.post_payment(3002, {amount}, 'topup')"));
}

fn available() -> String {
    text("SELECT available::text FROM rating.account_balances WHERE account_id = 3002")
}

#[pg_test]
fn authorize_answers_how_long_a_call_can_last() {
    prepaid_with("0.90");
    // 0.12 a minute, 60/60: seven minutes cost 0.84, eight 0.96.
    assert_eq!(
        text("SELECT concat_ws(':', quantity, available, currency, rate_id) FROM rating.authorize(3002, 'voice', '+33123')"),
        "420:0.90:EUR:2001"
    );
    // A postpaid account without a limit: no limit to report.
    assert_eq!(
        text("SELECT concat_ws(':', coalesce(quantity::text, 'unlimited'), rate_id) FROM rating.authorize(3001, 'voice', '+33123', '2026-06-01')"),
        "unlimited:2001"
    );
    let refused = error_of("SELECT rating.authorize(3002, 'fax')");
    assert!(refused.starts_with("P0002: no rate for service \"fax\""), "{refused}");
}

#[pg_test]
fn a_reservation_holds_funds_and_its_usage_draws_on_it() {
    prepaid_with("1.00");
    let reservation = one::<i64>("SELECT reservation_id FROM rating.reserve(3002, 0.60, 'session-1')");
    assert_eq!(one::<i64>("SELECT reservation_id FROM rating.reserve(3002, 0.60, 'session-1')"), reservation);
    assert_eq!(available(), "0.40");
    let refused = error_of("SELECT rating.reserve(3002, 0.50, 'session-2')");
    assert!(refused.starts_with("RT001: account 3002 cannot reserve 0.50: only 0.40 is available"), "{refused}");
    for (n, (amount, expected)) in [
        ("'NaN'", "22003: reservation amount NaN is not a finite number"),
        ("'Infinity'", "22003: reservation amount Infinity is not a finite number"),
        ("0", "22003: reservation amount must be positive, not 0"),
        ("-0.10", "22003: reservation amount must be positive, not -0.10"),
    ]
    .into_iter()
    .enumerate()
    {
        let error = error_of(&format!("SELECT rating.reserve(3002, {amount}, 'bad-{n}')"));
        assert!(error.starts_with(expected), "{amount}: {error}");
    }
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.reservations"), 1);

    // The session's call (61 s: 0.24) comes out of the reservation ...
    run(&format!(
        "INSERT INTO rating.usage (account_id, service, quantity, occurred_at, reservation_id) VALUES (3002, 'voice', 61, now(), {reservation})"
    ));
    assert_eq!(text("SELECT consumed::text FROM rating.reservations WHERE account_id = 3002"), "0.24");
    assert_eq!(available(), "0.40");
    // ... an SMS outside it from what is free; a row larger than what is
    // held draws the rest from free funds.
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3002, 'sms', 1, now())");
    assert_eq!(available(), "0.35");
    run(&format!(
        "INSERT INTO rating.usage (account_id, service, quantity, occurred_at, reservation_id) VALUES (3002, 'voice', 240, now(), {reservation})"
    ));
    assert_eq!(text("SELECT consumed::text FROM rating.reservations WHERE account_id = 3002"), "0.60");
    assert_eq!(available(), "0.23");

    run(&format!("SELECT rating.release_reservation(3002, {reservation})"));
    run(&format!("SELECT rating.release_reservation(3002, {reservation})"));
    assert_eq!(text("SELECT status FROM rating.reservations WHERE account_id = 3002"), "released");
    assert_eq!(available(), "0.23");
    assert_eq!(text("SELECT balance::text FROM rating.balances WHERE account_id = 3002"), "0.23");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.open_reservations"), 0);
    assert_books_balance();
}

#[pg_test]
fn an_expired_reservation_holds_nothing() {
    prepaid_with("1.00");
    run("SELECT rating.reserve(3002, 0.80, 'session-1')");
    assert_eq!(available(), "0.20");
    // Time passes: within one transaction now() stands still, so move the expiry instead.
    run("UPDATE rating.reservations SET expires_at = now() - interval '1 second'");
    assert_eq!(available(), "1.00");
    assert_eq!(one::<i64>("SELECT rating.expire_reservations()"), 1);
    assert_eq!(text("SELECT status FROM rating.reservations"), "expired");
}

#[pg_test]
fn usage_names_only_a_reservation_of_its_account_and_keeps_it() {
    prepaid_with("1.00");
    let named = one::<i64>("SELECT reservation_id FROM rating.reserve(3002, 0.50, 'session-1')");
    let unnamed = one::<i64>("SELECT reservation_id FROM rating.reserve(3002, 0.10, 'session-2')");
    let insert = |account: i64, reservation: i64| {
        format!(
            "INSERT INTO rating.usage (account_id, service, quantity, occurred_at, reservation_id) VALUES ({account}, 'voice', 61, now(), {reservation})"
        )
    };
    for (account, reservation) in [(3002, named + 1000), (3001, named)] {
        let refused = error_of(&insert(account, reservation));
        let expected = format!("23503: account {account} has no reservation {reservation}");
        assert!(refused.starts_with(&expected), "{refused}");
    }
    // Refused statements leave nothing behind.
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage"), 0);
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger WHERE kind = 'charge'"), 0);

    run(&insert(3002, named));
    assert_eq!(text(&format!("SELECT consumed::text FROM rating.reservations WHERE reservation_id = {named}")), "0.24");
    for (statement, expected) in [
        (
            format!("DELETE FROM rating.reservations WHERE reservation_id = {named}"),
            format!("23503: reservation {named} of account 3002 is named by usage and cannot be deleted"),
        ),
        (
            format!("UPDATE rating.reservations SET reservation_id = DEFAULT WHERE reservation_id = {named}"),
            format!("23503: reservation {named} of account 3002 is named by usage and cannot be renumbered"),
        ),
        (
            "TRUNCATE rating.reservations".to_string(),
            "23503: rating.reservations cannot be truncated: usage names its reservations".to_string(),
        ),
    ] {
        let refused = error_of(&statement);
        assert!(refused.starts_with(&expected), "{statement}: {refused}");
    }
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.reservations"), 2);
    // A reservation nothing names can go.
    run(&format!("DELETE FROM rating.reservations WHERE reservation_id = {unnamed}"));
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.reservations"), 1);
    assert_books_balance();
}
