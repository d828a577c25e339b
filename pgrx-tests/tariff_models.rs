// Pricing models through SQL: package, flat, percentage and caps, priced on
// insert as the engine's tables say, and refused on write when they say
// something the model does not use.

const MODEL_RATES: &str = "
    INSERT INTO rating.rates (rate_id, tariff_id, service, pricing_model, price, per_quantity,
                              connect_fee, minimum_charge, maximum_charge, description) VALUES
        (2101, 1001, 'storage_gb', 'package',    5.00, 10, 0,    0,    NULL,  '5.00 per started 10 GB'),
        (2102, 1001, 'api_call',   'flat',       0.05, 1,  0,    0,    NULL,  '0.05 per call'),
        (2103, 1001, 'payment',    'percentage', 2.9,  1,  0.25, 0.30, 10.00, '0.25 + 2.9 %, 0.30 to 10.00 per payment'),
        (2104, 1001, 'roaming',    'per_unit',   0.10, 60, 0,    0,    1.00,  '0.10 a minute, at most 1.00 a call')";

#[pg_test]
fn each_model_prices_as_its_formula_says() {
    fixture();
    run(MODEL_RATES);
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES
         (3002, 'storage_gb', 23,      '2026-03-01 10:00+00'),
         (3002, 'api_call',   7,       '2026-03-01 10:01+00'),
         (3002, 'payment',    120.00,  '2026-03-01 10:02+00'),
         (3002, 'payment',    1.00,    '2026-03-01 10:03+00'),
         (3002, 'payment',    1000.00, '2026-03-01 10:04+00'),
         (3002, 'roaming',    3600,    '2026-03-01 10:05+00'),
         (3002, 'roaming',    90,      '2026-03-01 10:06+00')");
    // By hand: 3 packages x 5.00; one call 0.05; 0.25 + 3.48 = 3.73;
    // 0.25 + 0.029 = 0.279 -> minimum 0.30; 0.25 + 29.00 -> cap 10.00;
    // 60 minutes = 6.00 -> cap 1.00; 90 s = 0.15.
    assert_eq!(
        text("SELECT string_agg(charge || '/' || billed_quantity, ' ' ORDER BY usage_id) FROM rating.usage"),
        "15.00/30 0.05/7 3.73/120.00 0.30/1.00 10.00/1000.00 1.00/3600 0.15/90"
    );
    assert_eq!(text("SELECT balance::text FROM rating.balances WHERE account_id = 3002"), "-30.23");
    assert_eq!(
        text("SELECT breakdown FROM rating.usage WHERE service = 'payment' ORDER BY usage_id LIMIT 1"),
        "rate 2103: 2.9% of 120 = 3.48; connect fee 0.25; charge 3.73 EUR (half_up to 2 decimals)"
    );
    assert_eq!(
        text("SELECT breakdown FROM rating.usage WHERE service = 'storage_gb'"),
        "rate 2101: quantity 23 billed as 3 started packages of 10 at 5 = 15; charge 15.00 EUR (half_up to 2 decimals)"
    );
    // quote and authorize agree with the insert.
    assert_eq!(text("SELECT charge::text FROM rating.quote(3002, 'payment', 1000)"), "10.00");
    run("SELECT rating.post_payment(3001, 12.00, 'top-up')");
    run("UPDATE rating.accounts SET account_type = 'prepaid' WHERE account_id = 3001");
    run("INSERT INTO rating.rates (tariff_id, service, pricing_model, price, per_quantity) VALUES (1001, 'backup_gb', 'package', 5.00, 10)");
    assert_eq!(
        text("SELECT quantity::text FROM rating.authorize(3001, 'backup_gb')"),
        "20"
    );
    assert_books_balance();
}

#[pg_test]
fn terms_a_model_does_not_use_are_refused_on_write() {
    fixture();
    let rate = "INSERT INTO rating.rates (tariff_id, service, pricing_model, price, per_quantity, first_increment, next_increment, minimum_charge, maximum_charge) VALUES";
    let cases = [
        (format!("{rate} (1001, 'x', 'tiered', 1, 1, 1, 1, 0, NULL)"),
         "23514: invalid rate for tariff 1001, service \"x\", prefix \"\": unknown pricing model \"tiered\" (known: per_unit, package, flat, percentage, graduated, volume)"),
        (format!("{rate} (1001, 'x', 'package', 5, 10, 60, 1, 0, NULL)"),
         "23514: invalid rate for tariff 1001, service \"x\", prefix \"\": first_increment does not apply to package pricing and must be left at 1, not 60"),
        (format!("{rate} (1001, 'x', 'flat', 0.05, 1, 1, 6, 0, NULL)"),
         "23514: invalid rate for tariff 1001, service \"x\", prefix \"\": next_increment does not apply to flat pricing and must be left at 1, not 6"),
        (format!("{rate} (1001, 'x', 'percentage', 2.9, 100, 1, 1, 0, NULL)"),
         "23514: invalid rate for tariff 1001, service \"x\", prefix \"\": per_quantity does not apply to percentage pricing and must be left at 1, not 100"),
        (format!("{rate} (1001, 'x', 'percentage', 2.9, 1, 1, 1, 0.30, 0.20)"),
         "23514: invalid rate for tariff 1001, service \"x\", prefix \"\": maximum_charge 0.20 is below minimum_charge 0.30"),
        (format!("{rate} (1001, 'x', 'flat', 1, 1, 1, 1, 0, 'NaN')"),
         "22003: maximum_charge NaN is not a finite number"),
        (format!("{rate} (1001, 'x', NULL, 1, 1, 1, 1, 0, NULL)"),
         "23502: null value in column \"pricing_model\""),
        ("UPDATE rating.rates SET pricing_model = 'flat' WHERE rate_id = 2001".to_string(),
         "23514: invalid rate for tariff 1001, service \"voice\", prefix \"\": first_increment does not apply to flat pricing and must be left at 1, not 60"),
    ];
    for (statement, expected) in &cases {
        let error = error_of(statement);
        assert!(error.starts_with(expected), "{statement}\n  expected: {expected}\n  got:      {error}");
    }
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.rates"), 5);
}
