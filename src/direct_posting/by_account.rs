//! A small statement's charges (up to 1,000 rows), held in memory by
//! account, posted account by account.

use super::{entry_amount, numeric, EntrySource, LockedBalance, Tables};
use crate::posting::Charge;
use crate::table_access;
use pgrx::pg_sys::{self, Datum};

/// Posts the charges of `accounts`, in `account_id` order, each account's
/// in `usage_id` order, none with a spending floor; or returns false having
/// written nothing.
pub fn post(accounts: &[(i64, Vec<Charge>)]) -> bool {
    let Some(tables) = Tables::open() else {
        return false;
    };
    // Every balance is locked, and every entry numbered and checked, before
    // anything is written.
    let accounts = accounts
        .iter()
        .map(|(account_id, charges)| (*account_id, charges.as_slice()));
    let Some(postings) =
        tables.lock_unwatched(accounts, |_, charges, locked| number(locked, charges))
    else {
        return false;
    };
    for posting in &postings {
        let last_entry_no = posting
            .entries
            .last()
            .map_or(posting.locked.last_entry_no, |entry| entry.0);
        tables.move_balance(&posting.locked.row, posting.moved, last_entry_no);
    }
    let rows = postings.iter().flat_map(|posting| {
        posting.entries.iter().map(|(entry_no, amount, charge)| {
            tables.ledger_row(charge, *entry_no, *amount, posting.locked.invoiced_through)
        })
    });
    table_access::insert(&tables.ledger, rows);
    true
}

/// An account's part of the posting: its locked balance, the balance moved
/// by its charges, and their entries (number, amount, charge).
struct AccountPosting<'a> {
    locked: LockedBalance,
    moved: Datum,
    entries: Vec<(i64, Datum, EntrySource<'a>)>,
}

/// Numbers the account's charges after its locked balance; None when an
/// entry number or amount is out of range.
fn number(locked: LockedBalance, charges: &[Charge]) -> Option<AccountPosting<'_>> {
    let mut entries = Vec::with_capacity(charges.len());
    let mut entry_no = locked.last_entry_no;
    let mut moved = locked.balance;
    for charge in charges {
        entry_no = entry_no.checked_add(1)?;
        let charge = EntrySource::of(charge)?;
        let amount = entry_amount(&charge, entry_no)?;
        moved = numeric(pg_sys::numeric_add, &[moved, amount])?;
        entries.push((entry_no, amount, charge));
    }
    Some(AccountPosting {
        locked,
        moved,
        entries,
    })
}
