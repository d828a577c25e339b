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

/// Carol's usage on either side of her change of tariff, and an unknown
/// account's, each read with the account not yet cached.
fn charges_of_an_account_met_for_the_first_time() -> String {
    // A statement on a catalog table empties the cache, as a commit would.
    run("UPDATE rating.accounts SET name = name WHERE false");
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES
            (3003, 'sms', 1, '2026-03-01 12:00+00'), (3003, 'sms', 1, '2026-09-01 12:00+00')");
    let unknown = error_of("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (99999, 'sms', 1, now())");
    let charges = text("SELECT string_agg(charge::text || '@' || tariff_id, ',' ORDER BY occurred_at)
                          FROM rating.usage WHERE usage_id > (SELECT coalesce(max(usage_id), 0) - 2 FROM rating.usage)");
    format!("{charges}; {}", &unknown[..5])
}

fn insert_carols_subscriptions() {
    run("INSERT INTO rating.subscriptions (account_id, tariff_id, valid_from, valid_to) VALUES
            (3003, 1003, '-infinity', '2026-06-01 00:00+00'), (3003, 1001, '2026-06-01 00:00+00', NULL)");
}

#[pg_test]
fn an_account_reads_the_same_through_either_index_or_a_query() {
    fixture();
    run("INSERT INTO rating.tariffs (tariff_id, code, name, currency) VALUES (1003, 'TEST-TEXT', 'Texts', 'EUR')");
    run("INSERT INTO rating.rates (tariff_id, service, price) VALUES (1003, 'sms', 0.09)");
    insert_carols_subscriptions();
    let expected = "0.09@1003,0.05@1001; 23503";
    // The btree on subscriptions.account_id ...
    assert_eq!(charges_of_an_account_met_for_the_first_time(), expected);
    // ... the exclusion constraint's GiST index, as before 0.3.0, or when
    // the btree is invalid (as a failed CREATE INDEX CONCURRENTLY leaves it,
    // possibly missing rows) ...
    run("UPDATE pg_index SET indisvalid = false, indisready = false
          WHERE indexrelid = 'rating.subscriptions_by_account'::regclass");
    run("DELETE FROM rating.subscriptions WHERE account_id = 3003");
    insert_carols_subscriptions();
    assert_eq!(charges_of_an_account_met_for_the_first_time(), expected);
    run("DROP INDEX rating.subscriptions_by_account");
    assert_eq!(charges_of_an_account_met_for_the_first_time(), expected);
    // ... also when an index of a kind that cannot be read by key was made
    // under the btree's name ...
    run("CREATE INDEX subscriptions_by_account ON rating.subscriptions USING brin (account_id)");
    assert_eq!(charges_of_an_account_met_for_the_first_time(), expected);
    run("DROP INDEX rating.subscriptions_by_account");
    // ... and, with no index found by its name, the SPI query.
    run("ALTER INDEX rating.subscriptions_no_overlap RENAME TO renamed_by_hand");
    assert_eq!(charges_of_an_account_met_for_the_first_time(), expected);
    assert_books_balance();
}

/// (tariffs, accounts) this session has loaded so far, from rating.session_cache().
fn loads() -> (i64, i64) {
    let of = |cache: &str| one::<i64>(&format!("SELECT loads FROM rating.session_cache() WHERE cache = '{cache}'"));
    (of("tariffs"), of("accounts"))
}

fn open_an_account(account_id: i64) {
    run(&format!("INSERT INTO rating.accounts (account_id, name, currency) VALUES ({account_id}, 'New', 'EUR')"));
    run(&format!("INSERT INTO rating.subscriptions (account_id, tariff_id) VALUES ({account_id}, 1001)"));
}

#[pg_test]
fn opening_an_account_keeps_the_compiled_tariffs_and_a_tariff_change_drops_both() {
    fixture();
    assert_eq!(sms_charge_now(), "0.05");
    let (tariffs, accounts) = loads();
    assert_eq!(one::<i64>("SELECT entries FROM rating.session_cache() WHERE cache = 'tariffs'"), 1);

    // Bob's account is read again (it may have changed); his tariff is not.
    open_an_account(3998);
    assert_eq!(sms_charge_now(), "0.05");
    assert_eq!(loads(), (tariffs, accounts + 1));
    assert_eq!(sms_charge_now(), "0.05");
    assert_eq!(loads(), (tariffs, accounts + 1));

    // A change to tariff data drops both.
    run("UPDATE rating.rates SET price = 0.08 WHERE rate_id = 2003");
    assert_eq!(sms_charge_now(), "0.08");
    assert_eq!(loads(), (tariffs + 1, accounts + 2));

    // Without the accounts' marker (a schema from before 0.3.0), a change to
    // accounts drops everything, as it did then.
    run("ALTER EXTENSION pg_rating DROP TABLE rating.account_cache_marker");
    run("DROP TABLE rating.account_cache_marker");
    open_an_account(3999);
    assert_eq!(sms_charge_now(), "0.08");
    assert_eq!(loads(), (tariffs + 2, accounts + 3));
    assert_books_balance();
}
