// rating.quote prices like an insert and posts nothing.

#[pg_test]
fn quote_matches_the_insert_and_posts_nothing() {
    fixture();
    let quoted = text(
        "SELECT concat_ws('|', charge, currency, tariff_id, rate_id, billed_quantity)
           FROM rating.quote(3001, 'voice', 125, '2026-03-01 10:00+00', '+447700900123')",
    );
    // 125 s in 30/6 increments is 126 s: 126 * 0.06 / 60 = 0.126, + 0.02 = 0.146 -> 0.15.
    assert_eq!(quoted, "0.15|EUR|1001|2002|126");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger"), 0);
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination)
         VALUES (3001, 'voice', 125, '2026-03-01 10:00+00', '+447700900123')");
    let inserted = text("SELECT concat_ws('|', charge, currency, tariff_id, rate_id, billed_quantity) FROM rating.usage");
    assert_eq!(inserted, quoted);
}

#[pg_test]
fn quote_defaults_to_now_and_no_destination() {
    fixture();
    assert_eq!(text("SELECT charge::text FROM rating.quote(3002, 'voice', 1)"), "0.12");
}
