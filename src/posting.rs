//! AFTER INSERT statement trigger on `rating.usage`: posts the statement's
//! rated rows to the ledger and moves the balance.
//!
//! A statement of one or two rows for one account, such as a mediation
//! system's single-row INSERT, is posted here with kept plans: move (and so
//! lock) the balance, then insert each entry. Everything else (several
//! accounts, more rows, a reservation to draw on, a spending floor to check)
//! is posted by the set-based `rating.post_usage_charges()`, run in its
//! place with the same trigger call, whose fixed cost (PL/pgSQL, a query
//! over the transition table) only pays off on larger statements. Both write
//! the same entries (pgrx-tests/posting.rs compares them).

use crate::errors::{raise, report_internal};
use crate::plans::{kept, INT8, NUMERIC, TEXT, TIMESTAMPTZ};
use crate::transition::{for_each_row, has_at_most, small_or_set_based_trigger};
use crate::usage_columns::{self, column, required, UsageColumns};
use pgrx::prelude::*;
use pgrx::spi::SpiResult;
use pgrx::AnyNumeric;

const INSERT_ENTRY: &str = include_str!("../sql/queries/insert_charge_entry.sql");
const MOVE_BALANCE: &str = include_str!("../sql/queries/move_balance_by_charges.sql");

/// Measured as backend CPU per row of one-account statements: the two paths
/// cost about the same at two rows, and the set-based one less from four.
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
    /// By `rating.post_usage_charges()`.
    SetBased,
}

small_or_set_based_trigger! {
    symbol: post_usage_trigger,
    finfo: pg_finfo_post_usage_trigger,
    name: "rating.post_usage()",
    take_small: post_small_statement,
    otherwise: c"rating.post_usage_charges()",
}

/// Posts the statement if it is small; false leaves it to the set-based path.
fn post_small_statement(data: &pg_sys::TriggerData) -> bool {
    match posting(data) {
        Posting::Nothing => true,
        Posting::Direct {
            account_id,
            charges,
        } => post_directly(account_id, &charges),
        Posting::SetBased => false,
    }
}

fn posting(data: &pg_sys::TriggerData) -> Posting {
    if !has_at_most(data.tg_newtable, MAX_DIRECT_ROWS) {
        return Posting::SetBased;
    }
    let at = usage_columns::of(data.tg_relation);
    let mut account = None;
    let mut charges = Vec::new();
    let mut direct = true;
    for_each_row(data.tg_newtable, data.tg_relation, |row| {
        if column::<i64>(row, at.reservation_id).is_some() {
            direct = false;
        } else if is_rated(row, &at) {
            let account_id = required::<i64>(row, at.account_id, "account_id");
            direct &= *account.get_or_insert(account_id) == account_id;
            charges.push(read_charge(row, &at));
        }
        direct
    });
    charges.sort_by_key(|charge| charge.usage_id);
    match (direct, account) {
        (false, _) => Posting::SetBased,
        (true, None) => Posting::Nothing,
        (true, Some(account_id)) => Posting::Direct {
            account_id,
            charges,
        },
    }
}

fn is_rated(row: &PgHeapTuple<'_, AllocatedByPostgres>, at: &UsageColumns) -> bool {
    at.status
        .is_none_or(|status| column::<String>(row, status).as_deref() == Some("rated"))
}

fn read_charge(row: &PgHeapTuple<'_, AllocatedByPostgres>, at: &UsageColumns) -> Charge {
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
/// which only the set-based path does.
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
