//! Cache invalidation that follows the transaction.
//!
//! A statement trigger on every catalog table queues a relcache invalidation
//! of the empty table `rating.catalog_cache_marker`. PostgreSQL applies it in
//! the changing backend at the next command (and again on abort) and sends it
//! to every other backend only at commit. A relcache callback bumps this
//! backend's generation, which empties the caches on next use.

use pgrx::prelude::*;
use std::cell::Cell;
use std::convert::Infallible;

thread_local! {
    static GENERATION: Cell<u64> = const { Cell::new(0) };
    static MARKER: Cell<pg_sys::Oid> = const { Cell::new(pg_sys::InvalidOid) };
    static REGISTERED: Cell<bool> = const { Cell::new(false) };
    static RELCACHE_EPOCH: Cell<u64> = const { Cell::new(0) };
}

/// The generation the caches must match; reading it first takes in any
/// invalidation that other sessions committed since the last read.
pub fn current_generation() -> u64 {
    ensure_registered();
    // Cheap when nothing is queued; needed because a statement inside an open
    // transaction takes a new snapshot without otherwise reading the queue.
    unsafe { pg_sys::AcceptInvalidationMessages() };
    GENERATION.get()
}

/// Counts every relation cache invalidation this backend has taken in, of
/// any relation: what was resolved by name must be resolved again after one.
pub fn relcache_epoch() -> u64 {
    ensure_registered();
    RELCACHE_EPOCH.get()
}

fn ensure_registered() {
    if !REGISTERED.get() {
        unsafe {
            pg_sys::CacheRegisterRelcacheCallback(
                Some(on_relcache_invalidation),
                pg_sys::Datum::from(0),
            )
        };
        REGISTERED.set(true);
    }
    if MARKER.get() == pg_sys::InvalidOid {
        MARKER.set(marker_oid());
    }
}

fn marker_oid() -> pg_sys::Oid {
    super::rating_relation(c"catalog_cache_marker").unwrap_or(pg_sys::InvalidOid)
}

#[pg_guard]
unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    RELCACHE_EPOCH.set(RELCACHE_EPOCH.get() + 1);
    // InvalidOid means "every relation" (e.g. after a sinval queue overflow).
    if relid == pg_sys::InvalidOid || relid == MARKER.get() {
        GENERATION.set(GENERATION.get() + 1);
        // Re-resolve the marker next time: it may have been dropped and recreated.
        MARKER.set(pg_sys::InvalidOid);
    }
}

/// Statement trigger on the catalog tables: queue the invalidation.
#[pg_trigger]
fn invalidate_catalog_cache<'a>(
    _trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, Infallible> {
    let marker = marker_oid();
    if marker != pg_sys::InvalidOid {
        unsafe { pg_sys::CacheInvalidateRelcacheByRelid(marker) };
    }
    Ok(None)
}
