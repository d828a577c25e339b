//! Cache invalidation that follows the transaction.
//!
//! A statement trigger on every catalog table queues a relcache invalidation
//! of an empty marker table. PostgreSQL applies it in the changing backend at
//! the next command (and again on abort) and sends it to every other backend
//! only at commit. A relcache callback bumps this backend's generations,
//! which empty the caches on next use:
//! - tariff data (`rating.catalog_cache_marker`) empties every cache;
//! - accounts, subscriptions and tenants (`rating.account_cache_marker`)
//!   empty only the accounts and roles' tenants, so that opening an account
//!   does not make every session compile its tariffs again.
//!
//! Changes to roles and role memberships (which decide a session's tenants)
//! arrive as system cache invalidations and bump a separate counter, so that
//! a GRANT does not drop compiled tariffs.
//!
//! In REPEATABLE READ and SERIALIZABLE a load reads the transaction's
//! snapshot, which can predate a change whose invalidation has already been
//! taken in: [`keep_for`] says when such a load must not outlive its transaction.

use crate::index_scan::rating_relation;
use pgrx::prelude::*;
use std::cell::Cell;
use std::convert::Infallible;

thread_local! {
    static GENERATIONS: Cell<Generations> = const { Cell::new(Generations { catalog: 0, accounts: 0 }) };
    static MARKERS: Cell<Option<Markers>> = const { Cell::new(None) };
    static MARKERS_STALE: Cell<bool> = const { Cell::new(false) };
    static REGISTERED: Cell<bool> = const { Cell::new(false) };
    static RELCACHE_EPOCH: Cell<u64> = const { Cell::new(0) };
    static ROLES_EPOCH: Cell<u64> = const { Cell::new(0) };
    static AT_LAST_XACT_END: Cell<Option<XactEnd>> = const { Cell::new(None) };
}

/// What this backend knew when its last transaction ended.
#[derive(Clone, Copy)]
struct XactEnd {
    generations: Generations,
    /// The newest transaction then completed (committed or aborted) in any
    /// backend: a snapshot taken since shows it, and an older one may not.
    latest_completed: pg_sys::TransactionId,
}

/// How many invalidations of each kind this backend has taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Generations {
    /// Of everything: tariff data, or an invalidation of every relation.
    pub catalog: u64,
    /// Of accounts, subscriptions and tenants only.
    pub accounts: u64,
}

/// The marker tables' oids, resolved once and again after one is
/// invalidated (it may have been dropped and recreated; the old oids serve
/// until then). `accounts` is the catalog marker in a schema from before
/// 0.3.0, which has only that one.
#[derive(Clone, Copy)]
struct Markers {
    catalog: pg_sys::Oid,
    accounts: pg_sys::Oid,
}

/// How long something loaded now may stay cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    ForSession,
    /// Only within this (local) transaction: its snapshot may be stale.
    ForTransaction(pg_sys::LocalTransactionId),
}

/// How long a load made at `generations` may stay cached. In READ COMMITTED
/// every load takes a new snapshot: nothing committed before it is missed.
/// A transaction snapshot taken after the previous transaction ended misses
/// no change if no invalidation arrived since; otherwise what it shows may
/// be older than the invalidation, and is kept for this transaction only.
/// So is what an older snapshot shows: one imported with SET TRANSACTION
/// SNAPSHOT may predate changes whose invalidations were taken in before.
pub fn keep_for(generations: Generations) -> Keep {
    let uses_transaction_snapshot =
        unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32;
    let fresh = || {
        AT_LAST_XACT_END.get().is_some_and(|end| {
            end.generations == generations && snapshot_shows(end.latest_completed)
        })
    };
    if !uses_transaction_snapshot || fresh() {
        Keep::ForSession
    } else {
        Keep::ForTransaction(current_transaction())
    }
}

/// Whether the transaction's snapshot shows transaction `xid` as completed:
/// its xmax (the oldest it shows as not yet begun) follows `xid`. A snapshot
/// taken anew has for xmax the newest completed transaction's successor.
fn snapshot_shows(xid: pg_sys::TransactionId) -> bool {
    let xmax = unsafe { (*pg_sys::GetTransactionSnapshot()).xmax };
    unsafe { pg_sys::TransactionIdPrecedes(xid, xmax) }
}

/// The newest transaction completed in any backend. Read without the lock
/// that guards it: an aligned 8-byte read is whole, and at transaction end,
/// when it is read, this backend's own completion is already published.
fn latest_completed_xid() -> pg_sys::TransactionId {
    let latest = unsafe {
        std::ptr::read_volatile(&raw const (*pg_sys::ShmemVariableCache).latestCompletedXid)
    };
    // The 32-bit xid of the full one, as snapshots carry it.
    pg_sys::TransactionId::from(latest.value as u32)
}

pub fn current_transaction() -> pg_sys::LocalTransactionId {
    unsafe { (*pg_sys::MyProc).lxid }
}

/// The generations the caches must match; reading them first takes in any
/// invalidation that other sessions committed since the last read.
pub fn current_generations() -> Generations {
    ensure_registered();
    // Cheap when nothing is queued; needed because a statement inside an open
    // transaction takes a new snapshot without otherwise reading the queue.
    unsafe { pg_sys::AcceptInvalidationMessages() };
    GENERATIONS.get()
}

/// Counts every relation cache invalidation this backend has taken in, of
/// any relation: what was resolved by name must be resolved again after one.
pub fn relcache_epoch() -> u64 {
    ensure_registered();
    RELCACHE_EPOCH.get()
}

/// Counts the invalidations of roles and role memberships this backend has
/// taken in; call [`current_generations`] first, which takes them in.
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
    // Until both markers are found (the extension not yet created, or not
    // yet updated to 0.3.0), look again each time: they may appear.
    let resolved = MARKERS
        .get()
        .is_some_and(|m| m.catalog != pg_sys::InvalidOid && m.accounts != m.catalog);
    if !resolved || MARKERS_STALE.get() {
        MARKERS.set(Some(markers()));
        MARKERS_STALE.set(false);
    }
}

fn markers() -> Markers {
    let catalog = rating_relation(c"catalog_cache_marker").unwrap_or(pg_sys::InvalidOid);
    Markers {
        catalog,
        accounts: rating_relation(c"account_cache_marker").unwrap_or(catalog),
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    RELCACHE_EPOCH.set(RELCACHE_EPOCH.get() + 1);
    let markers = MARKERS.get();
    let mut generations = GENERATIONS.get();
    // InvalidOid means "every relation" (e.g. after a sinval queue overflow).
    if relid == pg_sys::InvalidOid || markers.is_some_and(|m| relid == m.catalog) {
        generations.catalog += 1;
    } else if markers.is_some_and(|m| relid == m.accounts) {
        generations.accounts += 1;
    } else {
        return;
    }
    GENERATIONS.set(generations);
    MARKERS_STALE.set(true);
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
        AT_LAST_XACT_END.set(Some(XactEnd {
            generations: GENERATIONS.get(),
            latest_completed: latest_completed_xid(),
        }));
    }
}

/// Statement trigger on the catalog tables: queue the invalidation. With the
/// argument `accounts` (on accounts, subscriptions and tenants), only the
/// accounts' one.
#[pg_trigger]
fn invalidate_catalog_cache<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, Infallible> {
    let markers = markers();
    let accounts_only = trigger
        .extra_args()
        .is_ok_and(|args| args.iter().any(|arg| arg == "accounts"));
    let marker = if accounts_only {
        markers.accounts
    } else {
        markers.catalog
    };
    if marker != pg_sys::InvalidOid {
        unsafe { pg_sys::CacheInvalidateRelcacheByRelid(marker) };
    }
    Ok(None)
}
