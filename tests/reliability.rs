//! Trying to break pg_rating the way production would: an upgrade of a
//! database with data, pg_dump and pg_restore, eight sessions mixing usage,
//! payments, reservations and rerating, and the server killed with SIGKILL in
//! the middle of that load. Run by scripts/test.sh against its throwaway
//! server (see tests/client.rs for the environment it passes).

mod common;

use common::{assert_books_balance, count, text, TestDatabase};
use postgres::Client;
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

const FINGERPRINT: &str = include_str!("sql/schema_fingerprint.sql");

fn fingerprint(client: &mut Client) -> Vec<String> {
    client
        .query(FINGERPRINT, &[])
        .unwrap()
        .iter()
        .map(|row| {
            format!(
                "{} {}: {}",
                row.get::<_, String>(0),
                row.get::<_, String>(1),
                row.get::<_, String>(2)
            )
        })
        .collect()
}

/// Usage, a payment, a reservation, an invoice and a late row: the kinds of
/// data a database holds.
const SOME_OF_EVERYTHING: &str = "
    INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at, destination) VALUES
        (3001, 'e-1', 'voice', 61, '2026-03-01 10:00+00', '4420'),
        (3001, 'e-2', 'sms', 3, '2026-03-02 10:00+00', NULL),
        (3002, 'e-3', 'data', 250, '2026-03-03 10:00+00', NULL),
        (3004, 'e-4', 'voice', 125, '2026-03-04 10:00+00', '1212');
    SELECT rating.post_payment(3001, 10, 'pay-1', 'bank transfer');
    SELECT rating.reserve(3002, 2.50, 'session-1', interval '100 years');
    SELECT rating.close_period(3001, '2026-04-01');
    INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at)
        VALUES (3001, 'e-5', 'sms', 1, '2026-03-15 10:00+00');";

const EVERY_TABLE: [&str; 20] = [
    "tenants",
    "tariffs",
    "rates",
    "time_bands",
    "time_band_hours",
    "holidays",
    "rate_tiers",
    "allowances",
    "usage_counters",
    "accounts",
    "balances",
    "subscriptions",
    "reservations",
    "usage",
    "ledger",
    "alert_thresholds",
    "alerts",
    "invoices",
    "invoice_lines",
    "invoice_entries",
];

/// The tables' rows as text, in order: equal strings, equal data.
fn contents(client: &mut Client, tables: &[&str]) -> String {
    tables
        .iter()
        .map(|table| {
            text(
                client,
                &format!("SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM rating.{table} t"),
            )
        })
        .collect::<Vec<_>>()
        .join("\n--\n")
}

/// Every table of `EVERY_TABLE` that the database has, with its columns.
fn tables_and_columns(client: &mut Client) -> Vec<(String, Vec<String>)> {
    client
        .query(
            "SELECT table_name::text, array_agg(quote_ident(column_name) ORDER BY ordinal_position)
               FROM information_schema.columns
              WHERE table_schema = 'rating' AND table_name = ANY ($1)
              GROUP BY table_name ORDER BY table_name",
            &[&EVERY_TABLE.to_vec()],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// The rows of each table as text, reading only the given columns: what
/// an older version stored, compared before and after an update.
fn column_contents(client: &mut Client, tables: &[(String, Vec<String>)]) -> String {
    tables
        .iter()
        .map(|(table, columns)| {
            let row = columns.join(", ");
            text(
                client,
                &format!(
                    "SELECT coalesce(string_agg(({row})::text, E'\\n' ORDER BY ({row})::text), '') FROM rating.{table}"
                ),
            )
        })
        .collect::<Vec<_>>()
        .join("\n--\n")
}

/// Creates release `version` with data, updates it to this version, and
/// checks that the data survived, the schema equals a fresh install, and
/// rating, holding and rerating work on the result.
fn upgrade_keeps_data_and_matches_a_fresh_install(version: &str) {
    let suffix = version.replace('.', "_");
    let fresh = TestDatabase::create(&format!("pg_rating_upgrade_fresh_{suffix}"));
    let old = TestDatabase::create_with(
        &format!("pg_rating_upgrade_old_{suffix}"),
        &format!("CREATE EXTENSION pg_rating VERSION '{version}' CASCADE"),
    );
    let mut client = old.connect();
    client.batch_execute(SOME_OF_EVERYTHING).unwrap();
    // Every column the old version has must keep its values.
    let old_columns = tables_and_columns(&mut client);
    let before = column_contents(&mut client, &old_columns);
    assert_ne!(fingerprint(&mut client), fingerprint(&mut fresh.connect()));

    client
        .batch_execute("ALTER EXTENSION pg_rating UPDATE")
        .unwrap();
    assert_eq!(
        text(
            &mut client,
            "SELECT extversion FROM pg_extension WHERE extname = 'pg_rating'"
        ),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(fingerprint(&mut client), fingerprint(&mut fresh.connect()));

    // The data is all there, and every old usage row has status rated.
    assert_eq!(column_contents(&mut client, &old_columns), before);
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM rating.usage WHERE status = 'rated'"
        ),
        5
    );
    assert_books_balance(&mut client);

    // And today's behaviour works on it: rating, holding, rerating.
    client
        .batch_execute(
            "INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3001, 'sms', 2, now());
             SET pg_rating.unratable = hold;
             INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3001, 'fax', 2, now());
             UPDATE rating.rates SET price = 0.06 WHERE rate_id = 2003;",
        )
        .unwrap();
    assert_eq!(
        text(
            &mut client,
            "SELECT (rating.rerate(3001, '-infinity', 'infinity'))::text"
        ),
        "(3,-0.06)"
    );
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM rating.held_usage"),
        1
    );
    assert_books_balance(&mut client);
}

#[test]
#[ignore = "needs a server: run scripts/test.sh"]
fn upgrade_from_0_1_0_keeps_data_and_matches_a_fresh_install() {
    upgrade_keeps_data_and_matches_a_fresh_install("0.1.0");
}

#[test]
#[ignore = "needs a server: run scripts/test.sh"]
fn upgrade_from_0_2_0_keeps_data_and_matches_a_fresh_install() {
    upgrade_keeps_data_and_matches_a_fresh_install("0.2.0");
}

#[test]
#[ignore = "needs a server: run scripts/test.sh"]
fn upgrade_refuses_rows_the_new_rules_forbid_and_changes_nothing() {
    let old = TestDatabase::create_with(
        "pg_rating_upgrade_refused",
        "CREATE EXTENSION pg_rating VERSION '0.2.0' CASCADE",
    );
    let mut client = old.connect();
    client
        .batch_execute(
            "INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at, attributes)
             VALUES (3002, 'a', 'sms', 1, now(), '[1, 2]'), (3002, 'b', 'sms', 1, now(), '{}')",
        )
        .unwrap();
    let error = client
        .batch_execute("ALTER EXTENSION pg_rating UPDATE")
        .unwrap_err();
    let error = error.as_db_error().expect("a database error");
    assert_eq!(error.code().code(), "23514");
    assert!(
        error
            .message()
            .contains("1 usage rows have an empty or over-long event_id or non-object attributes"),
        "{}",
        error.message()
    );
    assert_eq!(
        text(
            &mut client,
            "SELECT extversion FROM pg_extension WHERE extname = 'pg_rating'"
        ),
        "0.2.0"
    );
    assert_eq!(count(&mut client, "SELECT count(*) FROM rating.usage"), 2);
    assert_books_balance(&mut client);
}

fn run_tool(tool: &str, args: &[&str], options: Option<&str>) -> std::process::Output {
    let bin = std::env::var("PG_RATING_TEST_BIN").expect("PG_RATING_TEST_BIN: run scripts/test.sh");
    let mut command = Command::new(format!("{bin}/{tool}"));
    command.args(args);
    if let Some(options) = options {
        command.env("PGOPTIONS", options);
    }
    command.output().unwrap_or_else(|e| panic!("{tool}: {e}"))
}

#[test]
#[ignore = "needs a server: run scripts/test.sh"]
fn dump_and_restore_keep_the_books_and_rating_works_after() {
    let source = TestDatabase::create("pg_rating_dump_source");
    let mut client = source.connect();
    client.batch_execute(SOME_OF_EVERYTHING).unwrap();
    client
        .batch_execute(
            "INSERT INTO rating.alert_thresholds VALUES (3002, -1);
             INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3002, 'data', 200, now());
             SET pg_rating.unratable = hold;
             INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3003, 'sms', 1, now());
             UPDATE rating.rates SET price = 0.06 WHERE rate_id = 2003;
             SELECT rating.rerate(3001, '-infinity', 'infinity');
             UPDATE rating.tariffs SET time_zone = 'America/New_York' WHERE tariff_id = 1002;
             INSERT INTO rating.time_bands (tariff_id, band) VALUES (1002, 'day'), (1002, 'night');
             INSERT INTO rating.time_band_hours (tariff_id, band, days, starts, ends) VALUES
                 (1002, 'night', '{1,2,3,4,5,6,7}', '00:00', '07:00'), (1002, 'day', '{1,2,3,4,5,6,7}', '07:00', '24:00');
             INSERT INTO rating.holidays VALUES (1002, '2026-07-04', 'night', 'Independence Day');
             INSERT INTO rating.rates (tariff_id, service, time_band, price) VALUES (1002, 'sms', 'night', 0.01), (1002, 'sms', 'day', 0.02);
             INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3004, 'sms', 1, '2026-07-04 15:00+00');
             INSERT INTO rating.rates (rate_id, tariff_id, service, pricing_model, price) VALUES (2401, 1001, 'egress', 'volume', 0);
             INSERT INTO rating.rate_tiers VALUES (2401, 0, 100, 0.09), (2401, 100, NULL, 0.07);
             INSERT INTO rating.allowances VALUES (1001, 'bundle', 100, 'a hundred MMS');
             INSERT INTO rating.rates (tariff_id, service, allowance, price) VALUES (1001, 'mms', 'bundle', 0.30);
             INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES
                 (3002, 'egress', 80, '2026-05-01 10:00+00'), (3002, 'egress', 40, '2026-05-02 10:00+00'),
                 (3002, 'mms', 99, '2026-05-03 10:00+00'), (3002, 'mms', 3, '2026-05-04 10:00+00');",
        )
        .unwrap();
    let dump = std::env::temp_dir().join(format!("pg_rating_dump_{}.custom", std::process::id()));
    let dump = dump.to_str().unwrap();
    let dumped = run_tool("pg_dump", &["-Fc", "-f", dump, "-d", &source.dsn], None);
    assert!(
        dumped.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&dumped.stderr)
    );

    // Restored as the README says: triggers off while the rows go back in.
    let target = TestDatabase::empty("pg_rating_dump_target");
    let restored = run_tool(
        "pg_restore",
        &["--exit-on-error", "-d", &target.dsn, dump],
        Some("-c session_replication_role=replica"),
    );
    assert!(
        restored.status.success(),
        "pg_restore: {}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let mut copy = target.connect();
    assert_eq!(
        contents(&mut copy, &EVERY_TABLE),
        contents(&mut client, &EVERY_TABLE)
    );
    assert_books_balance(&mut copy);

    // Rating goes on where it stopped, with fresh identifiers.
    copy.batch_execute(
        "INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3001, 'sms', 1, now());
         SELECT rating.rate_held();",
    )
    .unwrap();
    assert_eq!(
        count(&mut copy, "SELECT count(*) FROM rating.usage WHERE usage_id > (SELECT max(usage_id) - 1 FROM rating.usage)"),
        1
    );
    // Counting goes on too: 120 GB of May restored, 10 more on volume tiers
    // cost F(130) - F(120) = 9.10 - 8.40.
    copy.batch_execute(
        "INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at) VALUES (3002, 'more', 'egress', 10, '2026-05-20 10:00+00')",
    )
    .unwrap();
    assert_eq!(
        text(
            &mut copy,
            "SELECT charge::text FROM rating.usage WHERE event_id = 'more'"
        ),
        "0.70"
    );
    assert_eq!(
        count(
            &mut copy,
            "SELECT count(*) FROM rating.verify_balances(true)"
        ),
        0
    );
    assert_eq!(
        count(&mut copy, "SELECT count(*) FROM rating.verify_usage(true)"),
        0
    );
    assert_books_balance(&mut copy);

    // Restored with the triggers on, the priced rows are refused rather
    // than charged a second time.
    let careless = TestDatabase::empty("pg_rating_dump_careless");
    let refused = run_tool("pg_restore", &["-d", &careless.dsn, dump], None);
    let errors = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        errors.contains("usage rows are priced by pg_rating"),
        "{errors}"
    );
    let mut careless_client = careless.connect();
    assert_eq!(
        count(&mut careless_client, "SELECT count(*) FROM rating.usage"),
        0
    );
    std::fs::remove_file(dump).ok();
}

/// What one session of the mixed load saw committed, rolled back, or lost
/// in flight when the server died.
#[derive(Default)]
struct Outcome {
    committed: Vec<String>,
    rolled_back: Vec<String>,
    in_doubt: Vec<String>,
    transactions: usize,
}

/// One session's share of the mixed load, until `deadline` or until the
/// server goes away (when `crash_expected`). Sessions 0-5 insert usage on
/// two hot accounts, session 6 pays, reserves and uses the reservation,
/// session 7 corrects the SMS price, rerates and credits. A session takes
/// balance locks in account order, as the README tells applications to. Every error other
/// than losing the server fails the test: no deadlock, no serialization
/// failure may reach a client.
fn mixed_session(
    client: &mut Client,
    session: usize,
    deadline: Instant,
    crash_expected: bool,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut i = 0;
    while Instant::now() < deadline {
        i += 1;
        let key = format!("s{session}-{i}");
        let sql = match session {
            0..=5 => {
                // One statement naming both hot accounts: its balance locks
                // are taken in account order, as every other session's are.
                let account = 3001 + session as i64 % 2;
                format!(
                    "INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at)
                     SELECT {account}, '{key}-' || g, 'sms', 1 + g % 3, now() FROM generate_series(1, 1 + {i} % 4) g
                     UNION ALL VALUES (3002, '{key}-x', 'voice', {i} % 200, now()), (3001, '{key}-y', 'data', 10, now())"
                )
            }
            6 => format!(
                "SELECT rating.post_payment(3001 + {i} % 2, 1.25, '{key}');
                 WITH held AS (SELECT * FROM rating.reserve(3002, 0.40, '{key}', interval '1 hour'))
                 INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at, reservation_id)
                 SELECT 3002, '{key}-r', 'sms', 2, now(), reservation_id FROM held;
                 SELECT rating.release_reservation(3002, max(reservation_id)) FROM rating.reservations
                  WHERE account_id = 3002 AND idempotency_key = '{key}'"
            ),
            _ => format!(
                "UPDATE rating.rates SET price = 0.05 + ({i} % 3) * 0.01 WHERE rate_id = 2003;
                 SELECT rating.rerate(3001 + {i} % 2, '-infinity', 'infinity');
                 SELECT rating.post_credit(3001 + {i} % 2, 0.01, '{key}', 'goodwill')"
            ),
        };
        let result = client.transaction().and_then(|mut transaction| {
            transaction.batch_execute(&sql)?;
            if i % 7 == 0 {
                transaction.rollback().map(|()| false)
            } else {
                transaction.commit().map(|()| true)
            }
        });
        match result {
            Ok(true) => outcome.committed.push(key),
            Ok(false) => outcome.rolled_back.push(key),
            Err(error)
                if crash_expected
                    && (error.is_closed()
                        || error.code().is_none()
                        || error.code().map(|c| c.code().starts_with("57P")) == Some(true)) =>
            {
                outcome.in_doubt.push(key);
                return outcome;
            }
            Err(error) => panic!("session {session}, transaction {i}: {error:?}"),
        }
        outcome.transactions += 1;
    }
    outcome
}

fn run_mixed_load(database: &TestDatabase, run_for: Duration, crash: Option<&str>) -> Vec<Outcome> {
    let deadline = Instant::now() + run_for;
    std::thread::scope(|scope| {
        let sessions: Vec<_> = (0..8)
            .map(|session| {
                let mut client = database.connect();
                scope.spawn(move || mixed_session(&mut client, session, deadline, crash.is_some()))
            })
            .collect();
        if let Some(command) = crash {
            std::thread::sleep(run_for / 3);
            let killed = Command::new("sh").arg("-c").arg(command).status().unwrap();
            assert!(killed.success(), "{command}");
        }
        sessions
            .into_iter()
            .map(|s| s.join().expect("a session panicked"))
            .collect()
    })
}

/// The checks after a load: nothing committed is missing, nothing rolled
/// back is there, every row is charged exactly once, and after a last
/// rerate every SMS is charged at the final price.
fn check_after_load(client: &mut Client, outcomes: &[Outcome]) {
    let present: BTreeSet<String> = client
        .query(
            "SELECT split_part(coalesce(event_id, idempotency_key), '-', 1) || '-' || split_part(coalesce(event_id, idempotency_key), '-', 2)
               FROM (SELECT event_id, NULL AS idempotency_key FROM rating.usage
                     UNION ALL SELECT NULL, idempotency_key FROM rating.ledger WHERE idempotency_key IS NOT NULL) keys",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    for outcome in outcomes {
        for key in &outcome.committed {
            assert!(present.contains(key), "committed {key} is missing");
        }
        for key in &outcome.rolled_back {
            assert!(!present.contains(key), "rolled back {key} is there");
        }
    }
    assert_books_balance(client);
    assert_eq!(
        count(client, "SELECT count(*) FROM rating.verify_usage(true)"),
        0
    );
    assert_eq!(
        count(client, "SELECT count(*) FROM rating.verify_balances(true)"),
        0
    );
    client
        .batch_execute(
            "SELECT rating.rerate(account_id, '-infinity', 'infinity') FROM rating.accounts WHERE account_id IN (3001, 3002)",
        )
        .unwrap();
    assert_eq!(
        count(
            client,
            "SELECT count(*) FROM rating.usage u, rating.rates r
              WHERE r.rate_id = 2003 AND u.service = 'sms' AND u.account_id IN (3001, 3002)
                AND u.charge <> u.quantity * r.price"
        ),
        0,
        "SMS not charged at the final price after rerating"
    );
    assert_books_balance(client);
}

fn report(what: &str, outcomes: &[Outcome], client: &mut Client) {
    let transactions: usize = outcomes.iter().map(|o| o.transactions).sum();
    let in_doubt: usize = outcomes.iter().map(|o| o.in_doubt.len()).sum();
    println!(
        "{what}: 8 sessions, {transactions} transactions ({} rolled back, {in_doubt} in flight at the crash), \
         {} usage rows, {} ledger entries ({} reversals), books balanced",
        outcomes.iter().map(|o| o.rolled_back.len()).sum::<usize>(),
        count(client, "SELECT count(*) FROM rating.usage"),
        count(client, "SELECT count(*) FROM rating.ledger"),
        count(client, "SELECT count(*) FROM rating.ledger WHERE kind = 'reversal'"),
    );
}

#[test]
#[ignore = "needs a server: run scripts/test.sh"]
fn a_mixed_load_of_eight_sessions_loses_nothing_and_charges_once() {
    let database = TestDatabase::create("pg_rating_mixed_load");
    let outcomes = run_mixed_load(&database, Duration::from_secs(6), None);
    let mut client = database.connect();
    check_after_load(&mut client, &outcomes);
    assert!(
        outcomes.iter().all(|o| o.transactions > 3),
        "every session got work done"
    );
    report("mixed load", &outcomes, &mut client);
}

#[test]
#[ignore = "needs a server it may kill: run scripts/test.sh"]
fn crash_in_the_middle_of_the_mixed_load_loses_nothing_committed() {
    let crash =
        std::env::var("PG_RATING_TEST_CRASH").expect("PG_RATING_TEST_CRASH: run scripts/test.sh");
    let database = TestDatabase::create("pg_rating_crash");
    let outcomes = run_mixed_load(&database, Duration::from_secs(6), Some(&crash));
    assert!(
        outcomes.iter().any(|o| !o.in_doubt.is_empty()),
        "the crash hit the load"
    );
    let mut client = database.connect();
    check_after_load(&mut client, &outcomes);
    report("SIGKILL crash", &outcomes, &mut client);
}
