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

/// An index of schema rating that may be read: one left invalid by a failed
/// CREATE INDEX CONCURRENTLY may lack rows.
pub fn valid_index(name: &CStr) -> Option<Oid> {
    rating_relation(name).filter(|&oid| unsafe { pg_sys::get_index_isvalid(oid) })
}

/// The number of `relation`'s column `name`, if it has one.
pub fn column(relation: Oid, name: &CStr) -> Option<AttrNumber> {
    let attnum = unsafe { pg_sys::get_attnum(relation, name.as_ptr()) };
    (attnum > 0).then_some(attnum)
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
    mut visit: impl FnMut(pg_sys::HeapTuple, pg_sys::TupleDesc) -> Result<(), E>,
) -> Result<(), E> {
    unsafe {
        let mut scan_key = std::mem::zeroed::<pg_sys::ScanKeyData>();
        pg_sys::ScanKeyInit(
            &mut scan_key,
            key_column,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::Oid::from(pg_sys::F_INT8EQ),
            pg_sys::Datum::from(key),
        );
        let scan = pg_sys::systable_beginscan(table.0, index, true, snapshot.0, 1, &mut scan_key);
        let tupdesc = (*table.0).rd_att;
        let mut outcome = Ok(());
        loop {
            let tuple = pg_sys::systable_getnext(scan);
            if tuple.is_null() {
                break;
            }
            outcome = visit(tuple, tupdesc);
            if outcome.is_err() {
                break;
            }
        }
        pg_sys::systable_endscan(scan);
        outcome
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
