//! Posting the rated rows of a small statement (up to 1,000 rows), such as a
//! mediation system's single-row INSERT, with the table access method's own
//! calls ([`crate::table_access`]) instead of SQL.
//!
//! The kept statement that posted a single row
//! (sql/queries/post_direct_charge.sql) cost about 200,000 instructions,
//! most of them in starting, running and ending an executor for two small
//! plans, reading and planning the ledger's CHECK again, and running the
//! balances' alert trigger; a statement of several accounts paid the
//! set-based statement's plan for 200,000 rows. The row changes are the same
//! here: each balance is found by its key and locked at its latest version,
//! in account order, as an UPDATE in READ COMMITTED follows a row updated
//! while it waited; moved once by its account's charges; and each charge's
//! entry is inserted, numbered after the balance in usage order, with its
//! index entries and the ledger's rules checked.
//!
//! Only where that is all the statement would have done: neither table has a
//! trigger, rule or CHECK but the extension's own, nor forced row-level
//! security, nor a ledger column it does not fill; and the account has no
//! alert threshold. Otherwise, and whenever the balance is not found and
//! locked as read (a row updated since a REPEATABLE READ snapshot, or
//! deleted), nothing has been written and the caller runs the statement,
//! which refuses or alerts as it always has.

use crate::alerts::any_account_watched;
use crate::index_scan::{
    column, for_each_match, open_settled, rating_relation, valid_index, KeptLayout, Opened,
    Snapshot,
};
use crate::ledger_check::{refuse_malformed, LedgerEntry};
use crate::posting::Charge;
use crate::table_access::{self, live_columns, writes_skip_nothing, Slot};
use pgrx::datum::IntoDatum;
use pgrx::fcinfo::direct_function_call_as_datum;
use pgrx::pg_sys::{self, AttrNumber, Datum, Oid};
use std::cell::Cell;
use std::ffi::CStr;
use std::fmt::Write;

/// The ledger's columns, each of which the entry fills: a column added by
/// hand, whose default would be skipped, leaves posting to the statement.
const LEDGER_COLUMNS: [&CStr; 12] = [
    c"account_id",
    c"entry_no",
    c"kind",
    c"amount",
    c"currency",
    c"usage_id",
    c"description",
    c"idempotency_key",
    c"corrects_entry_no",
    c"over_limit",
    c"late",
    c"posted_at",
];

/// The extension's own triggers and CHECKs.
const BALANCES_TRIGGERS: [&CStr; 1] = [c"balances_alert"];
const LEDGER_TRIGGERS: [&CStr; 3] = [
    c"ledger_append_only",
    c"ledger_corrects_an_entry",
    c"ledger_no_truncate",
];
const LEDGER_CHECKS: [&CStr; 1] = [c"ledger_entry_well_formed"];

/// Where the tables and columns are.
#[derive(Clone, Copy)]
struct Layout {
    balances: Oid,
    balances_by_account: Oid,
    balance_account: AttrNumber,
    balance: AttrNumber,
    last_entry_no: AttrNumber,
    invoiced_through: AttrNumber,
    updated_at: AttrNumber,
    ledger: Oid,
    /// The number of each of LEDGER_COLUMNS.
    ledger_columns: [AttrNumber; LEDGER_COLUMNS.len()],
}

thread_local! {
    static LAYOUT: KeptLayout<Layout> = const { Cell::new(None) };
}

fn resolve() -> Option<Layout> {
    let balances = rating_relation(c"balances")?;
    let ledger = rating_relation(c"ledger")?;
    let mut ledger_columns = [0; LEDGER_COLUMNS.len()];
    for (at, name) in ledger_columns.iter_mut().zip(LEDGER_COLUMNS) {
        *at = column(ledger, name)?;
    }
    Some(Layout {
        balances,
        balances_by_account: valid_index(c"balances_pkey")?,
        balance_account: column(balances, c"account_id")?,
        balance: column(balances, c"balance")?,
        last_entry_no: column(balances, c"last_entry_no")?,
        invoiced_through: column(balances, c"invoiced_through")?,
        updated_at: column(balances, c"updated_at")?,
        ledger,
        ledger_columns,
    })
}

/// Posts the charges of `accounts`, in `account_id` order, each account's
/// in `usage_id` order, none with a spending floor; or returns false having
/// written nothing.
pub fn post(accounts: &[(i64, Vec<Charge>)]) -> bool {
    let Some((layout, (balances, ledger))) = open_settled(&LAYOUT, resolve, |layout| {
        (
            Opened::for_writing(layout.balances),
            Opened::for_writing(layout.ledger),
        )
    }) else {
        return false;
    };
    if !writes_skip_nothing(&balances, &BALANCES_TRIGGERS, &[])
        || !writes_skip_nothing(&ledger, &LEDGER_TRIGGERS, &LEDGER_CHECKS)
        || live_columns(&ledger) != LEDGER_COLUMNS.len()
    {
        return false;
    }
    // As SPI does before each statement: what this command wrote is seen.
    unsafe { pg_sys::CommandCounterIncrement() };
    let snapshot = Snapshot::take();
    // Every balance is locked, in account order as the other paths lock
    // them, and every entry numbered and checked, before anything is written.
    let mut postings = Vec::with_capacity(accounts.len());
    for (account_id, charges) in accounts {
        match lock_and_number(&balances, &layout, &snapshot, *account_id, charges) {
            Some(posting) => postings.push(posting),
            None => return false,
        }
    }
    // Asked once the balances are locked, as the alert trigger would ask
    // after the UPDATE: a threshold committed while a lock was awaited counts.
    if any_account_watched(accounts.iter().map(|(account_id, _)| *account_id)) != Some(false) {
        return false;
    }
    let now = Datum::from(unsafe { pg_sys::GetCurrentTransactionStartTimestamp() });
    for posting in &postings {
        let last_entry_no = posting.entries.last().map_or(0, |entry| entry.entry_no);
        table_access::update(
            &balances,
            &snapshot,
            &posting.balance,
            &[
                (layout.balance, Some(posting.moved)),
                (layout.last_entry_no, Some(Datum::from(last_entry_no))),
                (layout.updated_at, Some(now)),
            ],
        );
    }
    let rows = postings.iter().flat_map(|posting| {
        posting.entries.iter().map(move |entry| {
            let charge = entry.charge;
            // As coalesce(occurred_at < invoiced_through, false): timestamps
            // compare as their integers.
            let occurred_at = pg_sys::TimestampTz::from(charge.occurred_at);
            let late = posting
                .invoiced_through
                .is_some_and(|through| occurred_at < through);
            let values: [Option<Datum>; LEDGER_COLUMNS.len()] = [
                Some(Datum::from(charge.account_id)),
                Some(Datum::from(entry.entry_no)),
                "charge".into_datum(),
                Some(entry.amount),
                charge.currency.as_str().into_datum(),
                Some(Datum::from(charge.usage_id)),
                description(charge).as_str().into_datum(),
                None,
                None,
                Some(Datum::from(false)),
                Some(Datum::from(late)),
                Some(now),
            ];
            layout
                .ledger_columns
                .into_iter()
                .zip(values)
                .collect::<Vec<_>>()
        })
    });
    table_access::insert(&ledger, rows);
    true
}

/// An account's part of the posting: its locked balance, the balance moved
/// by its charges, and their entries.
struct AccountPosting<'a> {
    balance: Slot,
    moved: Datum,
    invoiced_through: Option<i64>,
    entries: Vec<Entry<'a>>,
}

/// Locks the account's balance and numbers its charges after it; None when
/// the balance cannot be locked as read.
fn lock_and_number<'a>(
    balances: &Opened,
    layout: &Layout,
    snapshot: &Snapshot,
    account_id: i64,
    charges: &'a [Charge],
) -> Option<AccountPosting<'a>> {
    let balance = lock_balance(balances, layout, account_id, snapshot)?;
    let old = |attnum| balance.value(attnum);
    let entries = entries(charges, int8(old(layout.last_entry_no)?))?;
    let moved = entries
        .iter()
        .try_fold(old(layout.balance)?, |sum, entry| {
            numeric(pg_sys::numeric_add, &[sum, entry.amount])
        })?;
    Some(AccountPosting {
        invoiced_through: old(layout.invoiced_through).map(int8),
        balance,
        moved,
        entries,
    })
}

/// The account's balance row, found by key and locked at the version an
/// UPDATE would move; None if there is none, or if the version seen is not
/// the latest in REPEATABLE READ.
fn lock_balance(
    balances: &Opened,
    layout: &Layout,
    account_id: i64,
    snapshot: &Snapshot,
) -> Option<Slot> {
    let mut seen = None;
    let _ = for_each_match(
        balances,
        layout.balances_by_account,
        layout.balance_account,
        account_id,
        snapshot,
        |tuple, _| {
            seen = Some(unsafe { (*tuple).t_self });
            Err(())
        },
    );
    let locked = table_access::lock_latest(balances, seen?, snapshot)?;
    let still_the_account = locked
        .value(layout.balance_account)
        .is_some_and(|key| int8(key) == account_id);
    still_the_account.then_some(locked)
}

/// A charge's ledger entry, numbered and checked.
struct Entry<'a> {
    charge: &'a Charge,
    entry_no: i64,
    /// The charge negated, a numeric.
    amount: Datum,
}

/// The entries of `charges`, numbered after `last_entry_no`; raises
/// check_violation for one the ledger's rules refuse.
fn entries(charges: &[Charge], last_entry_no: i64) -> Option<Vec<Entry<'_>>> {
    let mut entries = Vec::with_capacity(charges.len());
    let mut entry_no = last_entry_no;
    for charge in charges {
        entry_no = entry_no.checked_add(1)?;
        let amount = numeric(
            pg_sys::numeric_uminus,
            &[charge.charge.clone().into_datum()?],
        )?;
        unsafe {
            refuse_malformed(&LedgerEntry {
                account_id: Some(charge.account_id),
                entry_no: Some(entry_no),
                kind: "charge",
                amount,
                usage_id: Some(charge.usage_id),
                corrects_entry_no: None,
            })
        };
        entries.push(Entry {
            charge,
            entry_no,
            amount,
        });
    }
    Some(entries)
}

/// A numeric function applied to numerics.
fn numeric(
    function: unsafe fn(pg_sys::FunctionCallInfo) -> Datum,
    args: &[Datum],
) -> Option<Datum> {
    let args: Vec<_> = args.iter().copied().map(Some).collect();
    unsafe { direct_function_call_as_datum(function, &args) }
}

/// The entry's description, as the statements write it: service, " to "
/// and the destination if any, and the quantity as numeric_out shows it.
fn description(charge: &Charge) -> String {
    let mut text = charge.service.clone();
    if let Some(destination) = &charge.destination {
        text.push_str(" to ");
        text.push_str(destination);
    }
    let _ = write!(text, ", quantity {}", charge.quantity);
    text
}

/// An int8 column's value.
fn int8(datum: Datum) -> i64 {
    datum.value() as i64
}
