//! pg_rating driven over client connections, as applications, mediation
//! systems and analysts reach it: concurrent sessions, COPY FROM STDIN,
//! transactions and SQLSTATEs over the wire, tariff changes across sessions.
//!
//! These need a running server with pg_rating installed: `scripts/test.sh`
//! starts a throwaway one and runs them with `--ignored`, passing its
//! connection string in `PG_RATING_TEST_DSN`. Each test works in a database of
//! its own, so they may run in parallel.

mod common;

use common::{assert_books_balance, balance_cents, count, race, text, TestDatabase};
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls, Transaction};
use std::io::Write;

/// Runs `statement` in a session of its own while `holding` is open, checks
/// that it waits for `holding`, commits `holding`, and returns how the
/// statement ended; `what` names the case in a failure.
fn after_waiting_for(
    database: &TestDatabase,
    holding: Transaction<'_>,
    statement: String,
    what: &str,
) -> Result<(), postgres::Error> {
    let mut waiting = database.connect();
    let run = std::thread::spawn(move || waiting.batch_execute(&statement));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!run.is_finished(), "{what}: waits for the open transaction");
    holding.commit().unwrap();
    run.join().unwrap()
}

/// What a worker committed, per hot account: rows and cents.
#[derive(Default, Clone, Copy)]
struct Committed {
    rows: [i64; 2],
    cents: [i64; 2],
}

const HOT: [i64; 2] = [3001, 3002];
const SMS_CENTS: i64 = 5;

/// One session's share of the load: single rows on the hottest account,
/// multi-row statements naming both accounts in either order, INSERT ...
/// SELECT batches, and every fifth transaction rolled back.
fn hammer(client: &mut Client, worker: usize, transactions: usize) -> Committed {
    let mut committed = Committed::default();
    for i in 0..transactions {
        let mut pending = Committed::default();
        let mut transaction = client.transaction().unwrap();
        let event = format!("w{worker}-t{i}");
        let sql = match (worker + i) % 3 {
            0 => {
                pending.rows[0] += 1;
                format!(
                    "INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at)
                     VALUES (3001, '{event}', 'sms', 1, now())"
                )
            }
            1 => {
                let (first, second) = if worker.is_multiple_of(2) {
                    (HOT[0], HOT[1])
                } else {
                    (HOT[1], HOT[0])
                };
                pending.rows = [1, 1];
                format!(
                    "INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at) VALUES
                     ({first}, '{event}-a', 'sms', 1, now()), ({second}, '{event}-b', 'sms', 1, now())"
                )
            }
            _ => {
                let account = HOT[worker % 2];
                pending.rows[worker % 2] += 4;
                format!(
                    "INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at)
                     SELECT {account}, '{event}-' || g, 'sms', 1, now() FROM generate_series(1, 4) g"
                )
            }
        };
        transaction
            .batch_execute(&sql)
            .unwrap_or_else(|e| panic!("worker {worker}, transaction {i}: {e:?}"));
        if i % 5 == 4 {
            transaction.rollback().unwrap();
        } else {
            transaction
                .commit()
                .unwrap_or_else(|e| panic!("worker {worker}, commit {i}: {e:?}"));
            for side in 0..2 {
                committed.rows[side] += pending.rows[side];
                committed.cents[side] += pending.rows[side] * SMS_CENTS;
            }
        }
    }
    committed
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn concurrent_sessions_on_hot_accounts_lose_nothing_and_never_deadlock() {
    const SESSIONS: usize = 8;
    const TRANSACTIONS: usize = 60;
    let database = TestDatabase::create("client_concurrency");
    let totals = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..SESSIONS)
            .map(|worker| {
                let mut client = database.connect();
                scope.spawn(move || hammer(&mut client, worker, TRANSACTIONS))
            })
            .collect();
        workers
            .into_iter()
            .fold(Committed::default(), |mut total, worker| {
                let committed = worker.join().expect("a session failed");
                for side in 0..2 {
                    total.rows[side] += committed.rows[side];
                    total.cents[side] += committed.cents[side];
                }
                total
            })
    });

    let mut client = database.connect();
    for (side, account) in HOT.iter().enumerate() {
        let rows = count(
            &mut client,
            &format!("SELECT count(*) FROM rating.usage WHERE account_id = {account}"),
        );
        assert_eq!(
            rows, totals.rows[side],
            "committed usage rows of account {account}"
        );
        assert_eq!(
            balance_cents(&mut client, *account),
            -totals.cents[side],
            "balance of account {account}"
        );
    }
    assert!(totals.rows[0] > 0 && totals.rows[1] > 0);
    assert_books_balance(&mut client);
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn copy_from_stdin_prices_and_posts_every_row() {
    let database = TestDatabase::create("client_copy");
    let mut client = database.connect();
    let mut writer = client
        .copy_in("COPY rating.usage (account_id, event_id, service, quantity, occurred_at, destination) FROM STDIN (FORMAT csv)")
        .unwrap();
    for n in 0..10_000 {
        // Even rows: an SMS for 3001 (0.05). Odd rows: a 61 s call from 3002
        // to the default destination, billed 60/60 at 0.12 a minute (0.24).
        let line = if n % 2 == 0 {
            format!("3001,copy-{n},sms,1,2026-06-01 10:00:00+00,\n")
        } else {
            format!("3002,copy-{n},voice,61,2026-06-01 10:00:00+00,+33123456\n")
        };
        writer.write_all(line.as_bytes()).unwrap();
    }
    assert_eq!(writer.finish().unwrap(), 10_000);

    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM rating.usage WHERE charge IS NOT NULL"
        ),
        10_000
    );
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM rating.ledger"),
        10_000
    );
    assert_eq!(balance_cents(&mut client, 3001), -5_000 * 5);
    assert_eq!(balance_cents(&mut client, 3002), -5_000 * 24);
    assert_books_balance(&mut client);
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn a_copy_with_one_bad_row_posts_nothing() {
    let database = TestDatabase::create("client_copy_bad_row");
    let mut client = database.connect();
    let mut writer = client
        .copy_in("COPY rating.usage (account_id, service, quantity, occurred_at) FROM STDIN (FORMAT csv)")
        .unwrap();
    for n in 0..1_000 {
        let quantity = if n == 777 { "-3" } else { "1" };
        writer
            .write_all(format!("3001,sms,{quantity},2026-06-01 10:00:00+00\n").as_bytes())
            .unwrap();
    }
    let error = writer
        .finish()
        .expect_err("a negative quantity must fail the COPY");
    assert_eq!(
        error.code(),
        Some(&SqlState::NUMERIC_VALUE_OUT_OF_RANGE),
        "{error:?}"
    );
    assert!(
        error.as_db_error().unwrap().message().contains("-3"),
        "{error:?}"
    );
    assert_eq!(count(&mut client, "SELECT count(*) FROM rating.usage"), 0);
    assert_eq!(count(&mut client, "SELECT count(*) FROM rating.ledger"), 0);
    assert_eq!(balance_cents(&mut client, 3001), 0);
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn a_rollback_over_the_wire_leaves_no_trace() {
    let database = TestDatabase::create("client_rollback");
    let mut client = database.connect();
    client
        .batch_execute("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3001, 'sms', 1, now())")
        .unwrap();

    let mut transaction = client.transaction().unwrap();
    transaction
        .batch_execute(
            "INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
             SELECT 3001, 'sms', 1, now() FROM generate_series(1, 50)",
        )
        .unwrap();
    let inside: i64 = transaction
        .query_one("SELECT count(*) FROM rating.ledger", &[])
        .unwrap()
        .get(0);
    assert_eq!(inside, 51, "the transaction sees its own postings");
    transaction.rollback().unwrap();

    // A failed statement aborts its transaction just the same.
    let mut transaction = client.transaction().unwrap();
    transaction
        .batch_execute("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3001, 'sms', 2, now())")
        .unwrap();
    let error = transaction
        .batch_execute("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3001, 'fax', 1, now())")
        .expect_err("no rate for fax");
    assert_eq!(error.code(), Some(&SqlState::NO_DATA_FOUND));
    // COMMIT of an aborted transaction is answered with ROLLBACK.
    transaction.commit().unwrap();

    assert_eq!(count(&mut client, "SELECT count(*) FROM rating.usage"), 1);
    assert_eq!(count(&mut client, "SELECT count(*) FROM rating.ledger"), 1);
    assert_eq!(balance_cents(&mut client, 3001), -5);
    assert_books_balance(&mut client);
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn errors_reach_clients_with_their_sqlstate_and_value() {
    let database = TestDatabase::create("client_errors");
    let mut client = database.connect();
    client
        .batch_execute(
            "INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at)
             VALUES (3001, 'cdr-42', 'sms', 1, now())",
        )
        .unwrap();
    let usage =
        "INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at) VALUES";
    let cases: &[(String, SqlState, &str)] = &[
        (format!("{usage} (9999, NULL, 'sms', 1, now())"), SqlState::FOREIGN_KEY_VIOLATION, "9999"),
        (format!("{usage} (3003, NULL, 'sms', 1, now())"), SqlState::NO_DATA_FOUND, "3003"),
        (format!("{usage} (3001, NULL, 'fax', 1, now())"), SqlState::NO_DATA_FOUND, "fax"),
        (format!("{usage} (3001, NULL, 'sms', -2.5, now())"), SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "-2.5"),
        (format!("{usage} (3001, NULL, 'sms', 'NaN', now())"), SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "NaN"),
        (format!("{usage} (3001, NULL, 'sms', NULL, now())"), SqlState::NOT_NULL_VIOLATION, "quantity"),
        (format!("{usage} (3001, 'cdr-42', 'sms', 1, now())"), SqlState::UNIQUE_VIOLATION, "cdr-42"),
        (
            "INSERT INTO rating.rates (tariff_id, service, price, next_increment) VALUES (1001, 'mms', 0.1, 0)".into(),
            SqlState::CHECK_VIOLATION,
            "next_increment",
        ),
        ("DELETE FROM rating.ledger".into(), SqlState::FEATURE_NOT_SUPPORTED, "ledger"),
    ];
    for (sql, sqlstate, named) in cases {
        let error = client.batch_execute(sql).expect_err(sql);
        let db_error = error
            .as_db_error()
            .unwrap_or_else(|| panic!("{sql}: {error:?}"));
        assert_eq!(db_error.code(), sqlstate, "{sql}: {}", db_error.message());
        let said = format!("{} {}", db_error.message(), db_error.detail().unwrap_or(""));
        assert!(
            said.contains(named),
            "{sql}: message does not name {named:?}: {said}"
        );
    }
    assert_eq!(count(&mut client, "SELECT count(*) FROM rating.ledger"), 1);
    assert_books_balance(&mut client);
}

/// Inserts one SMS for account 3001 now and returns its charge.
fn sms_charge(client: &mut Client) -> String {
    client
        .query_one(
            "INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3001, 'sms', 1, now()) RETURNING charge::text",
            &[],
        )
        .unwrap()
        .get(0)
}

/// How many entries of `cache` (tariffs, accounts) the session has loaded
/// so far.
fn loads(client: &mut Client, cache: &str) -> i64 {
    count(
        client,
        &format!("SELECT loads FROM rating.session_cache() WHERE cache = '{cache}'"),
    )
}

/// Inserts one SMS as [`sms_charge`] does, in a transaction of its own at
/// `isolation`.
fn sms_charge_in(client: &mut Client, isolation: &str) -> String {
    client
        .batch_execute(&format!("BEGIN ISOLATION LEVEL {isolation}"))
        .unwrap();
    let charge = sms_charge(client);
    client.batch_execute("COMMIT").unwrap();
    charge
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn a_committed_tariff_change_is_used_by_every_session_and_an_open_one_by_none() {
    let database = TestDatabase::create("client_tariff_change");
    let mut app = database.connect();
    let mut admin = database.connect();

    // The application's session has the tariff cached and a transaction open.
    assert_eq!(sms_charge(&mut app), "0.05");
    app.batch_execute("BEGIN").unwrap();
    assert_eq!(sms_charge(&mut app), "0.05");

    // An uncommitted change is seen by no one else ...
    admin
        .batch_execute("BEGIN; UPDATE rating.rates SET price = 0.09 WHERE rate_id = 2003")
        .unwrap();
    assert_eq!(sms_charge(&mut app), "0.05");
    admin.batch_execute("ROLLBACK").unwrap();
    assert_eq!(sms_charge(&mut app), "0.05");

    // ... a committed one by the very next statement, even inside the open
    // (READ COMMITTED) transaction, and by sessions that cached the old one.
    admin
        .batch_execute("UPDATE rating.rates SET price = 0.07 WHERE rate_id = 2003")
        .unwrap();
    assert_eq!(sms_charge(&mut app), "0.07");
    app.batch_execute("COMMIT").unwrap();
    assert_eq!(sms_charge(&mut admin), "0.07");
    assert_eq!(sms_charge(&mut database.connect()), "0.07");

    assert_eq!(
        text(
            &mut app,
            "SELECT string_agg(charge::text, ',' ORDER BY usage_id) FROM rating.usage"
        ),
        "0.05,0.05,0.05,0.05,0.07,0.07,0.07"
    );
    assert_eq!(balance_cents(&mut app, 3001), -41);
    assert_books_balance(&mut app);
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn an_account_change_committed_elsewhere_is_used_at_once_and_keeps_compiled_tariffs() {
    let database = TestDatabase::create("client_account_change");
    let mut app = database.connect();
    let mut admin = database.connect();
    admin
        .batch_execute(
            "INSERT INTO rating.tariffs (tariff_id, code, name, currency) VALUES (1009, 'TEXTS', 'Texts', 'EUR');
             INSERT INTO rating.rates (tariff_id, service, price) VALUES (1009, 'sms', 0.11)",
        )
        .unwrap();

    assert_eq!(sms_charge(&mut app), "0.05");
    let tariffs = loads(&mut app, "tariffs");
    let accounts = loads(&mut app, "accounts");

    // Another session opens an account: the app reads its accounts again,
    // and keeps the tariff it compiled.
    admin
        .batch_execute(
            "INSERT INTO rating.accounts (account_id, name, currency) VALUES (3999, 'New', 'EUR');
             INSERT INTO rating.subscriptions (account_id, tariff_id) VALUES (3999, 1001)",
        )
        .unwrap();
    assert_eq!(sms_charge(&mut app), "0.05");
    assert_eq!(loads(&mut app, "tariffs"), tariffs);
    assert_eq!(loads(&mut app, "accounts"), accounts + 1);

    // A committed move of the app's cached account to another tariff is
    // used by the app's next statement.
    admin
        .batch_execute(
            "UPDATE rating.subscriptions SET valid_to = now() WHERE account_id = 3001 AND valid_to IS NULL;
             INSERT INTO rating.subscriptions (account_id, tariff_id, valid_from) VALUES (3001, 1009, now())",
        )
        .unwrap();
    assert_eq!(sms_charge(&mut app), "0.11");
    assert_eq!(loads(&mut app, "tariffs"), tariffs + 1);
    assert_eq!(balance_cents(&mut app, 3001), -(5 + 5 + 11));
    assert_books_balance(&mut app);
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn a_repeatable_read_transaction_prices_by_its_snapshot_and_leaves_no_stale_cache() {
    let database = TestDatabase::create("client_repeatable_read");
    let mut app = database.connect();
    let mut admin = database.connect();
    let reprice = |admin: &mut Client, price: &str| {
        admin
            .batch_execute(&format!(
                "UPDATE rating.rates SET price = {price} WHERE rate_id = 2003"
            ))
            .unwrap()
    };

    // A change committed after the transaction's snapshot is not seen by it ...
    assert_eq!(sms_charge(&mut app), "0.05");
    app.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1")
        .unwrap();
    reprice(&mut admin, "0.07");
    assert_eq!(sms_charge(&mut app), "0.05");
    assert_eq!(sms_charge(&mut app), "0.05");
    app.batch_execute("COMMIT").unwrap();
    // ... nor kept for the session's later transactions, of either level.
    assert_eq!(sms_charge(&mut app), "0.07");
    assert_eq!(sms_charge_in(&mut app, "SERIALIZABLE"), "0.07");

    // The same when the stale load is the transaction's first sight of the tariff.
    let mut fresh = database.connect();
    fresh
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1")
        .unwrap();
    reprice(&mut admin, "0.08");
    assert_eq!(sms_charge(&mut fresh), "0.07");
    fresh.batch_execute("COMMIT").unwrap();
    assert_eq!(sms_charge_in(&mut fresh, "REPEATABLE READ"), "0.08");

    // Transactions of one level, with no change between them, share the cache
    // and still see the next change.
    let compiled = loads(&mut fresh, "tariffs");
    for _ in 0..3 {
        assert_eq!(sms_charge_in(&mut fresh, "REPEATABLE READ"), "0.08");
    }
    assert_eq!(loads(&mut fresh, "tariffs"), compiled);
    reprice(&mut admin, "0.06");
    assert_eq!(sms_charge_in(&mut fresh, "REPEATABLE READ"), "0.06");

    assert_eq!(
        balance_cents(&mut app, 3001),
        -(5 * 3 + 7 * 2 + 7 + 8 * 4 + 6)
    );
    assert_books_balance(&mut app);
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn a_transaction_on_an_imported_older_snapshot_leaves_no_stale_cache() {
    let database = TestDatabase::create("client_imported_snapshot");
    let mut admin = database.connect();
    let mut exporter = database.connect();
    exporter
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .unwrap();
    let snapshot = text(&mut exporter, "SELECT pg_export_snapshot()");
    admin
        .batch_execute("UPDATE rating.rates SET price = 0.07 WHERE rate_id = 2003")
        .unwrap();

    // A session that has taken the change in, and cached no tariff yet,
    // imports the snapshot from before it: it prices by that snapshot ...
    let mut app = database.connect();
    assert_eq!(loads(&mut app, "tariffs"), 0);
    app.batch_execute(&format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '{snapshot}'"
    ))
    .unwrap();
    assert_eq!(sms_charge(&mut app), "0.05");
    app.batch_execute("COMMIT").unwrap();
    exporter.batch_execute("COMMIT").unwrap();

    // ... and compiles the tariff again for its next transactions, of
    // either level, which price by what is committed.
    assert_eq!(sms_charge(&mut app), "0.07");
    assert_eq!(sms_charge_in(&mut app, "REPEATABLE READ"), "0.07");
    assert_eq!(loads(&mut app, "tariffs"), 2);
    assert_eq!(balance_cents(&mut app, 3001), -(5 + 7 + 7));
    assert_books_balance(&mut app);
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn a_single_row_posts_after_a_balance_moved_while_it_waited_or_refuses_by_its_snapshot() {
    let database = TestDatabase::create("client_single_row_waits");
    let mut holder = database.connect();
    let sms = "INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3001, 'sms', 1, now())";
    let entries = |client: &mut Client| {
        text(
            client,
            "SELECT string_agg(entry_no || ':' || amount, ' ' ORDER BY entry_no) FROM rating.ledger WHERE account_id = 3001",
        )
    };

    // READ COMMITTED: the row waits for the balance's lock, then moves the
    // version committed meanwhile and numbers its entry after it.
    let mut holding = holder.transaction().unwrap();
    holding.batch_execute(sms).unwrap();
    after_waiting_for(&database, holding, sms.to_string(), "read committed").unwrap();
    assert_eq!(entries(&mut holder), "1:-0.05 2:-0.05");

    // REPEATABLE READ: a balance moved since the snapshot, by a transaction
    // committed while the row waited or before it came, cannot be moved.
    let repeatable_read = format!("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1; {sms}");
    let mut holding = holder.transaction().unwrap();
    holding.batch_execute(sms).unwrap();
    let waited = after_waiting_for(
        &database,
        holding,
        repeatable_read.clone(),
        "repeatable read",
    )
    .expect_err("a balance moved after the snapshot");
    let mut early = database.connect();
    early
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1")
        .unwrap();
    holder.batch_execute(sms).unwrap();
    let came_later = early
        .batch_execute(sms)
        .expect_err("a balance moved after the snapshot");
    for error in [waited, came_later] {
        assert_eq!(
            error.code(),
            Some(&SqlState::T_R_SERIALIZATION_FAILURE),
            "{error}"
        );
    }
    early.batch_execute("ROLLBACK").unwrap();
    assert_eq!(entries(&mut holder), "1:-0.05 2:-0.05 3:-0.05 4:-0.05");
    assert_eq!(balance_cents(&mut holder, 3001), -20);

    // A large statement, posted in two passes, refuses the same way.
    early
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1")
        .unwrap();
    holder.batch_execute(sms).unwrap();
    let large = early
        .batch_execute(
            "INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
             SELECT 3001, 'sms', 1, now() FROM generate_series(1, 1001)",
        )
        .expect_err("a balance moved after the snapshot");
    assert_eq!(
        large.code(),
        Some(&SqlState::T_R_SERIALIZATION_FAILURE),
        "{large}"
    );
    early.batch_execute("ROLLBACK").unwrap();
    assert_eq!(balance_cents(&mut holder, 3001), -25);
    assert_books_balance(&mut holder);
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn sessions_racing_for_a_prepaid_balance_spend_no_more_than_it() {
    const SESSIONS: usize = 8;
    let database = TestDatabase::create("client_prepaid_race");
    let mut admin = database.connect();
    // Room for exactly three SMS at 0.05, and for one of two racing reservations.
    admin
        .batch_execute(
            "UPDATE rating.accounts SET account_type = 'prepaid' WHERE account_id IN (3001, 3002);
             SELECT rating.post_payment(3002, 0.15, 'topup');
             SELECT rating.post_payment(3001, 1.00, 'topup')",
        )
        .unwrap();
    let outcomes = race(&database, SESSIONS, |client, n| {
        client.batch_execute(&format!(
            "INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at)
             VALUES (3002, 'race-{n}', 'sms', 1, now())"
        ))
    });
    let won = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    assert_eq!(won, 3, "exactly three SMS fit in 0.15");
    for lost in outcomes.iter().filter_map(|outcome| outcome.as_ref().err()) {
        assert_eq!(lost.code().map(SqlState::code), Some("RT001"), "{lost:?}");
    }
    assert_eq!(balance_cents(&mut admin, 3002), 0);

    // Two sessions reserving 0.60 of 1.00 at once: exactly one holds it.
    let reserved = race(&database, 2, |client, n| {
        client
            .batch_execute(&format!("SELECT rating.reserve(3001, 0.60, 'session-{n}')"))
            .is_ok()
    });
    assert_eq!(reserved.iter().filter(|ok| **ok).count(), 1);
    assert_eq!(
        text(
            &mut admin,
            "SELECT available::text FROM rating.account_balances WHERE account_id = 3001"
        ),
        "0.40"
    );
    assert_books_balance(&mut admin);
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn a_spending_alert_is_notified_at_commit_and_never_after_rollback() {
    let database = TestDatabase::create("client_alerts");
    let mut listener = database.connect();
    listener.batch_execute("LISTEN rating_alerts").unwrap();
    let mut app = database.connect();
    app.batch_execute(
        "INSERT INTO rating.alert_thresholds (account_id, threshold) VALUES (3001, -0.10)",
    )
    .unwrap();
    let crossing = "INSERT INTO rating.usage (account_id, service, quantity, occurred_at)
                    SELECT 3001, 'sms', 1, now() FROM generate_series(1, 3)";

    app.batch_execute(&format!("BEGIN; {crossing}; ROLLBACK"))
        .unwrap();
    app.batch_execute(crossing).unwrap();

    let wait = std::time::Duration::from_secs(2);
    let mut notifications = listener.notifications();
    let mut pending = notifications.timeout_iter(wait);
    let mut received = Vec::new();
    while let Some(notification) = pending.next().unwrap() {
        received.push(notification.payload().to_string());
    }
    assert_eq!(
        received.len(),
        1,
        "one alert, from the committed statement only: {received:?}"
    );
    let payload = &received[0];
    for field in [
        "\"account_id\" : 3001",
        "\"threshold\" : -0.10",
        "\"direction\" : \"down\"",
        "\"balance_before\" : 0",
        "\"balance_after\" : -0.15",
        "\"currency\" : \"EUR\"",
    ] {
        assert!(payload.contains(field), "{field} missing from {payload}");
    }
    assert_eq!(count(&mut app, "SELECT count(*) FROM rating.alerts"), 1);
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn login_roles_do_their_job_over_the_wire_and_nothing_else() {
    let database = TestDatabase::create("client_roles");
    let mut admin = database.connect();
    // Login roles of a mediation system, a BI tool and a billing administrator.
    for (login, role) in [
        ("mediation", "rating_writer"),
        ("bi_tool", "rating_reader"),
        ("billing_admin", "rating_admin"),
    ] {
        admin
            .batch_execute(&format!(
                "DROP ROLE IF EXISTS {login}; CREATE ROLE {login} LOGIN; GRANT {role} TO {login}"
            ))
            .unwrap();
    }
    let connect_as =
        |login: &str| Client::connect(&format!("{} user={login}", database.dsn), NoTls).unwrap();
    let refused = |client: &mut Client, sql: &str| {
        let error = client.batch_execute(sql).expect_err(sql);
        assert_eq!(
            error.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{sql}: {error:?}"
        );
    };

    let mut mediation = connect_as("mediation");
    let charge: String = mediation
        .query_one(
            "INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at)
             VALUES (3001, 'cdr-1', 'sms', 1, now()) RETURNING charge::text",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(charge, "0.05");
    mediation
        .batch_execute("SELECT rating.post_payment(3001, 10, 'bank-1')")
        .unwrap();
    refused(&mut mediation, "SELECT * FROM rating.ledger");
    refused(&mut mediation, "SELECT * FROM rating.account_balances");
    refused(&mut mediation, "UPDATE rating.rates SET price = 0");

    let mut bi_tool = connect_as("bi_tool");
    assert_eq!(
        text(
            &mut bi_tool,
            "SELECT balance::text FROM rating.account_balances WHERE account_id = 3001"
        ),
        "9.95"
    );
    refused(&mut bi_tool, "SELECT * FROM rating.tariffs");
    refused(
        &mut bi_tool,
        "SELECT rating.rerate(3001, '-infinity', 'infinity')",
    );
    refused(&mut bi_tool, "INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3001, 'sms', 1, now())");

    let mut billing_admin = connect_as("billing_admin");
    billing_admin
        .batch_execute("UPDATE rating.accounts SET credit_limit = 100 WHERE account_id = 3001")
        .unwrap();
    refused(
        &mut billing_admin,
        "SELECT rating.post_payment(3001, 10, 'bank-2')",
    );
    refused(&mut billing_admin, "DELETE FROM rating.balances");
    drop((mediation, bi_tool, billing_admin));
    assert_books_balance(&mut admin);
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn a_tenants_login_rates_only_its_accounts_as_grants_and_tenants_change() {
    let database = TestDatabase::create("client_tenants");
    let mut admin = database.connect();
    admin
        .batch_execute(
            "DROP ROLE IF EXISTS tenant_mediation, tenant_acme, tenant_globex;
             CREATE ROLE tenant_acme; CREATE ROLE tenant_globex;
             CREATE ROLE tenant_mediation LOGIN IN ROLE rating_writer, tenant_acme;
             INSERT INTO rating.tenants VALUES ('acme', 'tenant_acme', 'Acme'), ('globex', 'tenant_globex', 'Globex');
             UPDATE rating.accounts SET tenant_id = 'acme' WHERE account_id = 3001;
             UPDATE rating.accounts SET tenant_id = 'globex' WHERE account_id = 3002;",
        )
        .unwrap();
    let mut mediation =
        Client::connect(&format!("{} user=tenant_mediation", database.dsn), NoTls).unwrap();
    let sms = |account: i64| {
        format!("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES ({account}, 'sms', 1, now())")
    };
    let mut outcome = |sql: &str| match mediation.batch_execute(sql) {
        Ok(()) => "ok".to_string(),
        Err(error) => {
            let db_error = error.as_db_error().expect("a database error");
            format!("{}: {}", db_error.code().code(), db_error.message())
        }
    };
    let refused = |account: i64| format!("42501: permission denied for account {account}");

    assert_eq!(outcome(&sms(3001)), "ok");
    assert_eq!(outcome(&sms(3002)), refused(3002));
    assert_eq!(outcome(&sms(9999)), refused(9999));
    // Each change, committed by another session, decides the very next insert.
    admin
        .batch_execute("GRANT tenant_globex TO tenant_mediation")
        .unwrap();
    assert_eq!(outcome(&sms(3002)), "ok");
    admin
        .batch_execute("REVOKE tenant_globex FROM tenant_mediation")
        .unwrap();
    assert_eq!(outcome(&sms(3002)), refused(3002));
    admin
        .batch_execute(
            "UPDATE rating.tenants SET role_name = 'tenant_mediation' WHERE tenant_id = 'globex'",
        )
        .unwrap();
    assert_eq!(outcome(&sms(3002)), "ok");
    assert_eq!(outcome(&sms(3001)), "ok");
    // A REPEATABLE READ transaction acts by its snapshot's tenants, and
    // leaves that older answer to no later transaction of the session.
    assert_eq!(
        outcome("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1"),
        "ok"
    );
    admin
        .batch_execute(
            "UPDATE rating.tenants SET role_name = 'tenant_globex' WHERE tenant_id = 'globex'",
        )
        .unwrap();
    assert_eq!(outcome(&sms(3002)), "ok");
    assert_eq!(outcome("COMMIT"), "ok");
    assert_eq!(outcome(&sms(3002)), refused(3002));

    drop(mediation);
    assert_eq!(count(&mut admin, "SELECT count(*) FROM rating.usage"), 5);
    assert_books_balance(&mut admin);
    admin
        .batch_execute("DROP ROLE tenant_mediation, tenant_acme, tenant_globex")
        .unwrap();
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn money_limits_reservations_and_invoices_over_the_wire() {
    let database = TestDatabase::create("client_money");
    let mut crm = database.connect();
    let sms = |at: &str| {
        format!(
            "INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3001, 'sms', 1, '{at}')"
        )
    };

    // A retried payment posts once; a key reused for another amount is refused.
    for _ in 0..2 {
        crm.batch_execute("SELECT rating.post_payment(3001, 0.10, 'bank-1')")
            .unwrap();
    }
    let reused = crm
        .batch_execute("SELECT rating.post_payment(3001, 0.20, 'bank-1')")
        .unwrap_err();
    assert_eq!(reused.code(), Some(&SqlState::UNIQUE_VIOLATION));

    // A credit limit of 0.05 below zero: three SMS fit in 0.10 + 0.05, the fourth does not.
    crm.batch_execute("UPDATE rating.accounts SET credit_limit = 0.05 WHERE account_id = 3001")
        .unwrap();
    for day in ["2026-03-01", "2026-03-02", "2026-04-02"] {
        crm.batch_execute(&sms(day)).unwrap();
    }
    let refused = crm.batch_execute(&sms("2026-04-03")).unwrap_err();
    assert_eq!(
        refused.code().map(SqlState::code),
        Some("RT001"),
        "{refused:?}"
    );

    // A reservation holds what is left; authorize sees what the session may still spend.
    crm.batch_execute("UPDATE rating.accounts SET credit_limit = 1.00 WHERE account_id = 3001")
        .unwrap();
    let reservation: i64 = crm
        .query_one(
            "SELECT reservation_id FROM rating.reserve(3001, 0.50, 'session-1')",
            &[],
        )
        .unwrap()
        .get(0);
    let (seconds, available): (String, String) = {
        let row = crm
            .query_one(
                "SELECT quantity::text, available::text FROM rating.authorize(3001, 'voice', '+33123', now(), $1)",
                &[&reservation],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    // Balance -0.05 above a floor of -1.00 leaves 0.95, 0.50 of it held by this very
    // session's reservation, which it may spend: 0.95 buys seven minutes at 0.12.
    assert_eq!((seconds.as_str(), available.as_str()), ("420", "0.95"));

    // March is invoiced: its two SMS, and nothing of April; the invoice equals its ledger entries.
    crm.batch_execute("SELECT rating.close_period(3001, '2026-04-01 00:00+00')")
        .unwrap();
    let sums = text(
        &mut crm,
        "SELECT concat_ws('|', i.total,
                (SELECT sum(amount) FROM rating.account_invoice_lines l WHERE l.account_id = i.account_id AND l.invoice_no = i.invoice_no),
                (SELECT sum(e.amount) FROM rating.invoice_entries ie
                   JOIN rating.ledger e USING (account_id, entry_no)
                  WHERE ie.account_id = i.account_id AND ie.invoice_no = i.invoice_no))
           FROM rating.account_invoices i WHERE i.account_id = 3001",
    );
    assert_eq!(sums, "-0.10|-0.10|-0.10");
    assert_eq!(
        count(
            &mut crm,
            "SELECT count(*) FROM rating.verify_balances(true)"
        ),
        0
    );
    assert_books_balance(&mut crm);
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn a_time_band_schedule_with_a_gap_fails_at_commit_and_leaves_nothing() {
    let database = TestDatabase::create("client_band_gap");
    let mut client = database.connect();
    let schedule = "BEGIN;
        INSERT INTO rating.time_bands (tariff_id, band) VALUES (1001, 'day'), (1001, 'night');
        INSERT INTO rating.time_band_hours (tariff_id, band, days, starts, ends) VALUES
            (1001, 'night', '{1,2,3,4,5,6,7}', '00:00', '07:00'),
            (1001, 'day',   '{1,2,3,4,5,6,7}', '07:00', '22:00');
        INSERT INTO rating.rates (tariff_id, service, time_band, price) VALUES (1001, 'mms', 'day', 0.3);";
    // Row by row the schedule has gaps; only COMMIT checks it whole.
    client.batch_execute(schedule).unwrap();
    let error = client.batch_execute("COMMIT").expect_err("a gap at commit");
    let error = error.as_db_error().expect("a database error");
    assert_eq!(error.code(), &SqlState::CHECK_VIOLATION);
    assert_eq!(
        error.message(),
        "invalid time bands for tariff 1001: no time band covers Monday 22:00 to 24:00"
    );
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM rating.time_bands"),
        0
    );
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM rating.rates WHERE service = 'mms'"
        ),
        0
    );

    // Completed before COMMIT, the same schedule commits and prices by band.
    client.batch_execute(schedule).unwrap();
    client
        .batch_execute(
            "INSERT INTO rating.time_band_hours (tariff_id, band, days, starts, ends)
                 VALUES (1001, 'night', '{1,2,3,4,5,6,7}', '22:00', '24:00');
             INSERT INTO rating.rates (tariff_id, service, time_band, price) VALUES (1001, 'mms', 'night', 0.1);
             COMMIT;
             INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES
                 (3001, 'mms', 1, '2026-03-02 12:00+00'), (3001, 'mms', 1, '2026-03-02 23:00+00');",
        )
        .unwrap();
    assert_eq!(
        text(
            &mut client,
            "SELECT string_agg(charge::text, ' ' ORDER BY usage_id) FROM rating.usage"
        ),
        "0.30 0.10"
    );
    assert_books_balance(&mut client);
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn sessions_racing_on_a_tiered_counter_count_every_unit_once() {
    let database = TestDatabase::create("client_tier_race");
    let mut setup = database.connect();
    setup
        .batch_execute(
            "INSERT INTO rating.rates (rate_id, tariff_id, service, pricing_model, price) VALUES (2401, 1001, 'egress', 'graduated', 0);
             INSERT INTO rating.rate_tiers (rate_id, tier_from, tier_to, price) VALUES
                 (2401, 0, 100, 0.09), (2401, 100, 500, 0.085), (2401, 500, NULL, 0.07);",
        )
        .unwrap();
    // Eight sessions, 25 transactions each of one or two rows of 1-9 GB for
    // one account; every fourth transaction rolls back.
    race(&database, 8, |client, session| {
        for n in 0..25 {
            let gb = 1 + (session * 7 + n * 3) % 9;
            let mut transaction = client.transaction().unwrap();
            transaction
                .batch_execute(&format!(
                    "INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES
                         (3002, 'egress', {gb}, '2026-03-15 12:00+00'){}",
                    if n % 2 == 0 {
                        format!(", (3002, 'egress', {}, '2026-03-16 12:00+00')", gb + 1)
                    } else {
                        String::new()
                    }
                ))
                .unwrap_or_else(|e| panic!("session {session}: {e}"));
            if n % 4 == 3 {
                transaction.rollback().unwrap();
            } else {
                transaction.commit().unwrap();
            }
        }
    });
    let units = text(
        &mut setup,
        "SELECT sum(billed_quantity)::text FROM rating.usage WHERE service = 'egress'",
    );
    let counted = text(
        &mut setup,
        "SELECT units::text FROM rating.usage_counters WHERE account_id = 3002",
    );
    assert_eq!(
        counted, units,
        "the counter holds every committed unit once"
    );
    // The period's charges are the graduated formula on its total.
    let charges = text(
        &mut setup,
        "SELECT sum(charge)::text FROM rating.usage WHERE service = 'egress'",
    );
    let formula = text(
        &mut setup,
        &format!(
            "SELECT round(least(u, 100) * 0.09 + greatest(least(u, 500) - 100, 0) * 0.085 + greatest(u - 500, 0) * 0.07, 2)::text
               FROM (SELECT {units}::numeric AS u) t"
        ),
    );
    assert_eq!(charges, formula);
    assert!(
        units.parse::<u32>().unwrap() > 500,
        "the race reached the last tier: {units}"
    );
    assert_books_balance(&mut setup);
}

/// An INSERT that waits for a balance another transaction has moved posts
/// on what that transaction committed, though its snapshot is older: its
/// entries follow the committed ones and its charges add to the committed
/// balance. On each posting path: one row (kept plans), three rows over
/// two accounts (the plain set-based statement), and three rows touching an
/// account with a spending floor (`rating.post_usage_charges()`).
#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn an_insert_that_waited_for_a_balance_posts_on_what_was_committed_meanwhile() {
    let database = TestDatabase::create("client_lock_wait");
    let mut client = database.connect();
    let cases = [
        ("direct", "", "VALUES (3001, 'sms', 1, now())"),
        (
            "plain",
            "",
            "VALUES (3001, 'sms', 1, now()), (3001, 'sms', 2, now()), (3002, 'sms', 1, now())",
        ),
        (
            "in two passes",
            "",
            "SELECT 3001 + g % 2, 'sms', 1, now() FROM generate_series(1, 1002) g",
        ),
        (
            "with a spending floor",
            "UPDATE rating.accounts SET credit_limit = 1000 WHERE account_id = 3002",
            "VALUES (3001, 'sms', 1, now()), (3002, 'sms', 1, now()), (3002, 'sms', 2, now())",
        ),
    ];
    for (path, setup, rows) in cases {
        client.batch_execute(setup).unwrap();
        let mut holding = database.connect();
        let mut payment = holding.transaction().unwrap();
        payment
            .batch_execute(&format!(
                "SELECT rating.post_payment(3001, 1.00, 'wait-{path}')"
            ))
            .unwrap();
        let insert =
            format!("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) {rows}");
        after_waiting_for(&database, payment, insert, &format!("{path}: the INSERT"))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_books_balance(&mut client);
    }
    // Four payments of 1.00; 506 SMS at 0.05 on 3001, 505 on 3002.
    assert_eq!(balance_cents(&mut client, 3001), 400 - 506 * SMS_CENTS);
    assert_eq!(balance_cents(&mut client, 3002), -505 * SMS_CENTS);
}

/// A database of its own where account 3001 holds a reservation of 1.00.
fn with_a_reservation(name: &str) -> (TestDatabase, Client, i64) {
    let database = TestDatabase::create(name);
    let mut client = database.connect();
    let reservation = count(
        &mut client,
        "SELECT reservation_id FROM rating.reserve(3001, 1.00, 'session-1')",
    );
    (database, client, reservation)
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn deleting_a_reservation_waits_for_usage_naming_it_and_then_refuses() {
    let (database, mut client, reservation) = with_a_reservation("client_keep_reservations");
    // Nothing to draw (quantity 0): only the check's KEY SHARE lock holds
    // the reservation, as a foreign key's would.
    let mut inserting = database.connect();
    let mut transaction = inserting.transaction().unwrap();
    transaction
        .batch_execute(&format!(
            "INSERT INTO rating.usage (account_id, service, quantity, occurred_at, reservation_id) VALUES (3001, 'sms', 0, now(), {reservation})"
        ))
        .unwrap();
    let delete = format!("DELETE FROM rating.reservations WHERE reservation_id = {reservation}");
    let error = after_waiting_for(
        &database,
        transaction,
        delete,
        "the DELETE of the reservation",
    )
    .expect_err("a reservation usage names is kept");
    assert_eq!(
        error.code(),
        Some(&SqlState::FOREIGN_KEY_VIOLATION),
        "{error}"
    );
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM rating.usage u JOIN rating.reservations r USING (account_id, reservation_id)"
        ),
        1
    );
    assert_books_balance(&mut client);
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn a_repeatable_read_delete_sees_usage_committed_while_it_waited() {
    let (database, mut client, reservation) = with_a_reservation("client_keep_repeatable_read");
    let usage = "INSERT INTO rating.usage (account_id, service, quantity, occurred_at, reservation_id) VALUES";
    let other_reservation = count(
        &mut client,
        "SELECT reservation_id FROM rating.reserve(3001, 1.00, 'session-2')",
    );
    // Usage that only locks what it names (KEY SHARE): zero-quantity rows
    // naming a reservation; a held row of 3003, which has no subscription.
    // The TRUNCATE first, while no committed usage names any reservation.
    let cases = [
        (
            format!("{usage} (3001, 'sms', 0, now(), {other_reservation})"),
            "TRUNCATE rating.reservations".to_string(),
        ),
        (
            format!("{usage} (3001, 'sms', 0, now(), {reservation})"),
            format!("DELETE FROM rating.reservations WHERE reservation_id = {reservation}"),
        ),
        (
            format!("SET LOCAL pg_rating.unratable = hold; {usage} (3003, 'sms', 1, now(), NULL)"),
            "DELETE FROM rating.accounts WHERE account_id = 3003".to_string(),
        ),
    ];
    for (insert, delete) in cases {
        // The deleting transaction's snapshot predates the usage.
        let mut deleting = database.connect();
        deleting
            .batch_execute(
                "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM rating.usage",
            )
            .unwrap();
        let mut inserting = database.connect();
        let mut transaction = inserting.transaction().unwrap();
        transaction.batch_execute(&insert).unwrap();
        let run = std::thread::spawn(move || {
            let outcome = deleting.batch_execute(&delete);
            deleting.batch_execute("ROLLBACK").unwrap();
            outcome
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(!run.is_finished(), "{insert}: the DELETE waits for it");
        transaction.commit().unwrap();
        let error = run
            .join()
            .unwrap()
            .expect_err("what usage names is kept, whatever the deleting snapshot saw");
        assert_eq!(
            error.code(),
            Some(&SqlState::FOREIGN_KEY_VIOLATION),
            "{insert}: {error}"
        );
    }
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM rating.usage u JOIN rating.accounts a USING (account_id)
              WHERE u.reservation_id IS NULL
                 OR EXISTS (SELECT FROM rating.reservations r
                             WHERE (r.account_id, r.reservation_id) = (u.account_id, u.reservation_id))"
        ),
        3
    );
    assert_books_balance(&mut client);
}

#[test]
#[ignore = "needs a server: scripts/test.sh"]
fn deleting_an_account_waits_for_usage_being_inserted_and_then_refuses() {
    let database = TestDatabase::create("client_keep_accounts");
    // 3002 is rated (and posts); 3003 has no subscription, so its row is held.
    for (account, setting) in [(3002, "reject"), (3003, "hold")] {
        let mut inserting = database.connect();
        let mut transaction = inserting.transaction().unwrap();
        transaction
            .batch_execute(&format!(
                "SET LOCAL pg_rating.unratable = {setting};
                 INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES ({account}, 'sms', 1, now())"
            ))
            .unwrap();
        let delete = format!("DELETE FROM rating.accounts WHERE account_id = {account}");
        let what = format!("account {account}: the DELETE");
        let error = after_waiting_for(&database, transaction, delete, &what)
            .expect_err("an account with usage is kept");
        assert_eq!(
            error.code(),
            Some(&SqlState::FOREIGN_KEY_VIOLATION),
            "account {account}: {error}"
        );
    }
    let mut client = database.connect();
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM rating.usage u JOIN rating.accounts a USING (account_id)"
        ),
        2
    );
    assert_books_balance(&mut client);
}
