//! What the client-connection test suites share: a database of their own
//! per test, small query helpers, and the auditor's check of the books.

#![allow(dead_code)] // each test binary uses its own subset

use postgres::{Client, NoTls};

const FIXTURE: &str = include_str!("../../pgrx-tests/fixture.sql");
const NEEDS_SERVER: &str = "needs a server with pg_rating installed: run scripts/test.sh";

pub struct TestDatabase {
    pub dsn: String,
}

impl TestDatabase {
    /// A fresh database with the extension and the shared fixture (tariffs
    /// 1001 EUR and 1002 USD; accounts 3001-3004, 3003 unsubscribed).
    pub fn create(name: &str) -> Self {
        Self::create_with(name, "CREATE EXTENSION pg_rating CASCADE")
    }

    /// The same, with the extension created by `create_extension` (e.g. an
    /// older version).
    pub fn create_with(name: &str, create_extension: &str) -> Self {
        let database = Self::empty(name);
        let mut client = database.connect();
        client.batch_execute(create_extension).unwrap();
        client.batch_execute(FIXTURE).unwrap();
        database
    }

    /// An empty database (for pg_restore), dropped first if it exists.
    pub fn empty(name: &str) -> Self {
        let server = std::env::var("PG_RATING_TEST_DSN").expect(NEEDS_SERVER);
        let mut admin = Client::connect(&server, NoTls).expect(NEEDS_SERVER);
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        TestDatabase {
            dsn: format!("{server} dbname={name}"),
        }
    }

    pub fn connect(&self) -> Client {
        Client::connect(&self.dsn, NoTls).unwrap_or_else(|e| panic!("connect {}: {e}", self.dsn))
    }
}

pub fn count(client: &mut Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

pub fn text(client: &mut Client, sql: &str) -> String {
    client
        .query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

/// An account's balance in cents (the fixture's prices are whole cents).
pub fn balance_cents(client: &mut Client, account_id: i64) -> i64 {
    client
        .query_one(
            "SELECT (balance * 100)::bigint FROM rating.balances WHERE account_id = $1",
            &[&account_id],
        )
        .unwrap()
        .get(0)
}

/// The books as an auditor checks them: each balance equals the sum of its
/// ledger, each rated usage row is charged exactly once (its entries sum to
/// minus its charge, one charge no reversal cancels), held rows not at all,
/// and each account's entry numbers run 1..n without a gap.
pub fn assert_books_balance(client: &mut Client) {
    let unbalanced = count(
        client,
        "SELECT count(*) FROM rating.balances b
          WHERE b.balance <> (SELECT coalesce(sum(amount), 0) FROM rating.ledger l WHERE l.account_id = b.account_id)",
    );
    assert_eq!(
        unbalanced, 0,
        "balances that differ from the sum of their ledger"
    );
    let mischarged = count(client, include_str!("../sql/mischarged_usage.sql"));
    assert_eq!(
        mischarged, 0,
        "usage rows not charged exactly once (rated) or charged at all (held)"
    );
    let orphans = count(
        client,
        "SELECT count(*) FROM rating.ledger l
          WHERE l.kind = 'charge'
            AND NOT EXISTS (SELECT FROM rating.usage u WHERE u.account_id = l.account_id AND u.usage_id = l.usage_id)",
    );
    assert_eq!(orphans, 0, "ledger charges without their usage row");
    let gapped = count(
        client,
        "SELECT count(*) FROM rating.balances b
          WHERE b.last_entry_no <> (SELECT count(*) FROM rating.ledger l WHERE l.account_id = b.account_id)
             OR b.last_entry_no <> (SELECT coalesce(max(entry_no), 0) FROM rating.ledger l WHERE l.account_id = b.account_id)",
    );
    assert_eq!(gapped, 0, "accounts whose entry numbers are not 1..n");
}

/// Runs `attempt` in `sessions` sessions released at the same instant.
pub fn race<T: Send>(
    database: &TestDatabase,
    sessions: usize,
    attempt: impl Fn(&mut Client, usize) -> T + Sync,
) -> Vec<T> {
    let start = std::sync::Barrier::new(sessions);
    std::thread::scope(|scope| {
        let racers: Vec<_> = (0..sessions)
            .map(|n| {
                let mut client = database.connect();
                let (start, attempt) = (&start, &attempt);
                scope.spawn(move || {
                    start.wait();
                    attempt(&mut client, n)
                })
            })
            .collect();
        racers
            .into_iter()
            .map(|racer| racer.join().expect("a racing session panicked"))
            .collect()
    })
}
