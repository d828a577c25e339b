//! Cache invalidation that follows the transaction.
//!
//! A statement trigger on every catalog table queues a relcache invalidation
//! of the empty table `rating.catalog_cache_marker`. PostgreSQL applies it in
//! the changing backend at the next command (and again on abort) and sends it
//! to every other backend only at commit. A relcache callback bumps this
//! backend's generation, which empties the caches on next use.
//!
//! Changes to roles and role memberships (which decide a session's tenants)
//! arrive as system cache invalidations and bump a separate counter, so that
//! a GRANT does not drop compiled tariffs.
//!
//! In REPEATABLE READ and SERIALIZABLE a load reads the transaction's
//! snapshot, which can predate a change whose invalidation has already been
//! taken in: [`keep_for`] says when such a load must not outlive its transaction.

use pgrx::prelude::*;
use std::cell::Cell;
use std::convert::Infallible;

thread_local! {
    static GENERATION: Cell<u64> = const { Cell::new(0) };
    static MARKER: Cell<pg_sys::Oid> = const { Cell::new(pg_sys::InvalidOid) };
    static REGISTERED: Cell<bool> = const { Cell::new(false) };
    static RELCACHE_EPOCH: Cell<u64> = const { Cell::new(0) };
    static ROLES_EPOCH: Cell<u64> = const { Cell::new(0) };
    static GENERATION_AT_LAST_XACT_END: Cell<Option<u64>> = const { Cell::new(None) };
}

/// How long something loaded now may stay cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    ForSession,
    /// Only within this (local) transaction: its snapshot may be stale.
    ForTransaction(pg_sys::LocalTransactionId),
}

/// How long a load made at `generation` may stay cached. In READ COMMITTED
/// every load takes a new snapshot: nothing committed before it is missed.
/// A transaction snapshot was taken after the previous transaction ended, so
/// it misses no change if no invalidation arrived since; otherwise what it
/// shows may be older than the invalidation, and is kept for this
/// transaction only.
pub fn keep_for(generation: u64) -> Keep {
    let uses_transaction_snapshot =
        unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32;
    if !uses_transaction_snapshot || GENERATION_AT_LAST_XACT_END.get() == Some(generation) {
        Keep::ForSession
    } else {
        Keep::ForTransaction(current_transaction())
    }
}

pub fn current_transaction() -> pg_sys::LocalTransactionId {
    unsafe { (*pg_sys::MyProc).lxid }
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

/// Counts the invalidations of roles and role memberships this backend has
/// taken in; call [`current_generation`] first, which takes them in.
pub fn roles_epoch() -> u64 {
    ensure_registered();
    ROLES_EPOCH.get()
}

fn ensure_registered() {
    if !REGISTERED.get() {
        unsafe {
            pg_sys::CacheRegisterRelcacheCallback(
                Some(on_relcache_invalidation),
                pg_sys::Datum::from(0),
            );
            for cache in [
                pg_sys::SysCacheIdentifier::AUTHOID,
                pg_sys::SysCacheIdentifier::AUTHMEMROLEMEM,
            ] {
                pg_sys::CacheRegisterSyscacheCallback(
                    cache as i32,
                    Some(on_role_invalidation),
                    pg_sys::Datum::from(0),
                );
            }
        };
        unsafe { pg_sys::RegisterXactCallback(Some(on_transaction_event), std::ptr::null_mut()) };
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

#[pg_guard]
unsafe extern "C-unwind" fn on_role_invalidation(
    _arg: pg_sys::Datum,
    _cache: std::ffi::c_int,
    _hash: u32,
) {
    ROLES_EPOCH.set(ROLES_EPOCH.get() + 1);
}

#[pg_guard]
unsafe extern "C-unwind" fn on_transaction_event(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    use pg_sys::XactEvent::*;
    if matches!(
        event,
        XACT_EVENT_COMMIT
            | XACT_EVENT_ABORT
            | XACT_EVENT_PREPARE
            | XACT_EVENT_PARALLEL_COMMIT
            | XACT_EVENT_PARALLEL_ABORT
    ) {
        GENERATION_AT_LAST_XACT_END.set(Some(GENERATION.get()));
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
