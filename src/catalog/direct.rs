//! Reads an account and its subscriptions straight from their indexes.
//!
//! A large statement over many accounts loads each on first sight; through
//! SPI that was a query per account, most of it the executor's start-up and
//! tear-down. Here it is two index lookups.
//!
//! The rows read are those a new query of the transaction would read (see
//! [`crate::index_scan`]). Row-level security is not applied here, as the
//! cache serves every role of the session anyway: usage's own policy
//! refuses another tenant's row after rating.
//!
//! If the tables or indexes are not found as named (a schema changed by
//! hand), [`account`] returns `None` and the caller loads through SPI.

use super::{AccountPlan, CatalogError};
use crate::engine::{Period, Timestamp};
use crate::index_scan::{
    attribute, column, for_each_match, open_settled, rating_relation, valid_index, KeptLayout,
    Opened, Snapshot,
};
use pgrx::datum::FromDatum;
use pgrx::pg_sys::{self, AttrNumber, Oid};
use std::cell::Cell;

/// Where the columns are.
#[derive(Clone, Copy)]
struct Layout {
    accounts: Oid,
    accounts_by_id: Oid,
    account_id: AttrNumber,
    currency: AttrNumber,
    /// None in a schema from before 0.2.0.
    tenant_id: Option<AttrNumber>,
    spending_floor: AttrNumber,
    subscriptions: Oid,
    subscriptions_by_account: Oid,
    subscriber: AttrNumber,
    tariff_id: AttrNumber,
    valid_from: AttrNumber,
    valid_to: AttrNumber,
}

thread_local! {
    static LAYOUT: KeptLayout<Layout> = const { Cell::new(None) };
}

fn resolve() -> Option<Layout> {
    let accounts = rating_relation(c"accounts")?;
    let subscriptions = rating_relation(c"subscriptions")?;
    Some(Layout {
        accounts,
        accounts_by_id: valid_index(c"accounts_pkey")?,
        account_id: column(accounts, c"account_id", pg_sys::INT8OID)?,
        currency: column(accounts, c"currency", pg_sys::TEXTOID)?,
        tenant_id: column(accounts, c"tenant_id", pg_sys::TEXTOID),
        spending_floor: column(accounts, c"spending_floor", pg_sys::NUMERICOID)?,
        subscriptions,
        // Before 0.3.0's btree, the exclusion constraint's GiST index (which
        // leads with account_id) serves, more slowly.
        subscriptions_by_account: valid_index(c"subscriptions_by_account")
            .or_else(|| valid_index(c"subscriptions_no_overlap"))?,
        subscriber: column(subscriptions, c"account_id", pg_sys::INT8OID)?,
        tariff_id: column(subscriptions, c"tariff_id", pg_sys::INT8OID)?,
        valid_from: column(subscriptions, c"valid_from", pg_sys::TIMESTAMPTZOID)?,
        valid_to: column(subscriptions, c"valid_to", pg_sys::TIMESTAMPTZOID)?,
    })
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

/// The account, read by index; `None` when the schema is not as expected.
pub fn account(account_id: i64) -> Option<Result<AccountPlan, CatalogError>> {
    let (layout, (accounts, subscriptions_table)) = open_settled(&LAYOUT, resolve, |layout| {
        (
            Opened::table(layout.accounts),
            Opened::table(layout.subscriptions),
        )
    })?;
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
            let has_spending_floor = attribute(tuple, tupdesc, layout.spending_floor).is_some();
            holder = unsafe {
                String::from_datum(currency, false).map(|currency| {
                    (
                        currency,
                        tenant_id.and_then(|t| String::from_datum(t, false)),
                        has_spending_floor,
                    )
                })
            };
            Ok(())
        },
    );
    if let Err(error) = read_account {
        return Some(Err(error));
    }
    let Some((currency, tenant_id, has_spending_floor)) = holder else {
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
        has_spending_floor,
        subscriptions,
    }))
}
