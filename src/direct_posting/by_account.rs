//! A small statement's charges (up to 1,000 rows), held in memory by
//! account, posted account by account.

use super::{entry_amount, numeric, EntrySource, LockedBalance, Tables};
use crate::index_scan::KeyLookup;
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
    // Every balance is locked, in account order as the other paths lock
    // them, and every entry numbered and checked, before anything is written.
    let mut balances_by_account = tables.balance_lookup();
    let mut postings = Vec::with_capacity(accounts.len());
    for (account_id, charges) in accounts {
        match lock_and_number(&tables, &mut balances_by_account, *account_id, charges) {
            Some(posting) => postings.push(posting),
            None => return false,
        }
    }
    drop(balances_by_account);
    if !Tables::none_watched(accounts.iter().map(|(account_id, _)| *account_id)) {
        return false;
    }
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

/// Locks the account's balance and numbers its charges after it; None when
/// the balance cannot be locked as read.
fn lock_and_number<'a>(
    tables: &Tables,
    balances_by_account: &mut KeyLookup<'_>,
    account_id: i64,
    charges: &'a [Charge],
) -> Option<AccountPosting<'a>> {
    let locked = tables.lock_balance(balances_by_account, account_id)?;
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
