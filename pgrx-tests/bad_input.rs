// Every refused input: the SQLSTATE, a message naming the value, and nothing
// left behind. Each statement runs in its own subtransaction (tests.error_of).

const USAGE: &str = "INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination, currency) VALUES";

/// How the CHECK of rating.usage begins its errors.
const USAGE_CHECK: &str = "23514: new row for relation \"usage\" violates check constraint \"usage_row_well_formed\"";

#[pg_test]
fn bad_usage_rows_are_refused_with_their_sqlstate() {
    fixture();
    let cases: &[(&str, &str)] = &[
        ("(999, 'sms', 1, now(), NULL, NULL)", "23503: account 999 does not exist"),
        ("(3003, 'sms', 1, now(), NULL, NULL)", "P0002: account 3003 has no subscription in force at"),
        ("(3001, 'sms', 1, '2025-12-31 23:00+00', NULL, NULL)", "P0002: account 3001 has no subscription in force at 2025-12-31"),
        ("(3002, 'fax', 1, now(), NULL, NULL)", "P0002: no rate for service \"fax\" in tariff 1001 (account 3002)"),
        ("(3004, 'sms', 1, now(), '+1555', NULL)", "P0002: no rate for service \"sms\" to destination \"+1555\" in tariff 1002"),
        ("(NULL, 'sms', 1, now(), NULL, NULL)", "23502: null value in column \"account_id\""),
        ("(3002, NULL, 1, now(), NULL, NULL)", "23502: null value in column \"service\""),
        ("(3002, 'sms', NULL, now(), NULL, NULL)", "23502: null value in column \"quantity\""),
        ("(3002, 'sms', 1, NULL, NULL, NULL)", "23502: null value in column \"occurred_at\""),
        ("(3002, 'sms', -1, now(), NULL, NULL)", "22003: quantity -1 is negative"),
        ("(3002, 'sms', 'NaN', now(), NULL, NULL)", "22003: quantity NaN is not a finite number"),
        ("(3002, 'sms', 'Infinity', now(), NULL, NULL)", "22003: quantity Infinity is not a finite number"),
        ("(3002, 'sms', 1e20, now(), NULL, NULL)", "22003: quantity 100000000000000000000 exceeds the largest quantity"),
        ("(3002, 'sms', 1e40, now(), NULL, NULL)", "22003: quantity 10000000000000000000000000000000000000000 is outside the range"),
        ("(3002, 'sms', 1, now(), NULL, 'USD')", "22023: usage currency \"USD\" does not match account 3002's currency \"EUR\""),
    ];
    for (values, expected) in cases {
        let error = error_of(&format!("{USAGE} {values}"));
        assert!(error.starts_with(expected), "{values}\n  expected: {expected}\n  got:      {error}");
    }
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage"), 0);
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger"), 0);
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.balances WHERE balance <> 0 OR last_entry_no <> 0"), 0);
}

#[pg_test]
fn a_usage_row_that_arrives_priced_is_refused() {
    fixture();
    for column in ["charge", "status"] {
        let value = if column == "charge" { "0" } else { "'rated'" };
        let error = error_of(&format!(
            "INSERT INTO rating.usage (account_id, service, quantity, occurred_at, {column}) VALUES (3002, 'sms', 1, now(), {value})"
        ));
        assert_eq!(
            error,
            "428C9: usage rows are priced by pg_rating: status and charge must be left NULL on INSERT",
            "{column}"
        );
    }
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage"), 0);
}

#[pg_test]
fn bad_tariff_data_is_refused_on_write() {
    fixture();
    let rate = "INSERT INTO rating.rates (tariff_id, service, destination_prefix, price, first_increment, next_increment, per_quantity, connect_fee, minimum_charge, valid_from, valid_to) VALUES";
    let cases: &[(String, &str)] = &[
        (format!("{rate} (1001, 'mms', '', 0.1, 0, 1, 1, 0, 0, '-infinity', NULL)"),
         "23514: invalid rate for tariff 1001, service \"mms\", prefix \"\": first_increment must be greater than zero, not 0"),
        (format!("{rate} (1001, 'mms', '', 0.1, 1, 0, 1, 0, 0, '-infinity', NULL)"),
         "23514: invalid rate for tariff 1001, service \"mms\", prefix \"\": next_increment must be greater than zero, not 0"),
        (format!("{rate} (1001, 'mms', '', 0.1, 1, 1, -60, 0, 0, '-infinity', NULL)"),
         "23514: invalid rate for tariff 1001, service \"mms\", prefix \"\": per_quantity must be greater than zero, not -60"),
        (format!("{rate} (1001, 'mms', '7', -0.01, 1, 1, 1, 0, 0, '-infinity', NULL)"),
         "23514: invalid rate for tariff 1001, service \"mms\", prefix \"7\": price must not be negative, not -0.01"),
        (format!("{rate} (1001, 'mms', '', 0.1, 1, 1, 1, -1, 0, '-infinity', NULL)"),
         "23514: invalid rate for tariff 1001, service \"mms\", prefix \"\": connect_fee must not be negative, not -1"),
        (format!("{rate} (1001, 'mms', '', 0.1, 1, 1, 1, 0, -2, '-infinity', NULL)"),
         "23514: invalid rate for tariff 1001, service \"mms\", prefix \"\": minimum_charge must not be negative, not -2"),
        (format!("{rate} (1001, 'mms', '', 'NaN', 1, 1, 1, 0, 0, '-infinity', NULL)"),
         "22003: price NaN is not a finite number"),
        (format!("{rate} (1001, 'mms', '', 0.1, 1, 1, 1, 0, 0, '2026-02-01', '2026-01-01')"),
         "23514: new row for relation \"rates\" violates check constraint \"rates_period_not_empty\""),
        (format!("{rate} (1001, 'voice', '+44', 0.1, 1, 1, 1, 0, 0, '2026-02-01', NULL)"),
         "23P01: conflicting key value violates exclusion constraint \"rates_no_overlapping_versions\""),
        (format!("{rate} (9999, 'sms', '', 0.1, 1, 1, 1, 0, 0, '-infinity', NULL)"),
         "23503: insert or update on table \"rates\" violates foreign key constraint"),
        ("UPDATE rating.rates SET first_increment = 0 WHERE rate_id = 2001".into(),
         "23514: invalid rate for tariff 1001, service \"voice\", prefix \"\": first_increment must be greater than zero, not 0"),
        ("INSERT INTO rating.tariffs (code, name, currency, rounding_mode) VALUES ('X', 'X', 'EUR', 'bankers')".into(),
         "23514: new row for relation \"tariffs\" violates check constraint \"tariffs_rounding_mode_known\""),
        ("INSERT INTO rating.tariffs (code, name, currency) VALUES ('X', 'X', 'XYZ')".into(),
         "23503: insert or update on table \"tariffs\" violates foreign key constraint"),
        ("INSERT INTO rating.subscriptions (account_id, tariff_id) VALUES (3003, 1002)".into(),
         "23514: tariff 1002 prices in USD but account 3003 is in EUR"),
        ("INSERT INTO rating.subscriptions (account_id, tariff_id, valid_from) VALUES (3002, 1001, '2026-01-01')".into(),
         "23P01: conflicting key value violates exclusion constraint \"subscriptions_no_overlap\""),
        ("UPDATE rating.accounts SET currency = 'USD' WHERE account_id = 3002".into(),
         "23514: the currency of rating.accounts 3002 cannot change from EUR to USD"),
        ("UPDATE rating.tariffs SET currency = 'USD' WHERE tariff_id = 1001".into(),
         "23514: the currency of rating.tariffs 1001 cannot change from EUR to USD"),
    ];
    for (statement, expected) in cases {
        let error = error_of(statement);
        assert!(error.starts_with(expected), "{statement}\n  expected: {expected}\n  got:      {error}");
    }
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.rates"), 5);
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.tariffs"), 2);
}

#[pg_test]
fn quote_refuses_what_insert_refuses() {
    fixture();
    let cases = [
        ("rating.quote(3002, NULL, 1)", "23502: null value in column \"service\""),
        ("rating.quote(NULL, 'sms', 1)", "23502: null value in column \"account_id\""),
        ("rating.quote(424242, 'sms', 1)", "23503: account 424242 does not exist"),
        ("rating.quote(3002, 'sms', -5)", "22003: quantity -5 is negative"),
        ("rating.quote(3002, 'fax', 1)", "P0002: no rate for service \"fax\""),
    ];
    for (call, expected) in cases {
        let error = error_of(&format!("SELECT * FROM {call}"));
        assert!(error.starts_with(expected), "{call}\n  expected: {expected}\n  got:      {error}");
    }
}

#[pg_test]
fn odd_times_json_and_strings_are_refused_or_rated_as_documented() {
    fixture();
    let long = "ü".repeat(100_000);
    let abbreviated = format!("{}... (100000 characters)", "ü".repeat(64));
    let insert = "INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination, currency, attributes, event_id) VALUES";
    let refused: Vec<(String, String)> = [
        (format!("{insert} (3002, 'sms', 1, 'infinity', NULL, NULL, '{{}}', NULL)"),
         "22008: occurred_at infinity is not a finite time"),
        (format!("{insert} (3002, 'sms', 1, '-infinity', NULL, NULL, '{{}}', NULL)"),
         "22008: occurred_at -infinity is not a finite time"),
        ("SELECT * FROM rating.quote(3002, 'sms', 1, 'infinity')".into(),
         "22008: occurred_at infinity is not a finite time"),
        ("SELECT * FROM rating.authorize(3002, 'sms', NULL, '-infinity')".into(),
         "22008: occurred_at -infinity is not a finite time"),
        (format!("{insert} (3001, 'sms', 1, '0001-01-01 00:00+00', NULL, NULL, '{{}}', NULL)"),
         "P0002: account 3001 has no subscription in force at 0001-01-01"),
        (format!("{insert} (3002, 'sms', 1, now(), NULL, NULL, '{{\"cell\": ', NULL)"),
         "22P02: invalid input syntax for type json"),
        (format!("{insert} (3002, 'sms', 1, now(), NULL, NULL, '[1, 2]', NULL)"),
         "{usage_check}: attributes must be a JSON object"),
        (format!("{insert} (3002, 'sms', 1, now(), NULL, NULL, 'null', NULL)"),
         "{usage_check}: attributes must be a JSON object"),
        (format!("{insert} (3002, 'sms', 1, now(), NULL, NULL, NULL, NULL)"),
         "23502: null value in column \"attributes\""),
        (format!("{insert} (3002, 'sms', 1, now(), NULL, NULL, '{{}}', '')"),
         "{usage_check}: event_id has 0 characters, not 1 to 200"),
        (format!("{insert} (3002, 'sms', 1, now(), NULL, NULL, '{{}}', repeat('ü', 201))"),
         "{usage_check}: event_id has 201 characters, not 1 to 200"),
        (format!("{insert} (3002, 'données', 1, now(), NULL, NULL, '{{}}', NULL)"),
         "P0002: no rate for service \"données\" in tariff 1001"),
        (format!("{insert} (3002, '{long}', 1, now(), NULL, NULL, '{{}}', NULL)"),
         "P0002: no rate for service \"{abbreviated}\" in tariff 1001"),
        (format!("{insert} (3002, 'sms', 1, now(), NULL, '{long}', '{{}}', NULL)"),
         "22023: usage currency \"{abbreviated}\" does not match"),
    ]
    .into_iter()
    .map(|(statement, expected)| {
        let expected = expected.replace("{abbreviated}", &abbreviated);
        (statement, expected.replace("{usage_check}", USAGE_CHECK))
    })
    .collect();
    for (statement, expected) in &refused {
        let error = error_of(statement);
        assert!(
            error.starts_with(expected),
            "{}\n  expected: {expected}\n  got:      {}",
            &statement[..statement.len().min(300)],
            &error[..error.len().min(300)]
        );
        assert!(error.len() < 400, "an error message of {} bytes", error.len());
    }
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage"), 0);
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger"), 0);

    // What is not refused is rated like any other row: any finite time the
    // subscription covers, any Unicode, a 200-character event id, a
    // 100,000-character destination (the default rate has no prefix).
    run(&format!(
        "{insert}
         (3002, 'sms',   1,  '0001-01-01 00:00+00', NULL, NULL, '{{\"note\": \"🙂\"}}', 'Ω-{}'),
         (3002, 'sms',   1,  '200000-01-01 00:00+00', '📞+44', 'EUR', '{{}}', 'ü'),
         (3002, 'voice', 60, now(), '{long}', NULL, '{{\"x\": [1, {{\"y\": null}}]}}', NULL)",
        "k".repeat(198)
    ));
    assert_eq!(
        text("SELECT string_agg(charge || '/' || rate_id, ',' ORDER BY usage_id) FROM rating.usage"),
        "0.05/2003,0.05/2003,0.12/2001"
    );
    assert_eq!(text("SELECT balance::text FROM rating.balances WHERE account_id = 3002"), "-0.22");

    // A held row's reason is the error a rejection would give, abbreviated too.
    run("SET LOCAL pg_rating.unratable = hold");
    run(&format!(
        "{insert} (3002, '{long}', 1, now(), NULL, NULL, '{{}}', 'held-1')"
    ));
    let reason = text("SELECT hold_reason FROM rating.usage WHERE event_id = 'held-1'");
    let expected = format!("no rate for service \"{abbreviated}\" in tariff 1001 (account 3002) at ");
    assert!(reason.starts_with(&expected), "{reason}");
    assert!(reason.len() < 400, "a hold reason of {} bytes", reason.len());
    assert_books_balance();
}

#[pg_test]
fn malformed_ledger_entries_and_usage_rows_are_refused_by_their_checks() {
    fixture();
    // Rows written past pg_rating's functions, as only a superuser can.
    let entry = |entry_no: i64, kind: &str, amount: &str, usage_id: &str, corrects: &str| {
        format!(
            "INSERT INTO rating.ledger (account_id, entry_no, kind, amount, currency, usage_id, description, corrects_entry_no)
             VALUES (3002, {entry_no}, '{kind}', {amount}, 'EUR', {usage_id}, 'by hand', {corrects})"
        )
    };
    let zero_in_long_form = format!("0.{}", "0".repeat(70));
    let malformed = "23514: ledger entry 900 of account 3002 is malformed:";
    for (kind, amount, usage_id, corrects, broken) in [
        ("fee", "-1", "NULL", "NULL", "unknown kind \"fee\" (charge, reversal, payment, credit, refund or adjustment)"),
        ("charge", "'NaN'", "1", "NULL", "its amount is not a finite number"),
        ("payment", "'Infinity'", "NULL", "NULL", "its amount is not a finite number"),
        ("refund", "'-Infinity'", "NULL", "NULL", "its amount is not a finite number"),
        ("charge", "-1", "NULL", "NULL", "charge entries name the usage row they are for, but this one names none"),
        ("payment", "1", "7", "NULL", "payment entries name no usage row, but this one does"),
        ("reversal", "1", "7", "NULL", "reversal entries name the entry they correct, but this one names none"),
        ("payment", "0", "NULL", "NULL", "payment entries need a positive amount"),
        ("payment", "-1e300", "NULL", "NULL", "payment entries need a positive amount"),
        ("credit", "-0.01", "NULL", "NULL", "credit entries need a positive amount"),
        ("refund", "0.01", "NULL", "NULL", "refund entries need a negative amount"),
        ("refund", "1e-300", "NULL", "NULL", "refund entries need a negative amount"),
        ("adjustment", "0.00", "NULL", "NULL", "adjustment entries need a non-zero amount"),
        ("adjustment", &zero_in_long_form, "NULL", "NULL", "adjustment entries need a non-zero amount"),
    ] {
        let statement = entry(900, kind, amount, usage_id, corrects);
        let error = error_of(&statement);
        let expected = format!("{malformed} {broken}");
        assert!(error.starts_with(&expected), "{statement}\n  expected: {expected}\n  got:      {error}");
    }
    // Both header forms of a numeric, short and long (beyond 10^±252).
    for (entry_no, (kind, amount, usage_id)) in [
        ("adjustment", "-0.01", "NULL"),
        ("payment", "1e300", "NULL"),
        ("refund", "-1e-300", "NULL"),
        ("charge", "0.50", "7"),
        ("charge", "0", "8"),
        ("charge", "-1e-300", "9"),
    ]
    .into_iter()
    .enumerate()
    {
        run(&entry(900 + entry_no as i64, kind, amount, usage_id, "NULL"));
    }
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger WHERE description = 'by hand'"), 6);

    // With the rating trigger off (as on a logical replica), usage must
    // still say whether it was rated or held, consistently.
    run("SET LOCAL session_replication_role = replica");
    let usage = |status: &str, charge: &str, reason: &str| {
        format!(
            "INSERT INTO rating.usage (account_id, service, quantity, occurred_at, status, charge, hold_reason)
             VALUES (3002, 'sms', 1, now(), '{status}', {charge}, {reason})"
        )
    };
    for (statement, broken) in [
        (usage("rated", "NULL", "NULL"), "a rated row needs a charge"),
        (usage("rated", "0.05", "'why'"), "a rated row has no hold reason"),
        (usage("held", "0.05", "'why'"), "a held row has no charge"),
        (usage("held", "NULL", "NULL"), "a held row needs a hold reason"),
        (usage("priced", "0.05", "NULL"), "status \"priced\" is neither rated nor held"),
    ] {
        let error = error_of(&statement);
        let expected = format!("{USAGE_CHECK}: {broken}");
        assert_eq!(error, expected, "{statement}");
    }
    // The detail shows the values the rules read.
    assert_eq!(
        detail_of(&usage("held", "0.05", "'no rate'")),
        "status \"held\", charge 0.05, hold_reason \"no rate\", event_id NULL, attributes a JSON object"
    );
    run(&usage("rated", "0.05", "NULL"));
    run(&usage("held", "NULL", "'no rate'"));
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage"), 2);
    // A rated row's detail, after the trigger priced it.
    run("SET LOCAL session_replication_role = DEFAULT");
    assert_eq!(
        detail_of("INSERT INTO rating.usage (account_id, service, quantity, occurred_at, event_id, attributes)
                   VALUES (3002, 'sms', 1, now(), 'e-1', '[1, 2]')"),
        "status \"rated\", charge 0.05, hold_reason NULL, event_id \"e-1\", attributes a JSON array"
    );
}
