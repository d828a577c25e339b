//! A large statement's charges, posted in two passes over its transition
//! table: the first sums each account's charges, the second writes each
//! row's entry. What is held is per account (its total, its balance's
//! address and its next entry number), never per row, and each row's
//! values are freed with it: a million rows of ten accounts hold no more
//! than ten rows of them.
//!
//! Entries are numbered in usage order. A statement inserts its rows in
//! the order their usage ids were drawn, unless it names them (OVERRIDING
//! SYSTEM VALUE); the first pass checks that each account's rows come in
//! usage order, and leaves any other statement to the set-based one.

use super::{entry_amount, numeric, EntrySource, LockedBalance, Tables};
use crate::deformed::Deformed;
use crate::errors::{raise, report_internal};
use crate::numeric::{numeric_datum, NumericAsDecimal};
use crate::posting::{has_no_spending_floor, is_rated};
use crate::table_access::{fetch_locked, Inserter};
use crate::transition::for_each_row;
use crate::usage_columns::{self, column, required, UsageColumns};
use pgrx::pg_sys::{self, Datum, ItemPointerData};
use pgrx::PgMemoryContexts;
use rust_decimal::Decimal;
use std::collections::btree_map::{BTreeMap, Entry};

/// What became of the statement.
pub enum Outcome {
    /// Every rated row was posted (or none was rated).
    Posted,
    /// A row draws on a reservation: nothing was written.
    Reserved,
    /// Nothing was written; the set-based statement is to post it.
    NotHere,
}

/// An account's rated rows in the statement.
struct Sum {
    entries: i64,
    total: Decimal,
    last_usage_id: i64,
}

/// An account's balance, locked, and its entries as they are written.
struct Account {
    account_id: i64,
    balance_at: ItemPointerData,
    /// Moved by the account's charges.
    moved: Datum,
    invoiced_through: Option<i64>,
    /// The number of the account's entry written last (the balance's own
    /// before the first).
    numbered: i64,
    /// The number the last entry gets.
    last_entry_no: i64,
}

/// Posts the statement's rated rows, none drawing on a reservation, of
/// accounts without a spending floor.
pub fn post(data: &pg_sys::TriggerData) -> Outcome {
    let at = usage_columns::of(data.tg_relation);
    let sums = match sums(data, &at) {
        Ok(sums) if sums.is_empty() => return Outcome::Posted,
        Ok(sums) => sums,
        Err(outcome) => return outcome,
    };
    let Some(tables) = Tables::open() else {
        return Outcome::NotHere;
    };
    // Every balance is locked before anything is written. (Not in a context
    // freed per account: the index scan, kept across accounts, may allocate
    // as it goes.)
    let Some(mut accounts) = tables.lock_unwatched(sums, moved_by_total) else {
        return Outcome::NotHere;
    };
    // Freed after each account and each row.
    let mut per_row = PgMemoryContexts::new("pg_rating posting");
    for account in &accounts {
        unsafe {
            per_row.switch_to(|_| {
                let row = fetch_locked(&tables.balances, account.balance_at).unwrap_or_else(|| {
                    raise(report_internal("a locked balance went missing".into()))
                });
                tables.move_balance(&row, account.moved, account.last_entry_no);
            });
            per_row.reset();
        }
    }
    let mut ledger = Inserter::open(&tables.ledger);
    for_each_row(data.tg_newtable, data.tg_relation, |row| {
        if is_rated(row, &at) {
            unsafe {
                per_row.switch_to(|_| {
                    let charge = EntrySource::read(row, &at);
                    let account = account_of(&mut accounts, charge.account_id);
                    account.numbered += 1;
                    let amount = entry_amount(&charge, account.numbered).unwrap_or_else(|| {
                        raise(report_internal("an entry without amount".into()))
                    });
                    ledger.insert(&tables.ledger_row(
                        &charge,
                        account.numbered,
                        amount,
                        account.invoiced_through,
                    ));
                });
                per_row.reset();
            }
        }
        true
    });
    if accounts
        .iter()
        .any(|account| account.numbered != account.last_entry_no)
    {
        raise(report_internal(
            "the statement's rows changed between two readings".into(),
        ));
    }
    Outcome::Posted
}

/// Each account's rated rows, in account order; or what to do instead.
fn sums(data: &pg_sys::TriggerData, at: &UsageColumns) -> Result<BTreeMap<i64, Sum>, Outcome> {
    let mut sums = BTreeMap::new();
    let mut outcome = Ok(());
    for_each_row(data.tg_newtable, data.tg_relation, |row| {
        outcome = add_row(&mut sums, row, at);
        outcome.is_ok()
    });
    outcome.map(|()| sums)
}

fn add_row(
    sums: &mut BTreeMap<i64, Sum>,
    row: &Deformed<'_>,
    at: &UsageColumns,
) -> Result<(), Outcome> {
    if column::<i64>(row, at.reservation_id).is_some() {
        return Err(Outcome::Reserved);
    }
    if !is_rated(row, at) {
        return Ok(());
    }
    let account_id: i64 = required(row, at.account_id, "account_id");
    let usage_id: i64 = required(row, at.usage_id, "usage_id");
    let charge = required::<NumericAsDecimal>(row, at.charge, "charge")
        .0
        .map_err(|_| Outcome::NotHere)?;
    let sum = match sums.entry(account_id) {
        Entry::Occupied(found) => found.into_mut(),
        // The floor is checked only by rating.post_usage_charges(), which
        // the set-based statement hands it to.
        Entry::Vacant(_) if !has_no_spending_floor(account_id) => return Err(Outcome::NotHere),
        Entry::Vacant(new) => new.insert(Sum {
            entries: 0,
            total: Decimal::ZERO,
            last_usage_id: i64::MIN,
        }),
    };
    if usage_id <= sum.last_usage_id {
        return Err(Outcome::NotHere);
    }
    // Exact, as numeric's sum is: a total whose scale a Decimal would have
    // to round is left to SQL.
    let scale = sum.total.scale().max(charge.scale());
    sum.total = sum
        .total
        .checked_add(charge)
        .filter(|total| total.scale() == scale)
        .ok_or(Outcome::NotHere)?;
    sum.entries += 1;
    sum.last_usage_id = usage_id;
    Ok(())
}

/// The account, its locked balance moved by its total; None when the total
/// or the entry numbers are out of range.
fn moved_by_total(account_id: i64, sum: Sum, locked: LockedBalance) -> Option<Account> {
    let moved = numeric(
        pg_sys::numeric_sub,
        &[locked.balance, numeric_datum(sum.total)],
    )?;
    Some(Account {
        account_id,
        balance_at: locked.row.tid(),
        moved,
        invoiced_through: locked.invoiced_through,
        numbered: locked.last_entry_no,
        last_entry_no: locked.last_entry_no.checked_add(sum.entries)?,
    })
}

fn account_of(accounts: &mut [Account], account_id: i64) -> &mut Account {
    match accounts.binary_search_by_key(&account_id, |account| account.account_id) {
        Ok(at) => &mut accounts[at],
        Err(_) => raise(report_internal(format!(
            "account {account_id} was not in the statement's first reading"
        ))),
    }
}
