//! AFTER INSERT statement trigger on `rating.usage`: posts the statement's
//! rated rows to the ledger and moves the balances.
//!
//! Where no row draws on a reservation and no account has a spending floor,
//! the rows are posted here, with the table access method's calls, where
//! the tables are as the extension made them (`direct_posting`): up to a
//! thousand rows, such as a mediation system's single-row INSERT, read
//! once and held by account; larger statements in two passes over the
//! transition table. Otherwise (a table changed by hand, an alert
//! threshold, a balance not lockable as read, rows not in usage order):
//! - one account of a small statement: one kept statement that moves (and
//!   so locks) the balance and inserts the entries
//!   (sql/queries/post_direct_charge.sql for one row,
//!   sql/queries/post_account_charges.sql for more);
//! - any other statement: one set-based statement,
//!   sql/queries/post_plain_charges.sql, with a kept plan per order of
//!   magnitude of the statement's size.
//!
//! The rest (a reservation to draw on, a floor to check) goes to the
//! PL/pgSQL `rating.post_usage_charges()`, run in this trigger's place with
//! the same trigger call.
//!
//! Every path writes the same entries (pgrx-tests/posting.rs compares them).

use crate::catalog;
use crate::deformed::Deformed;
use crate::direct_posting::{self, streamed::Outcome, EntrySource};
use crate::errors::{raise, report_internal, unposted_charges};
use crate::plans::{
    kept, kept_for_rows, INT8, INT8_ARRAY, NUMERIC, NUMERIC_ARRAY, TEXT, TEXT_ARRAY, TIMESTAMPTZ,
    TIMESTAMPTZ_ARRAY,
};
use crate::settings::with_local_settings;
use crate::transition::{
    for_each_row, has_at_most, register_transition_tables, row_count, rust_or_plpgsql_trigger,
};
use crate::usage_columns::{self, column, UsageColumns};
use pgrx::datum::{DatumWithOid, IntoDatum};
use pgrx::prelude::*;
use pgrx::spi::SpiResult;
use pgrx::AnyNumeric;
use std::collections::BTreeMap;

const POST_DIRECT_CHARGE: &str = include_str!("../sql/queries/post_direct_charge.sql");
const POST_ACCOUNT_CHARGES: &str = include_str!("../sql/queries/post_account_charges.sql");
const POST_PLAIN_CHARGES: &str = include_str!("../sql/queries/post_plain_charges.sql");

/// One rated usage row, as its ledger entry needs it.
pub struct Charge {
    pub account_id: i64,
    pub usage_id: i64,
    pub charge: AnyNumeric,
    pub currency: String,
    pub service: String,
    pub destination: Option<String>,
    pub quantity: AnyNumeric,
    pub occurred_at: TimestampWithTimeZone,
}

/// How a statement's rows are posted.
enum Posting {
    /// Nothing was rated: a held row, or every row skipped by ON CONFLICT.
    Nothing,
    /// By this trigger: the rated rows of a small statement, none drawing on
    /// a reservation, by account in `account_id` order, each account's in
    /// `usage_id` order.
    Accounts(Vec<(i64, Vec<Charge>)>),
    /// A large statement, read twice by `direct_posting::streamed`.
    Large,
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
        Posting::Accounts(accounts) => post_accounts(data, accounts),
        Posting::Large => match direct_posting::streamed::post(data) {
            Outcome::Posted => true,
            Outcome::Reserved => false,
            Outcome::NotHere => post_plain_statement(data),
        },
        Posting::Reserved => false,
    }
}

/// Statements of up to this many rows are read once, their charges held in
/// memory, and posted by account; a larger one is read twice, holding only
/// what each account needs.
const MOST_ROWS_READ_HERE: i64 = 1000;

fn posting(data: &pg_sys::TriggerData) -> Posting {
    if !has_at_most(data.tg_newtable, MOST_ROWS_READ_HERE) {
        return Posting::Large;
    }
    let at = usage_columns::of(data.tg_relation);
    let mut accounts: BTreeMap<i64, Vec<Charge>> = BTreeMap::new();
    let mut reserved = false;
    for_each_row(data.tg_newtable, data.tg_relation, |row| {
        if column::<i64>(row, at.reservation_id).is_some() {
            reserved = true;
        } else if is_rated(row, &at) {
            let charge = read_charge(row, &at);
            accounts.entry(charge.account_id).or_default().push(charge);
        }
        !reserved
    });
    if reserved {
        Posting::Reserved
    } else if accounts.is_empty() {
        Posting::Nothing
    } else {
        Posting::Accounts(
            accounts
                .into_iter()
                .map(|(account_id, mut charges)| {
                    // Entries are numbered in usage order, as the set-based
                    // paths number them.
                    charges.sort_by_key(|charge| charge.usage_id);
                    (account_id, charges)
                })
                .collect(),
        )
    }
}

pub fn is_rated(row: &Deformed<'_>, at: &UsageColumns) -> bool {
    at.status
        .is_none_or(|status| column::<&str>(row, status) == Some("rated"))
}

/// The row's charge, copied out of the row to be held past it.
fn read_charge(row: &Deformed<'_>, at: &UsageColumns) -> Charge {
    let entry = EntrySource::read(row, at);
    let numeric = |datum| {
        unsafe { AnyNumeric::from_datum(datum, false) }
            .unwrap_or_else(|| unreachable!("a non-null numeric"))
    };
    Charge {
        account_id: entry.account_id,
        usage_id: entry.usage_id,
        charge: numeric(entry.charge),
        currency: entry.currency.to_owned(),
        service: entry.service.to_owned(),
        destination: entry.destination.map(str::to_owned),
        quantity: numeric(entry.quantity),
        occurred_at: entry.occurred_at,
    }
}

/// Posts a small statement's charges, or returns false when an account has
/// a spending floor to check, which only `rating.post_usage_charges()` does.
fn post_accounts(data: &pg_sys::TriggerData, accounts: Vec<(i64, Vec<Charge>)>) -> bool {
    if !accounts
        .iter()
        .all(|(account_id, _)| has_no_spending_floor(*account_id))
    {
        // The set-based statement finds the floor too, and hands over.
        return accounts.len() > 1 && post_plain_statement(data);
    }
    if direct_posting::by_account::post(&accounts) {
        return true;
    }
    match accounts.as_slice() {
        [(account_id, charges)] => post_one_account(*account_id, charges),
        _ => post_plain_statement(data),
    }
}

/// Whether the account has no spending floor to check.
///
/// The floor is asked of the account as the rating trigger cached it, not
/// of its row: a floor set in this transaction has already dropped it, and
/// one committed by another session while this statement ran may apply or
/// not, as it may when the row is read (the account row is not locked).
pub fn has_no_spending_floor(account_id: i64) -> bool {
    catalog::account(account_id).is_ok_and(|account| !account.has_spending_floor)
}

/// Posts one account's charges with a kept statement; false if the account
/// has no balance row, which `rating.post_usage_charges()` refuses.
fn post_one_account(account_id: i64, charges: &[Charge]) -> bool {
    let posted: SpiResult<usize> = Spi::connect_mut(|client| {
        let (query, types, args) = match charges {
            [charge] => (
                POST_DIRECT_CHARGE,
                &DIRECT_CHARGE_TYPES[..],
                direct_charge_args(charge),
            ),
            _ => (
                POST_ACCOUNT_CHARGES,
                &ACCOUNT_CHARGES_TYPES[..],
                account_charges_args(charges),
            ),
        };
        let post = kept(client, query, types, true)?;
        // No row limit: with one, the executor would stop at the first
        // row, before queuing the statement's AFTER triggers.
        Ok(client.update(&*post, None, &args)?.len())
    });
    let posted = posted.unwrap_or_else(|e| {
        raise(report_internal(format!(
            "posting the charges of account {account_id}: {e}"
        )))
    });
    // One balance moved, or none: every entry is written, or none is.
    if posted != 0 && posted != charges.len() {
        raise(unposted_charges(charges.len() as i64, posted as i64));
    }
    posted != 0
}

const DIRECT_CHARGE_TYPES: [PgOid; 8] =
    [INT8, NUMERIC, TEXT, INT8, TEXT, TEXT, NUMERIC, TIMESTAMPTZ];

fn direct_charge_args(charge: &Charge) -> Vec<DatumWithOid<'_>> {
    vec![
        charge.account_id.into(),
        charge.charge.clone().into(),
        charge.currency.as_str().into(),
        charge.usage_id.into(),
        charge.service.as_str().into(),
        charge.destination.as_deref().into(),
        charge.quantity.clone().into(),
        charge.occurred_at.into(),
    ]
}

const ACCOUNT_CHARGES_TYPES: [PgOid; 10] = [
    INT8,
    NUMERIC,
    INT8,
    INT8_ARRAY,
    NUMERIC_ARRAY,
    TEXT_ARRAY,
    TEXT_ARRAY,
    TEXT_ARRAY,
    NUMERIC_ARRAY,
    TIMESTAMPTZ_ARRAY,
];

fn account_charges_args(charges: &[Charge]) -> Vec<DatumWithOid<'_>> {
    let total = charges[1..]
        .iter()
        .fold(charges[0].charge.clone(), |sum, charge| {
            sum + charge.charge.clone()
        });
    vec![
        charges[0].account_id.into(),
        total.into(),
        (charges.len() as i64).into(),
        each(charges, |charge| charge.usage_id),
        each(charges, |charge| charge.charge.clone()),
        each(charges, |charge| charge.currency.clone()),
        each(charges, |charge| charge.service.clone()),
        each(charges, |charge| charge.destination.clone()),
        each(charges, |charge| charge.quantity.clone()),
        each(charges, |charge| charge.occurred_at),
    ]
}

/// One field of every charge, as an array argument.
fn each<T: IntoDatum>(charges: &[Charge], field: impl Fn(&Charge) -> T) -> DatumWithOid<'static> {
    charges.iter().map(field).collect::<Vec<T>>().into()
}

/// The settings the set-based statement is planned and run with, those of
/// `rating.post_usage_charges()`: a large statement's entries are numbered
/// by a sort in memory, and its plan, kept for the session, is not
/// JIT-compiled (~190 ms on each statement that runs it). Set here rather
/// than in `post_usage()`'s SET clauses, which every single-row INSERT paid
/// for (about 8,000 instructions) though its small plans need neither.
const SET_BASED_SETTINGS: [(&std::ffi::CStr, &std::ffi::CStr); 2] =
    [(c"work_mem", c"64MB"), (c"jit", c"off")];

/// Posts a statement of more rows or accounts; false when an account has a
/// spending floor or a row draws on a reservation (its balances are then
/// locked, and nothing is posted).
fn post_plain_statement(data: &pg_sys::TriggerData) -> bool {
    let rows = row_count(data.tg_newtable);
    let outcome: SpiResult<(bool, i64, i64)> = with_local_settings(&SET_BASED_SETTINGS, || {
        Spi::connect_mut(|client| {
            register_transition_tables(data);
            let plan = kept_for_rows(client, POST_PLAIN_CHARGES, rows, true)?;
            let outcome = client.update(&*plan, None, &[])?.first();
            Ok((
                outcome.get::<bool>(1)?.unwrap_or(false),
                outcome.get::<i64>(2)?.unwrap_or_default(),
                outcome.get::<i64>(3)?.unwrap_or_default(),
            ))
        })
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
