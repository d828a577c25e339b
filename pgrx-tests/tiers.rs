// Tiers and allowances through SQL: the period's units counted per account,
// each row charged the difference it makes, credits where volume tiers fall,
// bundles used up first, whole months rerated in order, and what cannot be
// priced this way refused.

/// Cloud egress in EUR: first 100 GB at 0.09, next 400 at 0.085, beyond at
/// 0.07 (graduated); and the same list as volume tiers for 'egress_volume'.
const EGRESS: &str = "
    INSERT INTO rating.rates (rate_id, tariff_id, service, pricing_model, price) VALUES
        (2401, 1001, 'egress', 'graduated', 0),
        (2402, 1001, 'egress_volume', 'volume', 0);
    INSERT INTO rating.rate_tiers (rate_id, tier_from, tier_to, price) VALUES
        (2401, 0, 100, 0.09), (2401, 100, 500, 0.085), (2401, 500, NULL, 0.07),
        (2402, 0, 100, 0.09), (2402, 100, 500, 0.085), (2402, 500, NULL, 0.07);
    SET CONSTRAINTS ALL IMMEDIATE;";

#[pg_test]
fn graduated_rows_add_up_to_the_formula_on_the_periods_total() {
    fixture();
    run(EGRESS);
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES
         (3002, 'egress', 60, '2026-03-01 10:00+00'), (3002, 'egress', 60, '2026-03-02 10:00+00')");
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3002, 'egress', 400, '2026-03-10 10:00+00')");
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3002, 'egress', 600, '2026-03-31 23:59+00')");
    // April starts afresh: 50 GB at 0.09.
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3002, 'egress', 50, '2026-04-01 00:00+00')");
    // By hand: 5.40, 5.30 (F(120) = 10.70), 33.70 (F(520) = 44.40), 42.00 (F(1120) = 86.40); April 4.50.
    assert_eq!(
        text("SELECT string_agg(charge::text, ' ' ORDER BY usage_id) FROM rating.usage"),
        "5.40 5.30 33.70 42.00 4.50"
    );
    assert_eq!(
        text("SELECT string_agg(counter || ' ' || period_start::date || ' ' || units, ', ' ORDER BY period_start) FROM rating.usage_counters"),
        "tiers egress 2026-03-01 1120, tiers egress 2026-04-01 50"
    );
    // A quote is the next row's price, and leaves the count alone: 10 GB more in March at 0.07.
    assert_eq!(text("SELECT charge::text FROM rating.quote(3002, 'egress', 10, '2026-03-31 12:00+00')"), "0.70");
    // A month with nothing counted yet starts from the first tier.
    assert_eq!(text("SELECT charge::text FROM rating.quote(3002, 'egress', 10, '2026-05-31 12:00+00')"), "0.90");
    assert_eq!(one::<i64>("SELECT units::int8 FROM rating.usage_counters WHERE period_start = '2026-03-01'"), 1120);
    // A statement that fails takes its counting with it.
    run("UPDATE rating.accounts SET account_type = 'prepaid' WHERE account_id = 3002");
    let refused = error_of("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3002, 'egress', 10, '2026-03-31 12:00+00')");
    assert!(refused.starts_with("RT001"), "{refused}");
    assert_eq!(one::<i64>("SELECT units::int8 FROM rating.usage_counters WHERE period_start = '2026-03-01'"), 1120);
    assert_books_balance();
}

#[pg_test]
fn rerating_a_day_of_tiered_usage_reprices_its_whole_month_in_order() {
    fixture();
    run(EGRESS);
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES
         (3002, 'egress', 60,  '2026-03-01 10:00+00'), (3002, 'egress', 60,  '2026-03-02 10:00+00'),
         (3002, 'egress', 400, '2026-03-10 10:00+00'), (3002, 'egress', 600, '2026-03-31 23:59+00'),
         (3002, 'egress', 50,  '2026-04-01 10:00+00')");
    // The price list is corrected: the middle tier is 0.080, not 0.085.
    run("UPDATE rating.rate_tiers SET price = 0.080 WHERE rate_id = 2401 AND tier_from = 100");
    // Rerating 10 March reprices all of March, in order: F(60) = 5.40;
    // F(120) = 10.60, so 5.20; F(520) = 42.40, so 31.80; F(1120) = 84.40, so
    // 42.00. Two rows change, by 0.10 and 1.90; April is left alone.
    assert_eq!(text("SELECT (rating.rerate(3002, '2026-03-10', '2026-03-11'))::text"), "(2,2.00)");
    assert_eq!(
        text("SELECT string_agg(charge::text, ' ' ORDER BY usage_id) FROM rating.usage"),
        "5.40 5.20 31.80 42.00 4.50"
    );
    assert_eq!(text("SELECT sum(charge)::text FROM rating.usage WHERE occurred_at < '2026-04-01'"), "84.40");
    assert_eq!(one::<i64>("SELECT units::int8 FROM rating.usage_counters WHERE period_start = '2026-03-01'"), 1120);
    // Once repriced, again changes nothing.
    assert_eq!(text("SELECT (rating.rerate(3002, '2026-03-01', '2026-04-01'))::text"), "(0,0)");
    assert_books_balance();
}

#[pg_test]
fn volume_tiers_credit_what_a_cheaper_tier_reprices() {
    fixture();
    run(EGRESS);
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES
         (3002, 'egress_volume', 100, '2026-03-01 10:00+00'),
         (3002, 'egress_volume', 1,   '2026-03-02 10:00+00'),
         (3002, 'egress_volume', 399, '2026-03-03 10:00+00'),
         (3002, 'egress_volume', 1,   '2026-03-04 10:00+00')");
    // F(100) = 9.00; F(101) = 8.585 -> 8.59; F(500) = 42.50; F(501) = 35.07.
    assert_eq!(
        text("SELECT string_agg(charge::text, ' ' ORDER BY usage_id) FROM rating.usage"),
        "9.00 -0.41 33.91 -7.43"
    );
    assert_eq!(
        text("SELECT string_agg(kind || ' ' || amount, ', ' ORDER BY entry_no) FROM rating.ledger"),
        "charge -9.00, charge 0.41, charge -33.91, charge 7.43"
    );
    assert_eq!(text("SELECT balance::text FROM rating.balances WHERE account_id = 3002"), "-35.07");
    assert_books_balance();
}

/// 100 national minutes a month, then 0.09 a minute (60/1) and a 0.05
/// connect fee.
const BUNDLE: &str = "
    INSERT INTO rating.allowances (tariff_id, allowance, units, description) VALUES (1001, 'national minutes', 6000, '100 minutes a month');
    INSERT INTO rating.rates (rate_id, tariff_id, service, destination_prefix, allowance, price, per_quantity,
                              first_increment, next_increment, connect_fee) VALUES
        (2501, 1001, 'voice', '49', 'national minutes', 0.09, 60, 60, 1, 0.05)";

#[pg_test]
fn a_bundle_is_used_up_first_and_analysts_can_see_what_is_left() {
    fixture();
    run(BUNDLE);
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination) VALUES
         (3002, 'voice', 3000, '2026-03-01 10:00+00', '+4930111'),
         (3002, 'voice', 2900, '2026-03-02 10:00+00', '+4940222'),
         (3002, 'voice', 200,  '2026-03-03 10:00+00', '+4930111'),
         (3002, 'voice', 61,   '2026-03-04 10:00+00', '+447700900'),
         (3002, 'voice', 30,   '2026-03-05 10:00+00', '+4930111')");
    // Free, free, 100 s paid = 0.15 + 0.05; the UK call is not national: 0.02 + 36 s x 0.06/60;
    // 30 s billed as 60 = 0.09 + 0.05.
    assert_eq!(
        text("SELECT string_agg(charge::text, ' ' ORDER BY usage_id) FROM rating.usage"),
        "0.00 0.00 0.20 0.09 0.14"
    );
    assert_eq!(
        text("SELECT concat_ws(' ', allowance, period_start::date, included, used, remaining) FROM rating.allowance_usage"),
        "national minutes 2026-03-01 6000 6160 0"
    );
    assert_eq!(
        text("SELECT breakdown FROM rating.usage ORDER BY usage_id LIMIT 1"),
        "rate 2501: quantity 3000 billed as 3000 (60/1 increments): 3000 from allowance \"national minutes\" (3000 left); charge 0.00 EUR"
    );
    // The bundle was 5000 s, not 6000: rerating March charges what it no
    // longer covers. 2900 s: 2000 free, 900 s = 1.35 + 0.05; 200 s: 0.30 + 0.05.
    run("UPDATE rating.allowances SET units = 5000");
    assert_eq!(
        text("SELECT (rating.rerate(3002, '2026-03-01', '2026-04-01'))::text"),
        "(2,-1.55)"
    );
    assert_eq!(
        text("SELECT string_agg(charge::text, ' ' ORDER BY usage_id) FROM rating.usage"),
        "0.00 1.40 0.35 0.09 0.14"
    );
    assert_eq!(
        text("SELECT concat_ws(' ', included, used, remaining) FROM rating.allowance_usage"),
        "5000 6160 0"
    );
    assert_books_balance();
}

#[pg_test]
fn tiers_and_allowances_that_cannot_price_are_refused() {
    fixture();
    let cases: &[(&str, &str)] = &[
        ("INSERT INTO rating.rates (rate_id, tariff_id, service, pricing_model, price) VALUES (2601, 1001, 'egress', 'graduated', 0);
          INSERT INTO rating.rate_tiers VALUES (2601, 0, 100, 0.09), (2601, 120, NULL, 0.07);
          SET CONSTRAINTS ALL IMMEDIATE",
         "23514: invalid rate for tariff 1001, service \"egress\", prefix \"\": invalid tiers: a gap at 100: the next tier starts at 120"),
        ("INSERT INTO rating.rates (rate_id, tariff_id, service, pricing_model, price) VALUES (2601, 1001, 'egress', 'volume', 0);
          SET CONSTRAINTS ALL IMMEDIATE",
         "23514: invalid rate for tariff 1001, service \"egress\", prefix \"\": invalid tiers: a tiered rate needs at least one tier"),
        ("INSERT INTO rating.rate_tiers VALUES (2001, 0, NULL, 0.09); SET CONSTRAINTS ALL IMMEDIATE",
         "23514: invalid rate for tariff 1001, service \"voice\", prefix \"\": tiers apply only to graduated and volume pricing, not per_unit"),
        ("INSERT INTO rating.rates (tariff_id, service, pricing_model, price) VALUES (1001, 'egress', 'graduated', 0.09)",
         "23514: invalid rate for tariff 1001, service \"egress\", prefix \"\": price does not apply to graduated pricing, whose tiers carry the prices, and must be 0, not 0.09"),
        ("INSERT INTO rating.rate_tiers VALUES (2001, 100, 50, 0.09)",
         "23514: new row for relation \"rate_tiers\" violates check constraint \"rate_tiers_span_forward\""),
        ("INSERT INTO rating.rates (tariff_id, service, allowance, price) VALUES (1001, 'mms', 'none such', 0.1)",
         "23503: insert or update on table \"rates\" violates foreign key constraint \"rates_allowance_fkey\""),
        ("INSERT INTO rating.allowances VALUES (1001, 'bundle', 0, NULL)",
         "23514: new row for relation \"allowances\" violates check constraint \"allowances_units_positive\""),
        ("INSERT INTO rating.allowances VALUES (1001, 'bundle', 10, NULL);
          INSERT INTO rating.rates (tariff_id, service, pricing_model, allowance, price) VALUES (1001, 'mms', 'flat', 'bundle', 0.1)",
         "23514: invalid rate for tariff 1001, service \"mms\", prefix \"\": an allowance can be drawn on by per_unit pricing only, not flat"),
    ];
    for (statement, expected) in cases {
        let error = error_of(statement);
        assert!(error.starts_with(expected), "{statement}\n  expected: {expected}\n  got:      {error}");
    }
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.rate_tiers"), 0);
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.rates"), 5);
}

#[pg_test]
fn authorize_grants_what_is_left_of_a_bundle_then_what_the_funds_buy() {
    prepaid_with("0.50");
    run(BUNDLE);
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination) VALUES (3002, 'voice', 5000, '2026-03-01 10:00+00', '+4930111')");
    assert_eq!(available(), "0.50");
    let authorize = "SELECT concat_ws(':', quantity, available, rate_id) FROM rating.authorize(3002, 'voice', '+4930111', '2026-03-10 10:00+00')";
    // 1000 s are left free; 0.50 buys 303 s more (0.05 + 0.4545 -> 0.50).
    assert_eq!(text(authorize), "1303:0.50:2501");
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination) VALUES (3002, 'voice', 1303, '2026-03-10 10:00+00', '+4930111')");
    assert_eq!(text("SELECT charge::text FROM rating.usage ORDER BY usage_id DESC LIMIT 1"), "0.50");
    // Nothing left of either: the first minute would cost 0.14.
    assert_eq!(text(authorize), "0:0.00:2501");
    // April's minutes are all there again, and the funds buy nothing beyond.
    assert_eq!(
        text("SELECT quantity::text FROM rating.authorize(3002, 'voice', '+4930111', '2026-04-01 10:00+00')"),
        "6000"
    );
    assert_books_balance();
}

#[pg_test]
fn authorize_on_tiers_prices_the_grant_on_top_of_the_periods_units() {
    prepaid_with("10.10");
    run(EGRESS);
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3002, 'egress', 90, '2026-03-01 10:00+00')");
    assert_eq!(available(), "2.00");
    // F(90) = 8.10: 2.00 buys 10 GB at 0.09 and 12 at 0.085 (F(112) = 10.02);
    // a 23rd would make F(113) = 10.11, 2.01.
    assert_eq!(
        text("SELECT quantity::text FROM rating.authorize(3002, 'egress', NULL, '2026-03-20 10:00+00')"),
        "22"
    );
    let quote = |gb: i32| text(&format!("SELECT charge::text FROM rating.quote(3002, 'egress', {gb}, '2026-03-20 10:00+00')"));
    assert_eq!((quote(22).as_str(), quote(23).as_str()), ("1.92", "2.01"));
    // Reading the count locks nothing and counts nothing.
    assert_eq!(one::<i64>("SELECT units::int8 FROM rating.usage_counters WHERE account_id = 3002"), 90);
    assert_books_balance();
}
