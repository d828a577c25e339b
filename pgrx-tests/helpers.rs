// Helpers shared by the in-database test suites (included into `mod tests`
// in src/lib.rs). Each test runs in its own transaction, rolled back at the end.

use pgrx::datum::{FromDatum, IntoDatum};
use pgrx::prelude::*;

extension_sql!(
    r#"
CREATE FUNCTION tests.error_of(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
CREATE FUNCTION tests.detail_of(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN detail;
END
$$;
"#,
    name = "test_helpers",
    requires = ["views"]
);

fn run(sql: &str) {
    Spi::run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn one<T: FromDatum + IntoDatum>(sql: &str) -> T {
    Spi::get_one::<T>(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: NULL"))
}

fn text(sql: &str) -> String {
    one::<String>(sql)
}

/// The error `statement` raises, as "SQLSTATE: message", or "no error"; the
/// statement runs in a subtransaction, so a failure leaves nothing behind.
fn error_of(statement: &str) -> String {
    text(&format!("SELECT tests.error_of($${statement}$$)"))
}

/// The DETAIL of the error `statement` raises.
fn detail_of(statement: &str) -> String {
    text(&format!("SELECT tests.detail_of($${statement}$$)"))
}

/// A single-row INSERT of one SMS for `account_id`, occurring now.
fn one_sms_now(account_id: i64) -> String {
    format!("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES ({account_id}, 'sms', 1, now())")
}

/// Opens accounts 10001 to 10000 + `count`, EUR, on tariff 1001 since 2026.
fn open_bulk_accounts(count: i32) {
    run(&format!(
        "INSERT INTO rating.accounts (account_id, name, currency)
         SELECT 10000 + g, 'bulk ' || g, 'EUR' FROM generate_series(1, {count}) g"
    ));
    run(&format!(
        "INSERT INTO rating.subscriptions (account_id, tariff_id, valid_from)
         SELECT 10000 + g, 1001, '2026-01-01 00:00+00' FROM generate_series(1, {count}) g"
    ));
}

fn fixture() {
    run(include_str!("fixture.sql"));
}

/// The two invariants every test ends on: each balance is the sum of its
/// ledger, and each rated usage row is charged exactly once: its entries sum
/// to -charge, with one charge that no reversal cancels. Held rows have none.
/// (Written out here rather than with rating.verify_*, which are under test.)
fn assert_books_balance() {
    let unbalanced = one::<i64>(
        "SELECT count(*) FROM rating.balances b
          WHERE b.balance <> (SELECT coalesce(sum(amount), 0) FROM rating.ledger l WHERE l.account_id = b.account_id)",
    );
    assert_eq!(unbalanced, 0, "balances that differ from their ledger");
    let mischarged = one::<i64>(
        include_str!("../tests/sql/mischarged_usage.sql"),
    );
    assert_eq!(mischarged, 0, "usage rows without exactly one matching ledger entry");
}
