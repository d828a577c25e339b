//! `rating.usage_outcome_is_recorded()`, the CHECK constraint
//! usage_outcome_recorded. PostgreSQL reads every CHECK expression of a
//! table back from the catalog and plans it at the start of each INSERT;
//! written in SQL (two statuses, three columns) this one cost about 60,000
//! instructions per statement, 8 % of a single-row rated insert. A function
//! call over three columns is read and planned for a fraction of that. It
//! looks only at whether charge and hold_reason are NULL, never at their
//! values.

use crate::engine::outcome::outcome_is_recorded;
use pgrx::fcinfo::{pg_arg_is_null, pg_getarg, pg_return_null};
use pgrx::prelude::*;

crate::function_info::version_1!(pg_finfo_usage_outcome_is_recorded);

/// `(status text, charge numeric, hold_reason text) RETURNS boolean`: whether
/// the row records its outcome; false makes the CHECK refuse it (23514,
/// naming usage_outcome_recorded). NULL when status is (its NOT NULL
/// constraint refuses that).
///
/// # Safety
/// Called by PostgreSQL with the arguments of that SQL signature.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn usage_outcome_is_recorded(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    unsafe {
        let Some(status) = pg_getarg::<&str>(fcinfo, 0) else {
            return pg_return_null(fcinfo);
        };
        let has_charge = !pg_arg_is_null(fcinfo, 1);
        let has_hold_reason = !pg_arg_is_null(fcinfo, 2);
        pg_sys::Datum::from(outcome_is_recorded(status, has_charge, has_hold_reason))
    }
}
