//! Posting the rated rows of a small statement (up to 100 rows), such as a
//! mediation system's single-row INSERT, with the table access method's own
//! calls, as logical replication's apply worker writes rows, instead of SQL.
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

use crate::alerts::account_is_watched;
use crate::index_scan::{
    column, for_each_match, open_settled, rating_relation, valid_index, KeptLayout, Opened,
    Snapshot,
};
use crate::ledger_check::{refuse_malformed, LedgerEntry};
use crate::posting::Charge;
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
    if !only_own_rules(&balances, &BALANCES_TRIGGERS, &[])
        || !only_own_rules(&ledger, &LEDGER_TRIGGERS, &LEDGER_CHECKS)
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
    if accounts
        .iter()
        .any(|(account_id, _)| account_is_watched(*account_id) != Some(false))
    {
        return false;
    }
    let now = Datum::from(unsafe { pg_sys::GetCurrentTransactionStartTimestamp() });
    for posting in &postings {
        let last_entry_no = posting.entries.last().map_or(0, |entry| entry.entry_no);
        unsafe {
            move_balance(
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
    unsafe { insert_entries(&ledger, rows) };
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
    let old = |attnum| unsafe { slot_value(balance.0, attnum) };
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

/// Whether `table` is a plain table with no rewrite rule, forced row-level
/// security, stored generated column, trigger but `triggers` and its
/// foreign keys', or CHECK but `checks`: whether writing its rows directly
/// skips nothing.
fn only_own_rules(table: &Opened, triggers: &[&CStr], checks: &[&CStr]) -> bool {
    unsafe {
        let relation = table.relation();
        let class = &*(*relation).rd_rel;
        if class.relkind as u8 != pg_sys::RELKIND_RELATION
            || !(*relation).rd_rules.is_null()
            || class.relforcerowsecurity
        {
            return false;
        }
        let constraints = (*(*relation).rd_att).constr;
        if !constraints.is_null() {
            if (*constraints).has_generated_stored {
                return false;
            }
            let found = raw_slice((*constraints).check, (*constraints).num_check);
            if !found.iter().all(|check| is_one_of(check.ccname, checks)) {
                return false;
            }
        }
        let trigger_desc = (*relation).trigdesc;
        trigger_desc.is_null() || {
            raw_slice((*trigger_desc).triggers, (*trigger_desc).numtriggers)
                .iter()
                .all(|trigger| {
                    is_foreign_key_trigger(trigger) || is_one_of(trigger.tgname, triggers)
                })
        }
    }
}

/// Whether the trigger is one of a foreign key's, which fire on neither a
/// key-keeping UPDATE of the referencing row nor an INSERT into the
/// referenced table. (A deferrable unique or exclusion constraint's
/// trigger, also PostgreSQL's own, rechecks each row at commit: a table
/// with one is posted by SQL.)
fn is_foreign_key_trigger(trigger: &pg_sys::Trigger) -> bool {
    trigger.tgisinternal
        && unsafe { pg_sys::RI_FKey_trigger_type(trigger.tgfoid) } != pg_sys::RI_TRIGGER_NONE as i32
}

/// A C array of `length` items, which is NULL when empty.
unsafe fn raw_slice<'a, T>(items: *const T, length: impl TryInto<usize>) -> &'a [T] {
    match length.try_into() {
        Ok(length) if length > 0 && !items.is_null() => unsafe {
            std::slice::from_raw_parts(items, length)
        },
        _ => &[],
    }
}

unsafe fn is_one_of(name: *const std::ffi::c_char, names: &[&CStr]) -> bool {
    let name = unsafe { CStr::from_ptr(name) };
    names.contains(&name)
}

/// The number of columns not dropped.
fn live_columns(table: &Opened) -> usize {
    unsafe {
        let descriptor = (*table.relation()).rd_att;
        let attributes = (*descriptor).attrs.as_slice((*descriptor).natts as usize);
        attributes
            .iter()
            .filter(|attribute| !attribute.attisdropped)
            .count()
    }
}

/// A table slot, dropped with its buffer pin.
struct Slot(*mut pg_sys::TupleTableSlot);

impl Slot {
    fn of(table: &Opened) -> Self {
        Slot(unsafe { pg_sys::table_slot_create(table.relation(), std::ptr::null_mut()) })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        unsafe { pg_sys::ExecDropSingleTupleTableSlot(self.0) };
    }
}

/// The account's balance row, found by key and locked (FOR NO KEY UPDATE)
/// at the version an UPDATE would move; None if there is none, or if the
/// version seen is not the latest in REPEATABLE READ.
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
    let mut tid = seen?;
    let slot = Slot::of(balances);
    let follow_updates = unsafe { pg_sys::XactIsoLevel } < pg_sys::XACT_REPEATABLE_READ as i32;
    let flags = if follow_updates {
        pg_sys::TUPLE_LOCK_FLAG_FIND_LAST_VERSION as u8
    } else {
        0
    };
    let locked = unsafe {
        let mut failure = std::mem::zeroed::<pg_sys::TM_FailureData>();
        pg_sys::table_tuple_lock(
            balances.relation(),
            &mut tid,
            snapshot.as_ptr(),
            slot.0,
            pg_sys::GetCurrentCommandId(true),
            pg_sys::LockTupleMode::LockTupleNoKeyExclusive,
            pg_sys::LockWaitPolicy::LockWaitBlock,
            flags,
            &mut failure,
        )
    };
    let still_the_account = || {
        unsafe { slot_value(slot.0, layout.balance_account) }
            .is_some_and(|key| int8(key) == account_id)
    };
    (locked == pg_sys::TM_Result::TM_Ok && still_the_account()).then_some(slot)
}

/// Writes `current`'s next version, with `changes`.
unsafe fn move_balance(
    balances: &Opened,
    snapshot: &Snapshot,
    current: &Slot,
    changes: &[(AttrNumber, Option<Datum>)],
) {
    unsafe {
        let next = Slot::of(balances);
        let natts = (*(*current.0).tts_tupleDescriptor).natts as usize;
        pg_sys::slot_getallattrs(current.0);
        pg_sys::ExecClearTuple(next.0);
        std::ptr::copy_nonoverlapping((*current.0).tts_values, (*next.0).tts_values, natts);
        std::ptr::copy_nonoverlapping((*current.0).tts_isnull, (*next.0).tts_isnull, natts);
        set_values(&next, changes);
        pg_sys::ExecStoreVirtualTuple(next.0);
        let mut update_indexes = false;
        let mut tid = (*current.0).tts_tid;
        pg_sys::simple_table_tuple_update(
            balances.relation(),
            &mut tid,
            next.0,
            snapshot.as_ptr(),
            &mut update_indexes,
        );
        // Not a HOT update: the new version needs its own index entries.
        if update_indexes {
            IndexWriter::open(balances).insert(&next, true);
        }
    }
}

/// Inserts the ledger rows of `rows`, with their index entries.
unsafe fn insert_entries(
    ledger: &Opened,
    rows: impl Iterator<Item = Vec<(AttrNumber, Option<Datum>)>>,
) {
    unsafe {
        let entry = Slot::of(ledger);
        let natts = (*(*entry.0).tts_tupleDescriptor).natts as usize;
        let mut indexes = IndexWriter::open(ledger);
        for values in rows {
            pg_sys::ExecClearTuple(entry.0);
            std::slice::from_raw_parts_mut((*entry.0).tts_isnull, natts).fill(true);
            set_values(&entry, &values);
            pg_sys::ExecStoreVirtualTuple(entry.0);
            pg_sys::table_tuple_insert(
                ledger.relation(),
                entry.0,
                pg_sys::GetCurrentCommandId(true),
                0,
                std::ptr::null_mut(),
            );
            indexes.insert(&entry, false);
        }
    }
}

/// Sets columns of a cleared slot.
unsafe fn set_values(slot: &Slot, values: &[(AttrNumber, Option<Datum>)]) {
    for &(attnum, value) in values {
        let at = attnum as usize - 1;
        unsafe {
            *(*slot.0).tts_values.add(at) = value.unwrap_or(Datum::from(0));
            *(*slot.0).tts_isnull.add(at) = value.is_none();
        }
    }
}

/// Column `attnum` of a filled slot, None when NULL.
unsafe fn slot_value(slot: *mut pg_sys::TupleTableSlot, attnum: AttrNumber) -> Option<Datum> {
    let mut is_null = false;
    let value = unsafe { pg_sys::slot_getattr(slot, attnum.into(), &mut is_null) };
    (!is_null).then_some(value)
}

/// A table's indexes opened for inserting entries, as the executor opens a
/// result relation's: unique ones refuse a duplicate key, partial ones take
/// only the rows their predicate admits.
struct IndexWriter {
    estate: *mut pg_sys::EState,
    target: Box<pg_sys::ResultRelInfo>,
}

impl IndexWriter {
    fn open(table: &Opened) -> Self {
        unsafe {
            let estate = pg_sys::CreateExecutorState();
            let mut target = Box::new(std::mem::zeroed::<pg_sys::ResultRelInfo>());
            // No range table entry (0): a new balance's index entry is then
            // hinted as the same key, as an UPDATE of no key column hints it.
            pg_sys::InitResultRelInfo(&mut *target, table.relation(), 0, std::ptr::null_mut(), 0);
            pg_sys::ExecOpenIndices(&mut *target, false);
            IndexWriter { estate, target }
        }
    }

    fn insert(&mut self, row: &Slot, update: bool) {
        unsafe {
            pg_sys::ExecInsertIndexTuples(
                &mut *self.target,
                row.0,
                self.estate,
                update,
                false,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
        }
    }
}

impl Drop for IndexWriter {
    fn drop(&mut self) {
        unsafe {
            pg_sys::ExecCloseIndices(&mut *self.target);
            pg_sys::FreeExecutorState(self.estate);
        }
    }
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
