//! AFTER INSERT statement trigger on `rating.usage`: posts the statement's
//! rated rows to the ledger and moves the balances.
//!
//! Three ways, by what the statement holds:
//! - one row, such as a mediation system's single-row INSERT: posted here
//!   with one kept statement, sql/queries/post_direct_charge.sql (move,
//!   and so lock, the balance, and insert the entry);
//! - more rows, none drawing on a reservation, for accounts without a
//!   spending floor (the common batch): one set-based statement,
//!   sql/queries/post_plain_charges.sql, with a kept plan per order of
//!   magnitude of the statement's size;
//! - the rest (a reservation to draw on, a floor to check): the PL/pgSQL
//!   `rating.post_usage_charges()`, run in this trigger's place with the
//!   same trigger call.
//!
//! All three write the same entries (pgrx-tests/posting.rs compares them).

use crate::catalog;
use crate::deformed::Deformed;
use crate::errors::{raise, report_internal, unposted_charges};
use crate::plans::{kept, kept_for_rows, INT8, NUMERIC, TEXT, TIMESTAMPTZ};
use crate::transition::{
    for_each_row, has_at_most, register_transition_tables, row_count, rust_or_plpgsql_trigger,
};
use crate::usage_columns::{self, column, required, UsageColumns};
use pgrx::prelude::*;
use pgrx::spi::SpiResult;
use pgrx::AnyNumeric;

const POST_DIRECT_CHARGE: &str = include_str!("../sql/queries/post_direct_charge.sql");
const POST_PLAIN_CHARGES: &str = include_str!("../sql/queries/post_plain_charges.sql");

/// One rated usage row, as its ledger entry needs it.
struct Charge {
    account_id: i64,
    usage_id: i64,
    charge: AnyNumeric,
    currency: String,
    service: String,
    destination: Option<String>,
    quantity: AnyNumeric,
    occurred_at: TimestampWithTimeZone,
}

/// How a statement's rows are posted.
enum Posting {
    /// Nothing was rated: a held row, or every row skipped by ON CONFLICT.
    Nothing,
    /// By this trigger: the statement's one row, rated, not drawing on a
    /// reservation.
    Direct(Charge),
    /// By the set-based plain statement, unless an account has a spending
    /// floor or a row draws on a reservation.
    SetBased,
    /// A row draws on a reservation: by `rating.post_usage_charges()`.
    Reserved,
}

rust_or_plpgsql_trigger! {
    symbol: post_usage_trigger,
    finfo: pg_finfo_post_usage_trigger,
    name: "rating.post_usage()",
    take: post_unless_reserved_or_floored,
    otherwise: c"rating.post_usage_charges()",
}

/// Posts the statement, or returns false to leave it to
/// `rating.post_usage_charges()`, the only path that draws on reservations
/// and checks spending floors.
fn post_unless_reserved_or_floored(data: &pg_sys::TriggerData) -> bool {
    match posting(data) {
        Posting::Nothing => true,
        Posting::Direct(charge) => post_directly(&charge),
        Posting::SetBased => post_plain_statement(data),
        Posting::Reserved => false,
    }
}

fn posting(data: &pg_sys::TriggerData) -> Posting {
    // Only a single row is posted here. A kept statement taking one or two
    // charges had plan nodes whose start-up cost every single-row statement
    // more than it saved the rare two-row one over the set-based path
    // (callgrind figures in the README's Performance).
    if !has_at_most(data.tg_newtable, 1) {
        return Posting::SetBased;
    }
    let at = usage_columns::of(data.tg_relation);
    let mut posting = Posting::Nothing;
    for_each_row(data.tg_newtable, data.tg_relation, |row| {
        if column::<i64>(row, at.reservation_id).is_some() {
            posting = Posting::Reserved;
        } else if is_rated(row, &at) {
            posting = Posting::Direct(read_charge(row, &at));
        }
        true
    });
    posting
}

fn is_rated(row: &Deformed<'_>, at: &UsageColumns) -> bool {
    at.status
        .is_none_or(|status| column::<String>(row, status).as_deref() == Some("rated"))
}

fn read_charge(row: &Deformed<'_>, at: &UsageColumns) -> Charge {
    Charge {
        account_id: required(row, at.account_id, "account_id"),
        usage_id: required(row, at.usage_id, "usage_id"),
        charge: required(row, at.charge, "charge"),
        currency: required(row, at.currency, "currency"),
        service: required(row, at.service, "service"),
        destination: column(row, at.destination),
        quantity: required(row, at.quantity, "quantity"),
        occurred_at: required(row, at.occurred_at, "occurred_at"),
    }
}

/// Posts the charge; false if its account has a spending floor to check,
/// which only `rating.post_usage_charges()` does.
///
/// The floor is asked of the account as the rating trigger cached it, not
/// of its row: a floor set in this transaction has already dropped it, and
/// one committed by another session while this statement ran may apply or
/// not, as it may when the row is read (the account row is not locked).
fn post_directly(charge: &Charge) -> bool {
    let account_id = charge.account_id;
    if !catalog::account(account_id).is_ok_and(|account| !account.has_spending_floor) {
        return false;
    }
    let args = [
        account_id.into(),
        charge.charge.clone().into(),
        charge.currency.as_str().into(),
        charge.usage_id.into(),
        charge.service.as_str().into(),
        charge.destination.as_deref().into(),
        charge.quantity.clone().into(),
        charge.occurred_at.into(),
    ];
    let types = [INT8, NUMERIC, TEXT, INT8, TEXT, TEXT, NUMERIC, TIMESTAMPTZ];
    let posted: SpiResult<bool> = Spi::connect_mut(|client| {
        let post = kept(client, POST_DIRECT_CHARGE, &types, true)?;
        // No row limit: with one, the executor would stop at the first
        // row, before queuing the statement's AFTER triggers.
        let written = client.update(&*post, None, &args)?;
        Ok(!written.is_empty())
    });
    posted.unwrap_or_else(|e| {
        raise(report_internal(format!(
            "posting the charge of account {account_id}: {e}"
        )))
    })
}

/// Posts a statement of more rows or accounts; false when an account has a
/// spending floor or a row draws on a reservation (its balances are then
/// locked, and nothing is posted).
fn post_plain_statement(data: &pg_sys::TriggerData) -> bool {
    let rows = row_count(data.tg_newtable);
    let outcome: SpiResult<(bool, i64, i64)> = Spi::connect_mut(|client| {
        register_transition_tables(data);
        let plan = kept_for_rows(client, POST_PLAIN_CHARGES, rows, true)?;
        let outcome = client.update(&*plan, None, &[])?.first();
        Ok((
            outcome.get::<bool>(1)?.unwrap_or(false),
            outcome.get::<i64>(2)?.unwrap_or_default(),
            outcome.get::<i64>(3)?.unwrap_or_default(),
        ))
    });
    let (plain, rated, posted) = outcome.unwrap_or_else(|e| {
        raise(report_internal(format!(
            "posting a statement of {rows} usage rows: {e}"
        )))
    });
    if plain && posted != rated {
        raise(unposted_charges(rated, posted));
    }
    plain
}
