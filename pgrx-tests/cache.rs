// The per-backend tariff cache follows the transaction: a change is used by
// the next statement of the changing transaction, and forgotten on rollback.
// (Other sessions seeing a committed change is tested over a client
// connection in tests/client.rs.)

fn sms_charge_now() -> String {
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3002, 'sms', 1, now())");
    text("SELECT charge::text FROM rating.usage ORDER BY usage_id DESC LIMIT 1")
}

#[pg_test]
fn a_tariff_change_is_used_by_the_next_statement() {
    fixture();
    assert_eq!(sms_charge_now(), "0.05");
    run("UPDATE rating.rates SET price = 0.08 WHERE rate_id = 2003");
    assert_eq!(sms_charge_now(), "0.08");
    run("UPDATE rating.currencies SET minor_units = 0 WHERE code = 'EUR'");
    assert_eq!(sms_charge_now(), "0");
    assert_books_balance();
}

#[pg_test]
fn a_rolled_back_tariff_change_is_forgotten() {
    fixture();
    assert_eq!(sms_charge_now(), "0.05");
    run("DO $$ BEGIN
           UPDATE rating.rates SET price = 9 WHERE rate_id = 2003;
           INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3002, 'sms', 1, now());
           RAISE EXCEPTION 'roll me back';
         EXCEPTION WHEN raise_exception THEN NULL;
         END $$");
    assert_eq!(sms_charge_now(), "0.05");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage"), 2);
    assert_books_balance();
}

#[pg_test]
fn a_new_subscription_is_used_at_once() {
    fixture();
    let before = error_of("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3003, 'sms', 1, now())");
    assert!(before.starts_with("P0002"), "{before}");
    run("INSERT INTO rating.subscriptions (account_id, tariff_id) VALUES (3003, 1001)");
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3003, 'sms', 1, now())");
    assert_eq!(text("SELECT balance::text FROM rating.balances WHERE account_id = 3003"), "-0.05");
}
