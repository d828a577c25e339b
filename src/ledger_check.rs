//! `rating.ledger_entry_is_well_formed()`, the CHECK constraint of
//! rating.ledger. As SQL the same rules took four constraints whose
//! expressions PostgreSQL reads back from the catalog and plans at the start
//! of every INSERT: about a tenth of the CPU of a single-row rated insert,
//! which posts one entry. A function call is read and planned at almost no
//! cost, and names the broken rule in its error. It runs for every entry, so
//! it reads the amount's sign from the numeric's header instead of copying
//! and comparing it.

use crate::engine::ledger::{check_entry, EntryShape};
use crate::errors::{malformed_ledger_entry, or_null, raise};
use crate::numeric::numeric_sign;
use pgrx::datum::FromDatum;
use pgrx::fcinfo::{pg_arg_is_null, pg_getarg, pg_getarg_datum_raw, pg_return_null};
use pgrx::prelude::*;

crate::function_info::version_1!(pg_finfo_ledger_entry_is_well_formed);

/// `(account_id bigint, entry_no bigint, kind text, amount numeric, usage_id
/// bigint, corrects_entry_no bigint) RETURNS boolean`: true for a well-formed
/// entry; raises check_violation (23514), naming the entry and the rule, for
/// any other. NULL when kind or amount is (their NOT NULL constraints refuse
/// those).
///
/// # Safety
/// Called by PostgreSQL with the arguments of that SQL signature.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn ledger_entry_is_well_formed(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    unsafe {
        let (Some(kind), false) = (pg_getarg::<&str>(fcinfo, 2), pg_arg_is_null(fcinfo, 3)) else {
            return pg_return_null(fcinfo);
        };
        refuse_malformed(&LedgerEntry {
            account_id: pg_getarg::<i64>(fcinfo, 0),
            entry_no: pg_getarg::<i64>(fcinfo, 1),
            kind,
            amount: pg_getarg_datum_raw(fcinfo, 3),
            usage_id: pg_getarg::<i64>(fcinfo, 4),
            corrects_entry_no: pg_getarg::<i64>(fcinfo, 5),
        });
        pg_sys::Datum::from(true)
    }
}

/// An entry as the ledger's CHECK reads it.
pub struct LedgerEntry<'a> {
    pub account_id: Option<i64>,
    pub entry_no: Option<i64>,
    pub kind: &'a str,
    /// A numeric, not NULL.
    pub amount: pg_sys::Datum,
    pub usage_id: Option<i64>,
    pub corrects_entry_no: Option<i64>,
}

/// Raises check_violation (23514), naming the entry and the rule it breaks,
/// unless the entry is well formed.
///
/// # Safety
/// `entry.amount` is a numeric datum.
pub unsafe fn refuse_malformed(entry: &LedgerEntry<'_>) {
    let shape = EntryShape {
        kind: entry.kind,
        amount: unsafe { numeric_sign(entry.amount) },
        names_usage: entry.usage_id.is_some(),
        corrects_an_entry: entry.corrects_entry_no.is_some(),
    };
    let Err(broken) = check_entry(shape) else {
        return;
    };
    let named = match (entry.account_id, entry.entry_no) {
        (Some(account_id), Some(entry_no)) => format!("entry {entry_no} of account {account_id}"),
        _ => "entry".to_string(),
    };
    let amount = unsafe { pgrx::AnyNumeric::from_datum(entry.amount, false) };
    raise(malformed_ledger_entry(&named, &broken).set_detail(format!(
        "kind {}, amount {}, usage_id {}, corrects_entry_no {}",
        crate::engine::shown(entry.kind),
        or_null(amount),
        or_null(entry.usage_id),
        or_null(entry.corrects_entry_no)
    )));
}
