//! AFTER INSERT statement trigger on `rating.usage`: posts the statement's
//! rated rows to the ledger and moves the balances.
//!
//! Three ways, by what the statement holds:
//! - one or two rows for one account, such as a mediation system's
//!   single-row INSERT: posted here with kept plans (move, and so lock, the
//!   balance, then insert each entry);
//! - more rows or accounts, none drawing on a reservation, for accounts
//!   without a spending floor (the common batch): one set-based statement,
//!   sql/queries/post_plain_charges.sql, with a kept plan per order of
//!   magnitude of the statement's size;
//! - the rest (a reservation to draw on, a floor to check): the PL/pgSQL
//!   `rating.post_usage_charges()`, run in this trigger's place with the
//!   same trigger call.
//!
//! All three write the same entries (pgrx-tests/posting.rs compares them).

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

const INSERT_ENTRY: &str = include_str!("../sql/queries/insert_charge_entry.sql");
const MOVE_BALANCE: &str = include_str!("../sql/queries/move_balance_by_charges.sql");
const POST_PLAIN_CHARGES: &str = include_str!("../sql/queries/post_plain_charges.sql");

/// Measured as backend CPU per row of one-account statements: the two paths
/// cost about the same at two rows, and the set-based one less from four
/// (against the PL/pgSQL set-based path; the plain statement that replaced
/// it for such statements costs no more, so the bound stands unmeasured).
const MAX_DIRECT_ROWS: i64 = 2;

/// One rated usage row, as its ledger entry needs it.
struct Charge {
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
    /// Nothing was rated: held rows only, or every row skipped by ON CONFLICT.
    Nothing,
    /// By this trigger: rated rows of one account, none drawing on a
    /// reservation, in usage order.
    Direct {
        account_id: i64,
        charges: Vec<Charge>,
    },
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
        Posting::Direct {
            account_id,
            charges,
        } => post_directly(account_id, &charges),
        Posting::SetBased => post_plain_statement(data),
        Posting::Reserved => false,
    }
}

fn posting(data: &pg_sys::TriggerData) -> Posting {
    if !has_at_most(data.tg_newtable, MAX_DIRECT_ROWS) {
        return Posting::SetBased;
    }
    let at = usage_columns::of(data.tg_relation);
    let mut account = None;
    let mut charges = Vec::new();
    let mut one_account = true;
    let mut reserved = false;
    for_each_row(data.tg_newtable, data.tg_relation, |row| {
        if column::<i64>(row, at.reservation_id).is_some() {
            reserved = true;
        } else if is_rated(row, &at) {
            let account_id = required::<i64>(row, at.account_id, "account_id");
            one_account &= *account.get_or_insert(account_id) == account_id;
            charges.push(read_charge(row, &at));
        }
        one_account && !reserved
    });
    charges.sort_by_key(|charge| charge.usage_id);
    match (reserved, one_account, account) {
        (true, _, _) => Posting::Reserved,
        (false, false, _) => Posting::SetBased,
        (false, true, None) => Posting::Nothing,
        (false, true, Some(account_id)) => Posting::Direct {
            account_id,
            charges,
        },
    }
}

fn is_rated(row: &Deformed<'_>, at: &UsageColumns) -> bool {
    at.status
        .is_none_or(|status| column::<String>(row, status).as_deref() == Some("rated"))
}

fn read_charge(row: &Deformed<'_>, at: &UsageColumns) -> Charge {
    Charge {
        usage_id: required(row, at.usage_id, "usage_id"),
        charge: required(row, at.charge, "charge"),
        currency: required(row, at.currency, "currency"),
        service: required(row, at.service, "service"),
        destination: column(row, at.destination),
        quantity: required(row, at.quantity, "quantity"),
        occurred_at: required(row, at.occurred_at, "occurred_at"),
    }
}

/// Posts the charges; false if the account has a spending floor to check,
/// which only `rating.post_usage_charges()` does.
fn post_directly(account_id: i64, charges: &[Charge]) -> bool {
    let total = charges.iter().fold(AnyNumeric::from(0), |sum, charge| {
        sum + charge.charge.clone()
    });
    let entries = charges.len() as i64;
    let posted: SpiResult<bool> = Spi::connect_mut(|client| {
        let move_balance = kept(client, MOVE_BALANCE, &[INT8, NUMERIC, INT8], true)?;
        // No row limit: with one, the executor would stop at the first
        // returned row, before queuing the statement's AFTER triggers.
        let moved = client.update(
            &*move_balance,
            None,
            &[account_id.into(), total.into(), entries.into()],
        )?;
        if moved.is_empty() {
            return Ok(false);
        }
        let balance = moved.first();
        let last_entry_no = balance.get::<i64>(1)?.unwrap_or_default();
        let invoiced_through = balance.get::<TimestampWithTimeZone>(2)?;

        let types = [
            INT8,
            INT8,
            NUMERIC,
            TEXT,
            INT8,
            TEXT,
            TEXT,
            NUMERIC,
            TIMESTAMPTZ,
            TIMESTAMPTZ,
        ];
        let insert = kept(client, INSERT_ENTRY, &types, true)?;
        for (entry_no, charge) in (last_entry_no + 1..).zip(charges) {
            let args = [
                account_id.into(),
                entry_no.into(),
                charge.charge.clone().into(),
                charge.currency.as_str().into(),
                charge.usage_id.into(),
                charge.service.as_str().into(),
                charge.destination.as_deref().into(),
                charge.quantity.clone().into(),
                charge.occurred_at.into(),
                invoiced_through.into(),
            ];
            client.update(&*insert, None, &args)?;
        }
        Ok(true)
    });
    posted.unwrap_or_else(|e| {
        raise(report_internal(format!(
            "posting the charges of account {account_id}: {e}"
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
