//! `rating.usage_row_is_well_formed()`, the CHECK constraint
//! usage_row_well_formed. PostgreSQL reads every CHECK expression of a table
//! back from the catalog and plans it at the start of each INSERT: written
//! in SQL, the outcome rule cost about 60,000 instructions per statement and
//! the event id and attributes rules another 56,000, together a sixth of a
//! single-row rated insert. One function call over five columns is read and
//! planned for a fraction of that, and names the broken rule in its error.
//! It runs for every row, so it looks only at whether charge and
//! hold_reason are NULL, counts the event id's characters in place and reads
//! the attributes' kind from the jsonb header.

use crate::engine::usage_row::{check_usage_row, UsageRowShape};
use crate::errors::{malformed_usage_row, or_null, raise};
use pgrx::fcinfo::{pg_arg_is_null, pg_getarg, pg_getarg_datum_raw, pg_return_null};
use pgrx::prelude::*;
use pgrx::varlena::{vardata_any, varsize_any_exhdr};

crate::function_info::version_1!(pg_finfo_usage_row_is_well_formed);

/// `(status text, charge numeric, hold_reason text, event_id text,
/// attributes jsonb) RETURNS boolean`: true for a well-formed row; raises
/// check_violation (23514), naming the rule and the offending value, for any
/// other. NULL when status or attributes is (their NOT NULL constraints
/// refuse those).
///
/// # Safety
/// Called by PostgreSQL with the arguments of that SQL signature.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn usage_row_is_well_formed(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    unsafe {
        let (Some(status), false) = (pg_getarg::<&str>(fcinfo, 0), pg_arg_is_null(fcinfo, 4))
        else {
            return pg_return_null(fcinfo);
        };
        let event_id = (!pg_arg_is_null(fcinfo, 3)).then(|| pg_getarg_datum_raw(fcinfo, 3));
        let attributes = pg_getarg_datum_raw(fcinfo, 4);
        let shape = UsageRowShape {
            status,
            has_charge: !pg_arg_is_null(fcinfo, 1),
            has_hold_reason: !pg_arg_is_null(fcinfo, 2),
            event_id_characters: event_id.map(|text| characters(text)),
            attributes_are_an_object: jsonb_is_an_object(attributes),
        };
        if let Err(broken) = check_usage_row(shape) {
            raise(malformed_usage_row(&broken).set_detail(offending_values(fcinfo)));
        }
        pg_sys::Datum::from(true)
    }
}

/// The characters of a text datum in the database's encoding, as length()
/// counts them, without copying it.
unsafe fn characters(text: pg_sys::Datum) -> usize {
    unsafe {
        let value = pg_sys::pg_detoast_datum_packed(text.cast_mut_ptr());
        let length = i32::try_from(varsize_any_exhdr(value)).unwrap_or(i32::MAX);
        pg_sys::pg_mbstrlen_with_len(vardata_any(value), length) as usize
    }
}

/// Whether a jsonb datum's root is an object: the flag jsonb_typeof() reads
/// from the root container's header (a scalar is stored as a one-element
/// array, so it never has it).
unsafe fn jsonb_is_an_object(jsonb: pg_sys::Datum) -> bool {
    unsafe {
        let value = pg_sys::pg_detoast_datum_packed(jsonb.cast_mut_ptr());
        if varsize_any_exhdr(value) < size_of::<u32>() {
            return false;
        }
        let header = vardata_any(value).cast::<u32>().read_unaligned();
        header & pg_sys::JB_FOBJECT != 0
    }
}

/// The row's values that the rules look at, for the error's detail. Only on
/// the way to an error, so the attributes' kind comes from jsonb_typeof().
unsafe fn offending_values(fcinfo: pg_sys::FunctionCallInfo) -> String {
    unsafe {
        let text = |at: usize| {
            or_null(
                pg_getarg::<&str>(fcinfo, at)
                    .map(|value| format!("\"{}\"", crate::engine::shown(value))),
            )
        };
        let charge = or_null(pg_getarg::<pgrx::AnyNumeric>(fcinfo, 1));
        let attributes_kind: Option<String> = pgrx::fcinfo::direct_function_call(
            pg_sys::jsonb_typeof,
            &[Some(pg_getarg_datum_raw(fcinfo, 4))],
        );
        let attributes_kind = attributes_kind.unwrap_or_default();
        format!(
            "status {}, charge {charge}, hold_reason {}, event_id {}, attributes a JSON {attributes_kind}",
            text(0),
            text(2),
            text(3)
        )
    }
}
