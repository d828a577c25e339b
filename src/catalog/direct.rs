//! Reads an account and its subscriptions straight from their indexes.
//!
//! A large statement over many accounts loads each on first sight; through
//! SPI that was a query per account, most of it the executor's start-up and
//! tear-down. Here it is two index lookups.
//!
//! The rows read are those a new query of the transaction would read: a
//! new snapshot in READ COMMITTED, the transaction's in REPEATABLE READ.
//! Row-level security is not applied here, as the cache serves every role
//! of the session anyway: usage's own policy refuses another tenant's row
//! after rating.
//!
//! If the tables or indexes are not found as named (a schema changed by
//! hand), [`account`] returns `None` and the caller loads through SPI.

use super::{invalidation, rating_relation, AccountPlan, CatalogError};
use crate::engine::{Period, Timestamp};
use pgrx::datum::FromDatum;
use pgrx::pg_sys::{self, AttrNumber, Oid};
use std::cell::Cell;
use std::ffi::CStr;

/// Where the columns are: resolved by name once, and again after any
/// relation cache invalidation (DDL, REINDEX CONCURRENTLY, a new extension).
#[derive(Clone, Copy)]
struct Layout {
    accounts: Oid,
    accounts_by_id: Oid,
    account_id: AttrNumber,
    currency: AttrNumber,
    /// None in a schema from before 0.2.0.
    tenant_id: Option<AttrNumber>,
    subscriptions: Oid,
    subscriptions_by_account: Oid,
    subscriber: AttrNumber,
    tariff_id: AttrNumber,
    valid_from: AttrNumber,
    valid_to: AttrNumber,
}

thread_local! {
    static LAYOUT: Cell<Option<(u64, Option<Layout>)>> = const { Cell::new(None) };
}

/// An index that may be read: one left invalid by a failed CREATE INDEX
/// CONCURRENTLY may lack rows.
fn valid_index(name: &CStr) -> Option<Oid> {
    rating_relation(name).filter(|&oid| unsafe { pg_sys::get_index_isvalid(oid) })
}

fn column(relation: Oid, name: &CStr) -> Option<AttrNumber> {
    let attnum = unsafe { pg_sys::get_attnum(relation, name.as_ptr()) };
    (attnum > 0).then_some(attnum)
}

fn resolve() -> Option<Layout> {
    let accounts = rating_relation(c"accounts")?;
    let subscriptions = rating_relation(c"subscriptions")?;
    Some(Layout {
        accounts,
        accounts_by_id: valid_index(c"accounts_pkey")?,
        account_id: column(accounts, c"account_id")?,
        currency: column(accounts, c"currency")?,
        tenant_id: column(accounts, c"tenant_id"),
        subscriptions,
        // Before 0.3.0's btree, the exclusion constraint's GiST index (which
        // leads with account_id) serves, more slowly.
        subscriptions_by_account: valid_index(c"subscriptions_by_account")
            .or_else(|| valid_index(c"subscriptions_no_overlap"))?,
        subscriber: column(subscriptions, c"account_id")?,
        tariff_id: column(subscriptions, c"tariff_id")?,
        valid_from: column(subscriptions, c"valid_from")?,
        valid_to: column(subscriptions, c"valid_to")?,
    })
}

fn layout() -> Option<Layout> {
    let epoch = invalidation::relcache_epoch();
    match LAYOUT.get() {
        Some((resolved_in, layout)) if resolved_in == epoch => layout,
        _ => {
            let layout = resolve();
            LAYOUT.set(Some((epoch, layout)));
            layout
        }
    }
}

/// An open relation, closed (keeping its lock to the end of the transaction,
/// as the executor does) when dropped.
struct Opened(pg_sys::Relation);

impl Opened {
    fn table(oid: Oid) -> Self {
        Opened(unsafe { pg_sys::table_open(oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE) })
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        unsafe { pg_sys::table_close(self.0, pg_sys::NoLock as pg_sys::LOCKMODE) };
    }
}

/// The transaction's snapshot for a new query, registered while in use.
struct Snapshot(pg_sys::Snapshot);

impl Snapshot {
    fn take() -> Self {
        Snapshot(unsafe { pg_sys::RegisterSnapshot(pg_sys::GetTransactionSnapshot()) })
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        unsafe { pg_sys::UnregisterSnapshot(self.0) };
    }
}

/// Calls `visit` with every row of `table` whose int8 column `key_column`
/// equals `key`, found through `index`.
fn for_each_match(
    table: &Opened,
    index: Oid,
    key_column: AttrNumber,
    key: i64,
    snapshot: &Snapshot,
    mut visit: impl FnMut(pg_sys::HeapTuple, pg_sys::TupleDesc) -> Result<(), CatalogError>,
) -> Result<(), CatalogError> {
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

fn attribute(
    tuple: pg_sys::HeapTuple,
    tupdesc: pg_sys::TupleDesc,
    attnum: AttrNumber,
) -> Option<pg_sys::Datum> {
    let mut is_null = false;
    let value = unsafe { pg_sys::heap_getattr(tuple, attnum.into(), tupdesc, &mut is_null) };
    (!is_null).then_some(value)
}

fn required(
    tuple: pg_sys::HeapTuple,
    tupdesc: pg_sys::TupleDesc,
    attnum: AttrNumber,
) -> Result<pg_sys::Datum, CatalogError> {
    attribute(tuple, tupdesc, attnum)
        .ok_or_else(|| CatalogError::Internal(format!("column {attnum} is NULL")))
}

fn timestamp(value: pg_sys::Datum) -> Timestamp {
    Timestamp(value.value() as i64)
}

/// The two tables, locked, with the layout that holds after locking (taking
/// a lock takes in invalidations, which may have moved an index). Locks
/// already held take in nothing, so a second round settles it.
fn open_tables() -> Option<(Layout, Opened, Opened)> {
    let mut rounds = 0;
    loop {
        let epoch = invalidation::relcache_epoch();
        let layout = layout()?;
        let accounts = Opened::table(layout.accounts);
        let subscriptions = Opened::table(layout.subscriptions);
        rounds += 1;
        if invalidation::relcache_epoch() == epoch || rounds == 3 {
            return Some((layout, accounts, subscriptions));
        }
    }
}

/// The account, read by index; `None` when the schema is not as expected.
pub fn account(account_id: i64) -> Option<Result<AccountPlan, CatalogError>> {
    let (layout, accounts, subscriptions_table) = open_tables()?;
    let snapshot = Snapshot::take();
    let mut holder = None;
    let read_account = for_each_match(
        &accounts,
        layout.accounts_by_id,
        layout.account_id,
        account_id,
        &snapshot,
        |tuple, tupdesc| {
            let currency = required(tuple, tupdesc, layout.currency)?;
            let tenant_id = layout
                .tenant_id
                .and_then(|attnum| attribute(tuple, tupdesc, attnum));
            holder = unsafe {
                String::from_datum(currency, false).map(|currency| {
                    (
                        currency,
                        tenant_id.and_then(|t| String::from_datum(t, false)),
                    )
                })
            };
            Ok(())
        },
    );
    if let Err(error) = read_account {
        return Some(Err(error));
    }
    let Some((currency, tenant_id)) = holder else {
        return Some(Err(CatalogError::UnknownAccount(account_id)));
    };
    let mut subscriptions = Vec::new();
    let read_subscriptions = for_each_match(
        &subscriptions_table,
        layout.subscriptions_by_account,
        layout.subscriber,
        account_id,
        &snapshot,
        |tuple, tupdesc| {
            let tariff_id = required(tuple, tupdesc, layout.tariff_id)?.value() as i64;
            let from = timestamp(required(tuple, tupdesc, layout.valid_from)?);
            let to = attribute(tuple, tupdesc, layout.valid_to).map(timestamp);
            subscriptions.push((Period::new(from, to), tariff_id));
            Ok(())
        },
    );
    Some(read_subscriptions.map(|()| AccountPlan {
        currency,
        tenant_id,
        subscriptions,
    }))
}
