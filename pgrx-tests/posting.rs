// The trigger path: every way of inserting usage prices and posts every row.

#[pg_test]
fn single_row_insert_is_priced_and_posted() {
    fixture();
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination)
         VALUES (3001, 'voice', 61, '2026-03-01 10:00+00', '+33123456')");
    let row = text(
        "SELECT concat_ws('|', charge, currency, tariff_id, rate_id, billed_quantity) FROM rating.usage WHERE account_id = 3001",
    );
    assert_eq!(row, "0.24|EUR|1001|2001|120");
    assert_eq!(text("SELECT balance::text FROM rating.balances WHERE account_id = 3001"), "-0.24");
    assert_eq!(
        text("SELECT concat_ws('|', entry_no, kind, amount) FROM rating.ledger WHERE account_id = 3001"),
        "1|charge|-0.24"
    );
    assert!(text("SELECT breakdown FROM rating.usage WHERE account_id = 3001").contains("billed as 120"));
    assert_books_balance();
}

#[pg_test]
fn multi_row_insert_numbers_entries_per_account() {
    fixture();
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination) VALUES
         (3001, 'voice', 61, '2026-03-01 10:00+00', '33123'),
         (3001, 'voice', 31, '2026-03-01 11:00+00', '+442079460000'),
         (3002, 'sms',    1, '2026-03-01 12:00+00', NULL),
         (3002, 'data', 2.3, '2026-03-01 13:00+00', NULL),
         (3002, 'data', 0.5, '2026-03-01 14:00+00', NULL)");
    // By hand: 0.24; 36 s at 0.06/min + 0.02 = 0.056 -> 0.06; 0.05; 3 MB = 0.03; 1 MB = 0.01 -> minimum 0.03.
    assert_eq!(
        text("SELECT string_agg(charge::text, ',' ORDER BY usage_id) FROM rating.usage"),
        "0.24,0.06,0.05,0.03,0.03"
    );
    assert_eq!(
        text("SELECT string_agg(account_id || ':' || balance, ',' ORDER BY account_id) FROM rating.balances WHERE last_entry_no > 0"),
        "3001:-0.30,3002:-0.11"
    );
    assert_eq!(
        text("SELECT string_agg(account_id || '#' || entry_no, ',' ORDER BY account_id, entry_no) FROM rating.ledger"),
        "3001#1,3001#2,3002#1,3002#2,3002#3"
    );
    assert_books_balance();
}

#[pg_test]
fn insert_select_matches_an_independent_sql_formula() {
    fixture();
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
         SELECT 3002, 'voice', (g * 7) % 600, '2026-03-01'::timestamptz + g * interval '1 minute'
           FROM generate_series(1, 2000) g");
    // 0.12 per started minute, 60/60, zero seconds free; rounding half-up to cents.
    let expected = text(
        "SELECT sum(round(CASE WHEN q = 0 THEN 0 ELSE ceil(q / 60.0) * 0.12 END, 2))::text
           FROM (SELECT (g * 7) % 600 AS q FROM generate_series(1, 2000) g) s",
    );
    assert_eq!(text("SELECT sum(charge)::text FROM rating.usage"), expected);
    assert_eq!(text("SELECT (-balance)::text FROM rating.balances WHERE account_id = 3002"), expected);
    assert_eq!(one::<i64>("SELECT last_entry_no FROM rating.balances WHERE account_id = 3002"), 2000);
    assert_books_balance();
}

#[pg_test]
fn copy_from_a_file_prices_and_posts_every_row() {
    fixture();
    let path = format!("/tmp/pg_rating_copy_test_{}.csv", std::process::id());
    run(&format!(
        "COPY (SELECT 3001 AS account_id, 'sms' AS service, 1 AS quantity, '2026-05-01'::timestamptz + g * interval '1 s' AS occurred_at
                 FROM generate_series(1, 500) g) TO '{path}' (FORMAT csv)"
    ));
    run(&format!("COPY rating.usage (account_id, service, quantity, occurred_at) FROM '{path}' (FORMAT csv)"));
    let _ = std::fs::remove_file(&path);
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage WHERE charge = 0.05"), 500);
    assert_eq!(text("SELECT balance::text FROM rating.balances WHERE account_id = 3001"), "-25.00");
    assert_books_balance();
}

#[pg_test]
fn a_rolled_back_insert_leaves_nothing() {
    fixture();
    run("DO $$ BEGIN
           INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3002, 'sms', 1, now());
           RAISE EXCEPTION 'roll me back';
         EXCEPTION WHEN raise_exception THEN NULL;
         END $$");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage"), 0);
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger"), 0);
    assert_eq!(text("SELECT concat_ws('|', balance, last_entry_no) FROM rating.balances WHERE account_id = 3002"), "0|0");
}

#[pg_test]
fn one_bad_row_rejects_the_whole_statement() {
    fixture();
    let error = error_of("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES
           (3002, 'sms', 1, now()), (3002, 'fax', 1, now()), (3002, 'sms', 1, now())");
    assert!(error.starts_with("P0002: no rate for service \"fax\""), "{error}");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage"), 0);
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger"), 0);
    assert_eq!(text("SELECT balance::text FROM rating.balances WHERE account_id = 3002"), "0");
}

#[pg_test]
fn a_repeated_event_id_is_charged_once() {
    fixture();
    let insert = "INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at)
                  VALUES (3002, 'cdr-1', 'sms', 1, now())";
    run(insert);
    let error = error_of(insert);
    assert!(error.starts_with("23505:") && error.contains("usage_event_id_unique"), "{error}");
    run(&format!("{insert} ON CONFLICT DO NOTHING"));
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage"), 1);
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger"), 1);
    assert_eq!(text("SELECT balance::text FROM rating.balances WHERE account_id = 3002"), "-0.05");
    assert_books_balance();
}

#[pg_test]
fn zero_quantity_is_recorded_and_charged_nothing() {
    fixture();
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination) VALUES (3002, 'voice', 0, now(), '44')");
    assert_eq!(text("SELECT charge::text FROM rating.usage"), "0.00");
    assert_eq!(text("SELECT amount::text FROM rating.ledger"), "0.00");
    assert_books_balance();
}

#[pg_test]
fn the_rate_version_in_force_at_occurred_at_prices_the_event() {
    fixture();
    run("UPDATE rating.rates SET valid_to = '2026-06-01 00:00+00' WHERE rate_id = 2003;
         INSERT INTO rating.rates (rate_id, tariff_id, service, valid_from, price) VALUES (2005, 1001, 'sms', '2026-06-01 00:00+00', 0.07)");
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES
         (3002, 'sms', 1, '2026-05-31 23:59:59.999999+00'), (3002, 'sms', 1, '2026-06-01 00:00+00')");
    assert_eq!(
        text("SELECT string_agg(rate_id || ':' || charge, ',' ORDER BY occurred_at) FROM rating.usage"),
        "2003:0.05,2005:0.07"
    );
    // A later price change never touches what is already posted.
    run("UPDATE rating.rates SET price = 0.50 WHERE rate_id = 2005");
    assert_eq!(text("SELECT sum(charge)::text FROM rating.usage"), "0.12");
    assert_books_balance();
}

#[pg_test]
fn the_subscription_in_force_at_occurred_at_names_the_tariff() {
    fixture();
    run("INSERT INTO rating.tariffs (tariff_id, code, name, currency) VALUES (1003, 'TEST-CHEAP', 'Cheap', 'EUR');
         INSERT INTO rating.rates (tariff_id, service, price) VALUES (1003, 'sms', 0.01);
         UPDATE rating.subscriptions SET valid_to = '2026-07-01 00:00+00' WHERE account_id = 3001;
         INSERT INTO rating.subscriptions (account_id, tariff_id, valid_from) VALUES (3001, 1003, '2026-07-01 00:00+00')");
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES
         (3001, 'sms', 1, '2026-06-30 12:00+00'), (3001, 'sms', 1, '2026-07-01 12:00+00')");
    assert_eq!(
        text("SELECT string_agg(tariff_id || ':' || charge, ',' ORDER BY occurred_at) FROM rating.usage"),
        "1001:0.05,1003:0.01"
    );
    assert_books_balance();
}

#[pg_test]
fn the_ledger_and_rated_usage_cannot_be_rewritten() {
    fixture();
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3002, 'sms', 1, now())");
    let attempts = [
        ("UPDATE rating.ledger SET amount = 0", "0A000: rating.ledger does not allow UPDATE"),
        ("DELETE FROM rating.ledger", "0A000: rating.ledger does not allow DELETE"),
        ("TRUNCATE rating.ledger CASCADE", "0A000: rating.ledger does not allow TRUNCATE"),
        ("UPDATE rating.usage SET quantity = 2", "0A000: rating.usage does not allow UPDATE"),
        ("DELETE FROM rating.usage", "0A000: rating.usage does not allow DELETE"),
        ("TRUNCATE rating.usage", "0A000: rating.usage does not allow TRUNCATE"),
    ];
    for (statement, expected) in attempts {
        assert_eq!(error_of(statement), expected);
    }
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger"), 1);
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage"), 1);
    assert_books_balance();
}

/// Every ledger column a charge's posting decides, per entry of the account
/// in entry order, with its usage row's place among the account's.
fn charge_entries(account_id: i64) -> String {
    text(&format!(
        "SELECT string_agg(concat_ws('|', entry_no, kind, amount, currency, description, over_limit, late,
                                     (SELECT count(*) FROM rating.usage u WHERE u.account_id = l.account_id AND u.usage_id < l.usage_id)),
                           E'\\n' ORDER BY entry_no)
           FROM rating.ledger l WHERE account_id = {account_id}"
    ))
}

#[pg_test]
fn every_posting_path_writes_the_same_entries() {
    fixture();
    // Five accounts on tariff 1001, invoiced through March: the first row,
    // at 23:30 on 31 March, is late on each. 3001 has a spending floor
    // (a credit limit its charges never reach).
    run("INSERT INTO rating.accounts (account_id, name, currency) VALUES (3005, 'Erin', 'EUR'), (3006, 'Frank', 'EUR'), (3007, 'Grace', 'EUR')");
    run("INSERT INTO rating.subscriptions (account_id, tariff_id, valid_from)
         SELECT a, 1001, '2026-01-01 00:00+00' FROM unnest(ARRAY[3003, 3005, 3006, 3007]) a");
    run("UPDATE rating.accounts SET credit_limit = 1000 WHERE account_id = 3001");
    run("SELECT rating.close_period(a, '2026-04-01 00:00+00') FROM unnest(ARRAY[3001, 3002, 3003, 3005, 3006, 3007]) a");
    let settings = "SELECT current_setting('work_mem') || ' ' || current_setting('jit')";
    let settings_before = text(settings);
    let rows = "SELECT {account}, (ARRAY['voice', 'sms', 'data'])[g % 3 + 1], g * 7 % 100,
                       '2026-03-31 22:30+00'::timestamptz + g * interval '1 hour',
                       CASE WHEN g % 2 = 0 THEN '+44' || g END
                  FROM generate_series(1, 40) g ORDER BY g";
    let columns = "account_id, service, quantity, occurred_at, destination";
    let insert = format!("INSERT INTO rating.usage ({columns}) ");
    // Posted by rating.post_usage() itself, by account: 3002, twenty
    // statements of one row, then ten of two; 3005 and 3006, forty
    // statements of a row of each. In two passes: 3003, one statement of
    // its forty rows and 961 of 3004. By the set-based statement: 3007, one
    // statement of its forty rows and 961 of 3004 inserted against the order
    // of their usage ids. 3001: forty rows, handed to
    // rating.post_usage_charges() for its spending floor.
    let direct_rows = rows.replace("{account}", "3002");
    for g in 0..20 {
        run(&format!("{insert} {direct_rows} OFFSET {g} LIMIT 1"));
    }
    for g in (20..40).step_by(2) {
        run(&format!("{insert} {direct_rows} OFFSET {g} LIMIT 2"));
    }
    for g in 0..40 {
        run(&format!(
            "{insert} SELECT * FROM ({} OFFSET {g} LIMIT 1) erin UNION ALL SELECT * FROM ({} OFFSET {g} LIMIT 1) frank",
            rows.replace("{account}", "3005"),
            rows.replace("{account}", "3006")
        ));
    }
    let filler = "SELECT 3004, 'voice', 60, '2026-03-31 22:30+00', NULL FROM generate_series(1, 961)";
    run(&format!(
        "{insert} SELECT * FROM ({}) carol UNION ALL {filler}",
        rows.replace("{account}", "3003")
    ));
    run(&format!(
        "INSERT INTO rating.usage (usage_id, {columns}) OVERRIDING SYSTEM VALUE
         SELECT * FROM ({}) grace
         UNION ALL SELECT 1000100000 + g, 3004, 'voice', 60, '2026-03-31 22:30+00', NULL FROM generate_series(1, 961) g",
        rows.replace("{account}", "1000000000 + g, 3007")
            .replace("ORDER BY g", "ORDER BY g DESC")
    ));
    run(&format!("{insert} {}", rows.replace("{account}", "3001")));
    let direct = charge_entries(3002);
    assert_eq!(direct.lines().count(), 40);
    // 7 sms at 0.05, late; then 14 MB of data at 0.01 to +442, on time.
    assert!(direct.starts_with("1|charge|-0.35|EUR|sms, quantity 7|f|t|0\n2|charge|-0.14|EUR|data to +442, quantity 14|f|f|1\n"), "{direct}");
    let balance = |account: i64| text(&format!("SELECT balance::text FROM rating.balances WHERE account_id = {account}"));
    for account in [3005, 3006, 3003, 3007, 3001] {
        assert_eq!(direct, charge_entries(account), "account {account}");
        assert_eq!(balance(3002), balance(account), "account {account}");
    }
    // The posting trigger's work_mem and jit end with it.
    assert_eq!(text(settings), settings_before);
    assert_books_balance();
}

#[pg_test]
fn the_set_based_statement_has_its_own_settings_and_leaves_the_sessions() {
    fixture();
    run("SET LOCAL work_mem = '4MB'");
    run("SET LOCAL jit = on");
    // What the posting statements run with, seen by a trigger of the ledger.
    run("CREATE TEMP TABLE seen (entries bigint, work_mem text, jit text)");
    run("CREATE FUNCTION pg_temp.note_settings() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             INSERT INTO seen SELECT count(*), current_setting('work_mem'), current_setting('jit') FROM new_entries;
             RETURN NULL;
         END $$");
    run("CREATE TRIGGER note_settings AFTER INSERT ON rating.ledger REFERENCING NEW TABLE AS new_entries
         FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.note_settings()");
    let insert = "INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES";
    run(&format!("{insert} (3001, 'sms', 1, '2026-03-01 10:00+00'), (3002, 'sms', 1, '2026-03-01 10:00+00')"));
    run(&format!("{insert} (3002, 'sms', 1, '2026-03-01 11:00+00')"));
    assert_eq!(
        text("SELECT string_agg(entries || ' ' || work_mem || ' ' || jit, ', ' ORDER BY ctid) FROM seen"),
        "2 64MB off, 1 4MB on"
    );
    assert_eq!(text("SELECT current_setting('work_mem') || ' ' || current_setting('jit')"), "4MB on");
    assert_books_balance();
}

#[pg_test]
fn a_statement_of_one_account_numbers_its_entries_in_usage_order() {
    fixture();
    // Inserted in the opposite order of their usage ids, as every posting
    // path numbers entries.
    run("INSERT INTO rating.usage (account_id, usage_id, service, quantity, occurred_at) OVERRIDING SYSTEM VALUE
         VALUES (3002, 9003, 'sms', 3, '2026-03-01 10:00+00'), (3002, 9002, 'sms', 2, '2026-03-01 10:00+00'),
                (3002, 9001, 'sms', 1, '2026-03-01 10:00+00')");
    assert_eq!(
        text("SELECT string_agg(entry_no || ':' || usage_id || ':' || amount, ' ' ORDER BY entry_no)
                FROM rating.ledger WHERE account_id = 3002"),
        "1:9001:-0.05 2:9002:-0.10 3:9003:-0.15"
    );
    assert_eq!(text("SELECT balance::text FROM rating.balances WHERE account_id = 3002"), "-0.30");
    assert_books_balance();
}

#[pg_test]
fn a_large_statement_numbers_its_entries_in_usage_order_however_inserted() {
    fixture();
    // 1,001 rows of one account in the order of their usage ids, then
    // 1,001 inserted in the opposite order: each numbered by usage id.
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
         SELECT 3002, 'sms', g, '2026-03-01 10:00+00' FROM generate_series(1, 1001) g");
    run("INSERT INTO rating.usage (account_id, usage_id, service, quantity, occurred_at) OVERRIDING SYSTEM VALUE
         SELECT 3002, 1000000000 + g, 'sms', g, '2026-03-01 10:00+00' FROM generate_series(1001, 1, -1) g");
    assert_eq!(
        one::<i64>("SELECT count(*) FROM (SELECT entry_no, row_number() OVER (ORDER BY usage_id) AS nth
                                             FROM rating.ledger WHERE account_id = 3002) e
                     WHERE entry_no = nth"),
        2002
    );
    // One SMS, then 1,001, in each statement.
    assert_eq!(
        text("SELECT string_agg(entry_no || ':' || amount, ' ' ORDER BY entry_no)
                FROM rating.ledger WHERE account_id = 3002 AND entry_no IN (1, 1001, 1002, 2002)"),
        "1:-0.05 1001:-50.05 1002:-0.05 2002:-50.05"
    );
    assert_eq!(
        text("SELECT string_agg(usage_id::text, ' ' ORDER BY entry_no) FROM rating.ledger WHERE account_id = 3002 AND entry_no IN (1002, 2002)"),
        "1000000001 1000001001"
    );
    assert_eq!(one::<i64>("SELECT last_entry_no FROM rating.balances WHERE account_id = 3002"), 2002);
    assert_books_balance();
}

#[pg_test]
fn a_large_statement_is_handed_over_for_a_floor_a_reservation_or_an_alert() {
    fixture();
    let sms = |account: i64, rows: i64| {
        format!("SELECT {account}, 'sms', 1, now(), NULL::bigint FROM generate_series(1, {rows})")
    };
    let insert = "INSERT INTO rating.usage (account_id, service, quantity, occurred_at, reservation_id)";
    let balance = |account: i64| text(&format!("SELECT balance::text FROM rating.balances WHERE account_id = {account}"));
    // A spending floor: 1,001 SMS (50.05) of a prepaid 50.00 are refused
    // whole, 1,000 posted.
    run("UPDATE rating.accounts SET account_type = 'prepaid' WHERE account_id = 3002");
    run("SELECT rating.post_payment(3002, 50.00, 'topup-1')");
    let refused = error_of(&format!("{insert} {}", sms(3002, 1001)));
    assert!(refused.starts_with("RT001: usage would take account 3002 below its spending floor"), "{refused}");
    run(&format!("{insert} {} UNION ALL {}", sms(3001, 1000), sms(3002, 1000)));
    assert_eq!((balance(3001), balance(3002)), ("-50.00".into(), "0.00".into()));
    // A reservation, drawn on by one row of 1,002.
    run("SELECT rating.post_payment(3002, 1.00, 'topup-2')");
    let reservation = one::<i64>("SELECT reservation_id FROM rating.reserve(3002, 0.60, 'session-1')");
    run(&format!(
        "{insert} {} UNION ALL SELECT 3002, 'voice', 61, now(), {reservation}",
        sms(3001, 1001)
    ));
    assert_eq!(text("SELECT consumed::text FROM rating.reservations WHERE account_id = 3002"), "0.24");
    assert_eq!((balance(3001), balance(3002)), ("-100.05".into(), "0.76".into()));
    // An alert threshold, crossed by 1,001 rows.
    run("INSERT INTO rating.alert_thresholds (account_id, threshold) VALUES (3001, -100.10)");
    run(&format!("{insert} {}", sms(3001, 1001)));
    assert_eq!(
        text("SELECT string_agg(concat_ws(':', account_id, threshold, direction, balance_before, balance_after), ',') FROM rating.alerts"),
        "3001:-100.10:down:-100.05:-150.10"
    );
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage"), 4003);
    assert_books_balance();
}

#[pg_test]
fn a_statement_for_an_account_without_its_balance_row_is_refused() {
    fixture();
    run("DELETE FROM rating.balances WHERE account_id = 3002");
    // Rows of 3002 alone: the one-account statement finds no balance, and
    // leaves the refusal to rating.post_usage_charges().
    let refused = error_of(
        "INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
         VALUES (3002, 'sms', 2, '2026-03-01 10:00+00'), (3002, 'sms', 3, '2026-03-01 10:01+00')",
    );
    assert_eq!(
        refused,
        "23503: 2 usage rows were rated but only 0 posted: an account lost its balance row during the statement"
    );
    // A single row: found no balance to lock, and left to the same refusal.
    let refused = error_of("INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
                            VALUES (3002, 'sms', 2, '2026-03-01 10:00+00')");
    assert_eq!(
        refused,
        "23503: 1 usage row was rated but only 0 posted: an account lost its balance row during the statement"
    );
    // 3001 without a spending floor (the plain statement posts it), then
    // with one (rating.post_usage_charges() does).
    for credit_limit in ["NULL", "1000"] {
        run(&format!("UPDATE rating.accounts SET credit_limit = {credit_limit} WHERE account_id = 3001"));
        let refused = error_of(
            "INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
             VALUES (3001, 'sms', 1, '2026-03-01 10:00+00'), (3002, 'sms', 2, '2026-03-01 10:00+00'),
                    (3002, 'sms', 3, '2026-03-01 10:01+00')",
        );
        assert_eq!(
            refused,
            "23503: 3 usage rows were rated but only 1 posted: an account lost its balance row during the statement",
            "credit limit {credit_limit}"
        );
    }
    // A large statement: locks 3001's balance, finds none for 3002, and
    // leaves the refusal to the set-based statement.
    run("UPDATE rating.accounts SET credit_limit = NULL WHERE account_id = 3001");
    let refused = error_of(
        "INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
         SELECT 3001 + g % 2, 'sms', 1, '2026-03-01 10:00+00' FROM generate_series(1, 1002) g",
    );
    assert_eq!(
        refused,
        "23503: 1002 usage rows were rated but only 501 posted: an account lost its balance row during the statement"
    );
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage"), 0);
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger"), 0);
}

#[pg_test]
fn a_small_statement_after_a_large_one_reads_accounts_by_key() {
    fixture();
    open_bulk_accounts(3000);
    run("ANALYZE rating.accounts, rating.balances");
    let calls = |rows: i32| {
        format!(
            "INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
             SELECT 10001 + g % 3000, 'sms', 1, '2026-03-01 00:00+00'::timestamptz + g * interval '1 second'
               FROM generate_series(1, {rows}) g"
        )
    };
    // The session's posting plans are made by this statement, for 6,000
    // rows over 3,000 accounts...
    run(&calls(6000));
    // (A plan made for it once hashed every account, and went on doing so
    // for every later statement of the session, whatever its size.)
    let account_scans = "SELECT sum(seq_scan)::bigint FROM pg_stat_xact_user_tables
                          WHERE relid IN ('rating.accounts'::regclass, 'rating.balances'::regclass)";
    let before = one::<i64>(account_scans);
    // ...and must still look up the accounts and balances of a 3-row or a
    // 30-row statement by key.
    run(&calls(3));
    run(&calls(30));
    assert_eq!(one::<i64>(account_scans), before);
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger WHERE account_id > 10000"), 6033);
    assert_books_balance();
}

/// This transaction's updates of balances, and how many of them were HOT.
fn balance_updates() -> (i64, i64) {
    (
        one::<i64>("SELECT pg_stat_get_xact_tuples_updated('rating.balances'::regclass)"),
        one::<i64>("SELECT pg_stat_get_xact_tuples_hot_updated('rating.balances'::regclass)"),
    )
}

#[pg_test]
fn a_statement_moves_every_balance_of_its_pages_without_new_index_entries() {
    fixture();
    // 600 accounts opened together: their balance rows fill whole pages,
    // and one statement then moves every one of them.
    open_bulk_accounts(600);
    let (all_before, hot_before) = balance_updates();
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
         SELECT 10000 + g, 'sms', 1, '2026-03-01 00:00+00' FROM generate_series(1, 600) g");
    let (all_after, hot_after) = balance_updates();
    // Each new version stayed on its page (the table's fillfactor leaves
    // the room): no new entry in balances_pkey.
    assert_eq!((all_after - all_before, hot_after - hot_before), (600, 600));
    assert_books_balance();
}

#[pg_test]
fn a_small_statement_for_an_account_with_a_spending_floor_is_checked() {
    fixture();
    run("UPDATE rating.accounts SET account_type = 'prepaid' WHERE account_id = 3002");
    run("SELECT rating.post_payment(3002, 0.15, 'p-1')");
    let sms = &one_sms_now(3002);
    run(sms);
    // Three rows of the one account, 0.15 against the 0.10 left: refused
    // whole, then two of them (0.10) posted.
    let three = format!("{sms}, (3002, 'sms', 1, now()), (3002, 'sms', 1, now())");
    let refused = error_of(&three);
    assert!(refused.starts_with("RT001: usage would take account 3002 below its spending floor"), "{refused}");
    run(&format!("{sms}, (3002, 'sms', 1, now())"));
    let refused = error_of(sms);
    assert!(refused.starts_with("RT001: usage would take account 3002 below its spending floor"), "{refused}");
    assert_eq!(text("SELECT balance::text FROM rating.balances WHERE account_id = 3002"), "0.00");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage WHERE account_id = 3002"), 3);
    assert_books_balance();
}

#[pg_test]
fn a_single_row_is_checked_against_a_floor_set_after_its_account_was_read() {
    fixture();
    let sms = &one_sms_now(3002);
    // The account read by index, then (no index found by its name) by query.
    for reader in ["index", "query"] {
        if reader == "query" {
            run("DROP INDEX rating.subscriptions_by_account");
            run("ALTER INDEX rating.subscriptions_no_overlap RENAME TO renamed_by_hand");
        }
        run("UPDATE rating.accounts SET account_type = 'postpaid' WHERE account_id = 3002");
        // Posted by the single-row path, which read (and cached) the
        // account without a floor...
        run(sms);
        // ...which it now has, at 0, above the balance.
        run("UPDATE rating.accounts SET account_type = 'prepaid' WHERE account_id = 3002");
        let refused = error_of(sms);
        assert!(refused.starts_with("RT001: usage would take account 3002 below its spending floor"), "{reader}: {refused}");
    }
    assert_eq!(text("SELECT balance::text FROM rating.balances WHERE account_id = 3002"), "-0.10");
    assert_books_balance();
}

#[pg_test]
fn a_large_statement_for_an_account_with_a_spending_floor_is_checked() {
    fixture();
    run("UPDATE rating.accounts SET account_type = 'prepaid' WHERE account_id = 3002");
    run("SELECT rating.post_payment(3002, 0.12, 'p-1')");
    // Two accounts, four rows: the set-based statement's size, with three
    // SMS at 0.05 for 3002, which holds 0.12.
    let refused = error_of(
        "INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
         SELECT account_id, 'sms', 1, now() FROM unnest(ARRAY[3001, 3002, 3002, 3002]) account_id",
    );
    assert!(refused.starts_with("RT001: usage would take account 3002 below its spending floor of 0 EUR"), "{refused}");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage"), 0);
    assert_eq!(text("SELECT string_agg(account_id || ':' || balance, ',' ORDER BY account_id) FROM rating.balances WHERE account_id < 3003"), "3001:0,3002:0.12");
    assert_books_balance();
}

/// A table `seen` and a trigger function `pg_temp.note_row()` that notes
/// in it the table and account of each row it fires for, as a user's
/// trigger of the ledger or balances would.
fn note_rows_seen() {
    run("CREATE TEMP TABLE seen (source text, account_id bigint)");
    run("CREATE FUNCTION pg_temp.note_row() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             INSERT INTO seen VALUES (TG_TABLE_NAME, NEW.account_id);
             RETURN NULL;
         END $$");
}

#[pg_test]
fn a_single_row_is_posted_as_the_tables_changed_by_hand_require() {
    fixture();
    note_rows_seen();
    let sms = one_sms_now(3002);
    let seen = "SELECT coalesce(string_agg(source || ':' || account_id, ','), 'nothing') FROM seen";
    // (a change by hand, a query, what it returns once an SMS of 3002 was
    // inserted, the change undone)
    let cases = [
        // Rechecked by a trigger of PostgreSQL's own at the statement's end.
        (
            "ALTER TABLE rating.ledger ADD CONSTRAINT one_entry_of_a_kind UNIQUE (account_id, kind) DEFERRABLE",
            format!("SELECT tests.error_of($${sms}$$)"),
            "23505: duplicate key value violates unique constraint \"one_entry_of_a_kind\"",
            "ALTER TABLE rating.ledger DROP CONSTRAINT one_entry_of_a_kind",
        ),
        (
            "ALTER TABLE rating.ledger ADD COLUMN source text NOT NULL DEFAULT 'mediation'",
            "SELECT string_agg(DISTINCT source, ',') FROM rating.ledger".to_string(),
            "mediation",
            "ALTER TABLE rating.ledger DROP COLUMN source",
        ),
        (
            "CREATE TRIGGER note_move AFTER UPDATE ON rating.balances FOR EACH ROW EXECUTE FUNCTION pg_temp.note_row()",
            seen.to_string(),
            "balances:3002",
            "DROP TRIGGER note_move ON rating.balances; TRUNCATE seen",
        ),
        (
            "CREATE TRIGGER note_entry AFTER INSERT ON rating.ledger FOR EACH ROW EXECUTE FUNCTION pg_temp.note_row()",
            seen.to_string(),
            "ledger:3002",
            "DROP TRIGGER note_entry ON rating.ledger; TRUNCATE seen",
        ),
        (
            "ALTER TABLE rating.ledger ADD CONSTRAINT entries_under_ten_cents CHECK (amount > -0.10)",
            "SELECT string_agg(entry_no || ':' || amount, ' ' ORDER BY entry_no) FROM rating.ledger WHERE account_id = 3002".to_string(),
            "1:-0.05 2:-0.05 3:-0.05 4:-0.05 5:-0.05",
            "ALTER TABLE rating.ledger DROP CONSTRAINT entries_under_ten_cents",
        ),
        // A dropped column: the entry is written around it.
        (
            "ALTER TABLE rating.ledger ADD COLUMN scratch int; ALTER TABLE rating.ledger DROP COLUMN scratch",
            "SELECT concat_ws('|', entry_no, kind, amount, currency, description, over_limit, late, posted_at = now())
               FROM rating.ledger WHERE account_id = 3002 ORDER BY entry_no DESC LIMIT 1".to_string(),
            "6|charge|-0.05|EUR|sms, quantity 1|f|f|t",
            "",
        ),
    ];
    for (change, query, expected, undo) in cases {
        run(change);
        run(&sms);
        assert_eq!(text(&query), expected, "{change}");
        if !undo.is_empty() {
            run(undo);
        }
    }
    // And a CHECK of the user's refuses a charge it does not admit.
    run("ALTER TABLE rating.ledger ADD CONSTRAINT entries_under_a_cent CHECK (amount > -0.01) NOT VALID");
    assert_eq!(
        error_of(&sms),
        "23514: new row for relation \"ledger\" violates check constraint \"entries_under_a_cent\""
    );
    assert_eq!(text("SELECT balance::text FROM rating.balances WHERE account_id = 3002"), "-0.30");
    assert_books_balance();
}

#[pg_test]
fn rows_of_one_account_fire_the_users_triggers_of_the_ledger_and_balances() {
    fixture();
    note_rows_seen();
    run("CREATE TRIGGER note_entry AFTER INSERT ON rating.ledger FOR EACH ROW EXECUTE FUNCTION pg_temp.note_row()");
    run("CREATE TRIGGER note_move AFTER UPDATE ON rating.balances FOR EACH ROW EXECUTE FUNCTION pg_temp.note_row()");
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
         SELECT 3002, 'sms', g, '2026-03-01 10:00+00' FROM generate_series(1, 3) g");
    assert_eq!(
        text("SELECT string_agg(source || ':' || account_id, ',' ORDER BY source) FROM seen"),
        "balances:3002,ledger:3002,ledger:3002,ledger:3002"
    );
    assert_books_balance();
}

#[pg_test]
fn a_single_row_moving_a_balance_off_its_page_gives_it_a_new_index_entry() {
    fixture();
    let (all_before, hot_before) = balance_updates();
    // The versions of one transaction stay on their page until it fills:
    // then the next is written elsewhere and needs its own index entry.
    let sms = one_sms_now(3002);
    for _ in 0..200 {
        run(&sms);
    }
    let (all_after, hot_after) = balance_updates();
    let (all, hot) = (all_after - all_before, hot_after - hot_before);
    assert_eq!(all, 200);
    assert!(hot < all, "{hot} of {all} updates stayed on their page");
    run("SET LOCAL enable_seqscan = off");
    run("SET LOCAL enable_bitmapscan = off");
    assert_eq!(text("SELECT balance::text FROM rating.balances WHERE account_id = 3002"), "-10.00");
    assert_eq!(one::<i64>("SELECT last_entry_no FROM rating.balances WHERE account_id = 3002"), 200);
    assert_books_balance();
}
