//! What the triggers that stand in for foreign keys ask before a row that
//! usage may name (an account, a reservation) is deleted: is it named, as
//! committed data stands now?
//!
//! A transaction inserting such usage locks the named row (KEY SHARE, or
//! the account's balance) until it ends, so the DELETE waits for it. In
//! READ COMMITTED the trigger's query then sees its rows. A REPEATABLE READ
//! or SERIALIZABLE transaction's snapshot may predate that commit, and a
//! lock that was only a lock does not make the DELETE fail: read with that
//! snapshot, the usage would be missed and the row deleted from under it.
//! So these read with the latest snapshot, as PostgreSQL's own foreign keys
//! check a deleted key at those levels.

use crate::errors::{raise, report_internal};
use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;

const ACCOUNT_HAS_USAGE: &str = include_str!("../sql/queries/account_has_usage.sql");
const RESERVATION_IS_NAMED: &str = include_str!("../sql/queries/reservation_is_named.sql");
const ANY_RESERVATION_IS_NAMED: &str = include_str!("../sql/queries/any_reservation_is_named.sql");

thread_local! {
    /// Kept plans by the address of their query text. pgrx's kept plans
    /// cannot run with a snapshot of the caller's choosing.
    static PLANS: RefCell<HashMap<usize, pg_sys::SPIPlanPtr>> = RefCell::new(HashMap::new());
}

/// Whether usage names the account (any of its usage rows).
#[pg_extern(volatile, strict, parallel_unsafe)]
fn account_has_usage(account_id: i64) -> bool {
    any_row_now(ACCOUNT_HAS_USAGE, &[account_id])
}

/// Whether usage of the account names its reservation.
#[pg_extern(volatile, strict, parallel_unsafe)]
fn reservation_is_named(account_id: i64, reservation_id: i64) -> bool {
    any_row_now(RESERVATION_IS_NAMED, &[account_id, reservation_id])
}

/// Whether any usage row names a reservation.
#[pg_extern(volatile, parallel_unsafe)]
fn any_reservation_is_named() -> bool {
    any_row_now(ANY_RESERVATION_IS_NAMED, &[])
}

/// Whether `query`, whose parameters are all bigint, returns a row when it
/// reads every committed row and this transaction's own.
fn any_row_now(query: &'static str, args: &[i64]) -> bool {
    Spi::connect(|_client| unsafe {
        let plan = kept_plan(query, args.len());
        let mut values: Vec<pg_sys::Datum> = args.iter().map(|&arg| arg.into()).collect();
        let nulls = vec![b' ' as std::ffi::c_char; args.len()];
        // This transaction's own changes so far, then the latest snapshot.
        pg_sys::CommandCounterIncrement();
        let outcome = pg_sys::SPI_execute_snapshot(
            plan,
            values.as_mut_ptr(),
            nulls.as_ptr(),
            pg_sys::GetLatestSnapshot(),
            std::ptr::null_mut(),
            true,
            false,
            1,
        );
        if outcome != pg_sys::SPI_OK_SELECT as i32 {
            raise(report_internal(format!(
                "SPI_execute_snapshot returned {outcome} for {query}"
            )));
        }
        pg_sys::SPI_processed > 0
    })
}

unsafe fn kept_plan(query: &'static str, bigint_args: usize) -> pg_sys::SPIPlanPtr {
    let key = query.as_ptr() as usize;
    if let Some(plan) = PLANS.with_borrow(|plans| plans.get(&key).copied()) {
        return plan;
    }
    let text = CString::new(query).expect("query text has no NUL");
    let mut types = vec![pg_sys::INT8OID; bigint_args];
    let plan =
        unsafe { pg_sys::SPI_prepare(text.as_ptr(), bigint_args as i32, types.as_mut_ptr()) };
    if plan.is_null() || unsafe { pg_sys::SPI_keepplan(plan) } != 0 {
        raise(report_internal(format!("preparing {query}")));
    }
    PLANS.with_borrow_mut(|plans| plans.insert(key, plan));
    plan
}
