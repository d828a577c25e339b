//! Reading rows of the rating tables straight from a btree index, for the
//! lookups by key that run once per account or per statement, where an SPI
//! query would spend most of its time starting and ending its executor.
//!
//! The rows read are those a new query of the transaction would read: a
//! new snapshot in READ COMMITTED, the transaction's in REPEATABLE READ.
//! Row-level security is not applied: callers read what the extension
//! itself decides with, never rows a role asked for.
//!
//! Tables, indexes and columns are found by name, once per relation cache
//! invalidation ([`KeptLayout`]); a caller whose names are not found (a schema
//! changed by hand) falls back to SQL.

use crate::catalog::invalidation;
use crate::errors::{raise, report_internal};
use pgrx::pg_sys::{self, AttrNumber, Oid};
use std::cell::Cell;
use std::ffi::CStr;
use std::thread::LocalKey;

/// The relation `name` in schema rating, if there is one.
pub fn rating_relation(name: &CStr) -> Option<Oid> {
    let found = |oid: Oid| (oid != pg_sys::InvalidOid).then_some(oid);
    let namespace = found(unsafe { pg_sys::get_namespace_oid(c"rating".as_ptr(), true) })?;
    found(unsafe { pg_sys::get_relname_relid(name.as_ptr(), namespace) })
}

/// An index of schema rating that may be read by key: a btree, or the GiST
/// index an exclusion constraint of an older schema has (btree_gist's
/// equality has btree's strategy number). One left invalid by a failed
/// CREATE INDEX CONCURRENTLY may lack rows; a partitioned table's index (of
/// a table made partitioned by hand) has none of its own to scan; another
/// kind of index made by hand under the name may not return rows by key.
pub fn valid_index(name: &CStr) -> Option<Oid> {
    rating_relation(name).filter(|&oid| {
        let readable = matches!(
            plain_index_method(oid),
            Some(pg_sys::BTREE_AM_OID | pg_sys::GIST_AM_OID)
        );
        readable && unsafe { pg_sys::get_index_isvalid(oid) }
    })
}

/// The access method of `oid` if it is an index of a plain table.
fn plain_index_method(oid: Oid) -> Option<Oid> {
    unsafe {
        let tuple = pg_sys::SearchSysCache1(
            pg_sys::SysCacheIdentifier::RELOID as i32,
            pg_sys::Datum::from(oid),
        );
        if tuple.is_null() {
            return None;
        }
        let class = &*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_class>(tuple);
        let method = (class.relkind as u8 == pg_sys::RELKIND_INDEX).then_some(class.relam);
        pg_sys::ReleaseSysCache(tuple);
        method
    }
}

/// The number of `relation`'s column `name`, if it has one of type
/// `type_oid`: a column whose type was changed by hand is read or written
/// with SQL, which converts, never as a datum of another type.
pub fn column(relation: Oid, name: &CStr, type_oid: Oid) -> Option<AttrNumber> {
    let attnum = unsafe { pg_sys::get_attnum(relation, name.as_ptr()) };
    (attnum > 0 && unsafe { pg_sys::get_atttype(relation, attnum) } == type_oid).then_some(attnum)
}

/// What was resolved by name (`None`: not found), with the relation cache
/// epoch it was resolved in: kept until the next relation cache
/// invalidation (DDL, REINDEX CONCURRENTLY, a new extension), which may have
/// moved it. Declared `thread_local!` by each reader.
pub type KeptLayout<L> = Cell<Option<(u64, Option<L>)>>;

/// The layout kept in `kept`, resolved again with `resolve` when stale.
fn resolved<L: Copy + 'static>(
    kept: &'static LocalKey<KeptLayout<L>>,
    resolve: fn() -> Option<L>,
) -> Option<L> {
    let epoch = invalidation::relcache_epoch();
    match kept.get() {
        Some((resolved_in, layout)) if resolved_in == epoch => layout,
        _ => {
            let layout = resolve();
            kept.set(Some((epoch, layout)));
            layout
        }
    }
}

/// Opens what `open` names in the layout that holds once it is open: taking
/// a lock takes in invalidations, which may have moved an index. Locks
/// already held take in nothing, so a second round settles it.
pub fn open_settled<L: Copy + 'static, T>(
    kept: &'static LocalKey<KeptLayout<L>>,
    resolve: fn() -> Option<L>,
    open: impl Fn(&L) -> T,
) -> Option<(L, T)> {
    let mut rounds = 0;
    loop {
        let epoch = invalidation::relcache_epoch();
        let layout = resolved(kept, resolve)?;
        let opened = open(&layout);
        rounds += 1;
        if invalidation::relcache_epoch() == epoch || rounds == 3 {
            return Some((layout, opened));
        }
    }
}

/// An open table, closed (keeping its lock to the end of the transaction,
/// as the executor does) when dropped.
pub struct Opened(pg_sys::Relation);

impl Opened {
    pub fn table(oid: Oid) -> Self {
        Opened(unsafe { pg_sys::table_open(oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE) })
    }

    /// With the lock an INSERT or UPDATE takes.
    pub fn for_writing(oid: Oid) -> Self {
        Opened(unsafe { pg_sys::table_open(oid, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE) })
    }

    pub fn relation(&self) -> pg_sys::Relation {
        self.0
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        unsafe { pg_sys::table_close(self.0, pg_sys::NoLock as pg_sys::LOCKMODE) };
    }
}

/// The transaction's snapshot for a new query, registered while in use.
pub struct Snapshot(pg_sys::Snapshot);

impl Snapshot {
    pub fn take() -> Self {
        Snapshot(unsafe { pg_sys::RegisterSnapshot(pg_sys::GetTransactionSnapshot()) })
    }

    pub fn as_ptr(&self) -> pg_sys::Snapshot {
        self.0
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        unsafe { pg_sys::UnregisterSnapshot(self.0) };
    }
}

/// Calls `visit` with every row of `table` whose int8 column `key_column`
/// equals `key`, found through `index`, until `visit` fails.
pub fn for_each_match<E>(
    table: &Opened,
    index: Oid,
    key_column: AttrNumber,
    key: i64,
    snapshot: &Snapshot,
    visit: impl FnMut(pg_sys::HeapTuple, pg_sys::TupleDesc) -> Result<(), E>,
) -> Result<(), E> {
    KeyLookup::open(table, index, key_column, snapshot).for_each(key, visit)
}

/// An index scan of `table` by its int8 column `key_column`, started once
/// and restarted for each key: a caller that looks up one key per account
/// of a statement pays for starting and ending the scan once.
pub struct KeyLookup<'a> {
    table: &'a Opened,
    index: pg_sys::Relation,
    /// The key's column among the index's.
    index_column: AttrNumber,
    scan: pg_sys::IndexScanDesc,
    slot: *mut pg_sys::TupleTableSlot,
}

impl<'a> KeyLookup<'a> {
    /// Raises an internal error if `key_column` is not one of `index`'s.
    pub fn open(
        table: &'a Opened,
        index: Oid,
        key_column: AttrNumber,
        snapshot: &'a Snapshot,
    ) -> Self {
        unsafe {
            let index = pg_sys::index_open(index, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
            let keys = &(*(*index).rd_index).indkey;
            let index_column = keys
                .values
                .as_slice(keys.dim1 as usize)
                .iter()
                .position(|&attnum| attnum == key_column)
                .map(|at| at as AttrNumber + 1);
            let Some(index_column) = index_column else {
                pg_sys::index_close(index, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
                raise(report_internal(format!(
                    "column {key_column} is not in the index read by key"
                )));
            };
            KeyLookup {
                table,
                index,
                index_column,
                scan: pg_sys::index_beginscan(table.0, index, snapshot.0, 1, 0),
                slot: pg_sys::table_slot_create(table.0, std::ptr::null_mut()),
            }
        }
    }

    /// Calls `visit` with every row whose key column equals `key`, until
    /// `visit` fails. The tuple is the one in the table's buffer, valid
    /// until the next row.
    pub fn for_each<E>(
        &mut self,
        key: i64,
        mut visit: impl FnMut(pg_sys::HeapTuple, pg_sys::TupleDesc) -> Result<(), E>,
    ) -> Result<(), E> {
        unsafe {
            let mut scan_key = std::mem::zeroed::<pg_sys::ScanKeyData>();
            pg_sys::ScanKeyInit(
                &mut scan_key,
                self.index_column,
                pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
                pg_sys::Oid::from(pg_sys::F_INT8EQ),
                pg_sys::Datum::from(key),
            );
            pg_sys::index_rescan(self.scan, &mut scan_key, 1, std::ptr::null_mut(), 0);
            let tupdesc = (*self.table.0).rd_att;
            while pg_sys::index_getnext_slot(
                self.scan,
                pg_sys::ScanDirection::ForwardScanDirection,
                self.slot,
            ) {
                let mut copied = false;
                let tuple = pg_sys::ExecFetchSlotHeapTuple(self.slot, false, &mut copied);
                visit(tuple, tupdesc)?;
            }
            Ok(())
        }
    }
}

impl Drop for KeyLookup<'_> {
    fn drop(&mut self) {
        unsafe {
            pg_sys::index_endscan(self.scan);
            pg_sys::ExecDropSingleTupleTableSlot(self.slot);
            pg_sys::index_close(self.index, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        }
    }
}

/// Column `attnum` of a row, None when NULL.
pub fn attribute(
    tuple: pg_sys::HeapTuple,
    tupdesc: pg_sys::TupleDesc,
    attnum: AttrNumber,
) -> Option<pg_sys::Datum> {
    let mut is_null = false;
    let value = unsafe { pg_sys::heap_getattr(tuple, attnum.into(), tupdesc, &mut is_null) };
    (!is_null).then_some(value)
}
