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
        let amount = pg_getarg_datum_raw(fcinfo, 3);
        let usage_id = pg_getarg::<i64>(fcinfo, 4);
        let corrects_entry_no = pg_getarg::<i64>(fcinfo, 5);
        let shape = EntryShape {
            kind,
            amount: numeric_sign(amount),
            names_usage: usage_id.is_some(),
            corrects_an_entry: corrects_entry_no.is_some(),
        };
        if let Err(broken) = check_entry(shape) {
            let entry = match (pg_getarg::<i64>(fcinfo, 0), pg_getarg::<i64>(fcinfo, 1)) {
                (Some(account_id), Some(entry_no)) => {
                    format!("entry {entry_no} of account {account_id}")
                }
                _ => "entry".to_string(),
            };
            let amount = pg_getarg::<pgrx::AnyNumeric>(fcinfo, 3).map(|a| a.to_string());
            raise(malformed_ledger_entry(&entry, &broken).set_detail(format!(
                "kind {}, amount {}, usage_id {}, corrects_entry_no {}",
                crate::engine::shown(kind),
                or_null(amount),
                or_null(usage_id),
                or_null(corrects_entry_no)
            )));
        }
        pg_sys::Datum::from(true)
    }
}
