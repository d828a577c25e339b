//! Writing rows of the rating tables with the table access method's own
//! calls, as logical replication's apply worker writes them, where an SPI
//! statement would spend most of its time starting and ending an executor:
//! a row locked at its latest version, its next version written, new rows
//! inserted, each with its index entries.
//!
//! Nothing here fires triggers, applies rules or row-level security, or
//! checks CHECK constraints: [`writes_skip_nothing`] says whether a table
//! has any of those but the caller's own, which the caller then applies.

use crate::index_scan::{Opened, Snapshot};
use pgrx::pg_sys::{self, AttrNumber, Datum};
use std::ffi::CStr;

/// Whether `table` is a plain table with no rewrite rule, forced row-level
/// security, stored generated column, trigger but `triggers` and its
/// foreign keys', or CHECK but `checks`: whether writing its rows here
/// skips nothing.
pub fn writes_skip_nothing(table: &Opened, triggers: &[&CStr], checks: &[&CStr]) -> bool {
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
/// with one is not written here.)
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
pub fn live_columns(table: &Opened) -> usize {
    unsafe {
        let descriptor = (*table.relation()).rd_att;
        let attributes = (*descriptor).attrs.as_slice((*descriptor).natts as usize);
        attributes
            .iter()
            .filter(|attribute| !attribute.attisdropped)
            .count()
    }
}

/// A table slot, dropped with its buffer pin if it holds one.
pub struct Slot(*mut pg_sys::TupleTableSlot);

impl Slot {
    fn of(table: &Opened) -> Self {
        Slot(unsafe { pg_sys::table_slot_create(table.relation(), std::ptr::null_mut()) })
    }

    /// Column `attnum` of the row held, None when NULL.
    pub fn value(&self, attnum: AttrNumber) -> Option<Datum> {
        let mut is_null = false;
        let value = unsafe { pg_sys::slot_getattr(self.0, attnum.into(), &mut is_null) };
        (!is_null).then_some(value)
    }

    /// Sets columns of a cleared slot.
    fn set(&self, values: &[(AttrNumber, Option<Datum>)]) {
        for &(attnum, value) in values {
            let at = attnum as usize - 1;
            unsafe {
                *(*self.0).tts_values.add(at) = value.unwrap_or(Datum::from(0));
                *(*self.0).tts_isnull.add(at) = value.is_none();
            }
        }
    }

    /// The address of the row held.
    pub fn tid(&self) -> pg_sys::ItemPointerData {
        unsafe { (*self.0).tts_tid }
    }

    fn natts(&self) -> usize {
        unsafe { (*(*self.0).tts_tupleDescriptor).natts as usize }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        unsafe { pg_sys::ExecDropSingleTupleTableSlot(self.0) };
    }
}

/// The row at `tid`, as `snapshot` saw it, locked FOR NO KEY UPDATE at the
/// version an UPDATE would write after: in READ COMMITTED the latest, after
/// waiting for a transaction that holds it; in REPEATABLE READ only the one
/// seen (None if it was updated or deleted since). The slot holds a copy of
/// that version, with its address.
pub fn lock_latest(
    table: &Opened,
    tid: pg_sys::ItemPointerData,
    snapshot: &Snapshot,
) -> Option<Slot> {
    let slot = Slot::of(table);
    let follow_updates = unsafe { pg_sys::XactIsoLevel } < pg_sys::XACT_REPEATABLE_READ as i32;
    let flags = if follow_updates {
        pg_sys::TUPLE_LOCK_FLAG_FIND_LAST_VERSION as u8
    } else {
        0
    };
    let mut tid = tid;
    let locked = unsafe {
        let mut failure = std::mem::zeroed::<pg_sys::TM_FailureData>();
        pg_sys::table_tuple_lock(
            table.relation(),
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
    if locked != pg_sys::TM_Result::TM_Ok {
        return None;
    }
    // The row lock is in the tuple itself: a copy lets go of the buffer, so
    // that a statement holding many locked rows holds no pin for each.
    unsafe { pg_sys::ExecMaterializeSlot(slot.0) };
    Some(slot)
}

/// The version at `tid`, which this transaction holds locked: the latest.
pub fn fetch_locked(table: &Opened, tid: pg_sys::ItemPointerData) -> Option<Slot> {
    let slot = Slot::of(table);
    let mut tid = tid;
    let found = unsafe {
        pg_sys::table_tuple_fetch_row_version(
            table.relation(),
            &mut tid,
            &raw mut pg_sys::SnapshotAnyData,
            slot.0,
        )
    };
    found.then_some(slot)
}

/// Writes the next version of the row `current` holds locked, with
/// `changes`, and its index entries if it left its page.
pub fn update(
    table: &Opened,
    snapshot: &Snapshot,
    current: &Slot,
    changes: &[(AttrNumber, Option<Datum>)],
) {
    let next = Slot::of(table);
    let natts = current.natts();
    unsafe {
        pg_sys::slot_getallattrs(current.0);
        pg_sys::ExecClearTuple(next.0);
        std::ptr::copy_nonoverlapping((*current.0).tts_values, (*next.0).tts_values, natts);
        std::ptr::copy_nonoverlapping((*current.0).tts_isnull, (*next.0).tts_isnull, natts);
        next.set(changes);
        pg_sys::ExecStoreVirtualTuple(next.0);
        let mut update_indexes = false;
        let mut tid = (*current.0).tts_tid;
        pg_sys::simple_table_tuple_update(
            table.relation(),
            &mut tid,
            next.0,
            snapshot.as_ptr(),
            &mut update_indexes,
        );
        // Not a HOT update: the new version needs its own index entries.
        if update_indexes {
            IndexWriter::open(table).insert(&next, true);
        }
    }
}

/// Inserts `rows` (the columns not named are NULL), with their index
/// entries.
pub fn insert(table: &Opened, rows: impl Iterator<Item = Vec<(AttrNumber, Option<Datum>)>>) {
    let mut inserter = Inserter::open(table);
    for values in rows {
        inserter.insert(&values);
    }
}

/// Inserts rows into one table, one at a time.
pub struct Inserter {
    relation: pg_sys::Relation,
    row: Slot,
    natts: usize,
    indexes: IndexWriter,
}

impl Inserter {
    pub fn open(table: &Opened) -> Self {
        let row = Slot::of(table);
        Inserter {
            relation: table.relation(),
            natts: row.natts(),
            row,
            indexes: IndexWriter::open(table),
        }
    }

    /// Inserts a row of `values` (the columns not named are NULL), with its
    /// index entries.
    pub fn insert(&mut self, values: &[(AttrNumber, Option<Datum>)]) {
        let row = self.row.0;
        unsafe {
            pg_sys::ExecClearTuple(row);
            std::slice::from_raw_parts_mut((*row).tts_isnull, self.natts).fill(true);
            self.row.set(values);
            pg_sys::ExecStoreVirtualTuple(row);
            pg_sys::table_tuple_insert(
                self.relation,
                row,
                pg_sys::GetCurrentCommandId(true),
                0,
                std::ptr::null_mut(),
            );
        }
        self.indexes.insert(&self.row, false);
    }
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
            // No range table entry (0): a new version's index entry is then
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
            // As the executor does before each row: what the partial
            // indexes' predicates allocated is freed.
            let per_row = (*self.estate).es_per_tuple_exprcontext;
            if !per_row.is_null() {
                pg_sys::MemoryContextReset((*per_row).ecxt_per_tuple_memory);
            }
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
