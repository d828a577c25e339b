//! For the Rust statement triggers that take the common statements
//! themselves: reading their transition tables, without SQL or from SPI
//! queries, and running the PL/pgSQL trigger function that does the whole
//! job, with the same trigger call, for every other statement.

use crate::deformed::Deformed;
use crate::errors::{raise, report_internal};
use pgrx::prelude::*;
use std::ffi::CStr;

/// Whether a transition table has at most `most` rows.
pub fn has_at_most(store: *mut pg_sys::Tuplestorestate, most: i64) -> bool {
    !store.is_null() && row_count(store) <= most
}

/// The rows of a transition table (none if the trigger has none).
pub fn row_count(store: *mut pg_sys::Tuplestorestate) -> i64 {
    if store.is_null() {
        0
    } else {
        unsafe { pg_sys::tuplestore_tuple_count(store) }
    }
}

/// Lets the SPI queries of the current connection read the trigger's
/// transition tables by the names its REFERENCING clause gives them.
pub fn register_transition_tables(data: &pg_sys::TriggerData) {
    let data = data as *const pg_sys::TriggerData as *mut pg_sys::TriggerData;
    let registered = unsafe { pg_sys::SPI_register_trigger_data(data) };
    if registered != pg_sys::SPI_OK_TD_REGISTER as i32 {
        raise(report_internal(format!(
            "registering the transition tables with SPI: code {registered}"
        )));
    }
}

/// Calls `visit` with each row of a transition table of `relation` until it
/// returns false.
pub fn for_each_row(
    store: *mut pg_sys::Tuplestorestate,
    relation: pg_sys::Relation,
    mut visit: impl FnMut(&Deformed<'_>) -> bool,
) {
    unsafe {
        let tupdesc = (*relation).rd_att;
        // A read pointer of our own: other triggers read the same store.
        let reader = pg_sys::tuplestore_alloc_read_pointer(store, pg_sys::EXEC_FLAG_REWIND as i32);
        pg_sys::tuplestore_select_read_pointer(store, reader);
        pg_sys::tuplestore_rescan(store);
        let slot = pg_sys::MakeSingleTupleTableSlot(tupdesc, &pg_sys::TTSOpsMinimalTuple);
        while pg_sys::tuplestore_gettupleslot(store, true, false, slot) {
            let row = Deformed::of_slot(slot);
            if !visit(&row) {
                break;
            }
        }
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        pg_sys::tuplestore_select_read_pointer(store, 0);
    }
}

/// The trigger call's data, refusing a call that is not a statement
/// trigger with transition tables.
///
/// # Safety
/// `fcinfo` is a function call from PostgreSQL.
unsafe fn statement_trigger_data<'a>(
    fcinfo: pg_sys::FunctionCallInfo,
    name: &str,
) -> &'a pg_sys::TriggerData {
    let context = unsafe { (*fcinfo).context };
    let is_trigger =
        !context.is_null() && unsafe { (*context).type_ } == pg_sys::NodeTag::T_TriggerData;
    if !is_trigger {
        raise(report_internal(format!(
            "{name} must be called as a trigger"
        )));
    }
    let data = unsafe { &*(context as *const pg_sys::TriggerData) };
    if data.tg_newtable.is_null() {
        raise(report_internal(format!(
            "{name} must be an AFTER statement trigger with a NEW TABLE"
        )));
    }
    data
}

/// The function `signature` (e.g. `rating.f()`).
fn function_oid(signature: &CStr) -> pg_sys::Oid {
    let name = pg_sys::Datum::from(signature.as_ptr());
    unsafe { pgrx::direct_function_call(pg_sys::regprocedurein, &[Some(name)]) }
        .unwrap_or_else(|| raise(report_internal(format!("no function {signature:?}"))))
}

/// The PL/pgSQL trigger function `plpgsql` to run, or InvalidOid when
/// `take` took the statement itself (returned true). The trigger
/// `name` is for the message if the call is no statement trigger.
///
/// # Safety
/// `fcinfo` is a function call from PostgreSQL; to be called under
/// `#[pg_guard]`, as [`rust_or_plpgsql_trigger`] does.
pub unsafe fn plpgsql_unless_taken(
    fcinfo: pg_sys::FunctionCallInfo,
    name: &str,
    take: fn(&pg_sys::TriggerData) -> bool,
    plpgsql: &CStr,
) -> pg_sys::Oid {
    let data = unsafe { statement_trigger_data(fcinfo, name) };
    if take(data) {
        pg_sys::InvalidOid
    } else {
        function_oid(plpgsql)
    }
}

/// Runs `choose` (a guarded [`plpgsql_unless_taken`]), then the
/// PL/pgSQL trigger function it names, if any, with the same trigger call.
///
/// # Safety
/// `fcinfo` is a trigger call. No value here needs dropping, and none may:
/// an ERROR that the PL/pgSQL function raises longjmps straight back to
/// PostgreSQL past this frame, keeping its SQLSTATE. (Caught by pgrx, an
/// SQLSTATE it does not know, such as RT001, would become XX000.)
pub unsafe fn rust_or_plpgsql(
    fcinfo: pg_sys::FunctionCallInfo,
    choose: unsafe extern "C-unwind" fn(pg_sys::FunctionCallInfo) -> pg_sys::Oid,
) -> pg_sys::Datum {
    unsafe {
        let plpgsql = choose(fcinfo);
        if plpgsql != pg_sys::InvalidOid {
            let mut flinfo = std::mem::MaybeUninit::<pg_sys::FmgrInfo>::zeroed();
            pg_sys::fmgr_info(plpgsql, flinfo.as_mut_ptr());
            let mut flinfo = flinfo.assume_init();
            let mut call = std::mem::MaybeUninit::<pg_sys::FunctionCallInfoBaseData>::zeroed();
            let call = call.as_mut_ptr();
            (*call).flinfo = &mut flinfo;
            (*call).context = (*fcinfo).context;
            (*call).fncollation = pg_sys::InvalidOid;
            (*call).nargs = 0;
            if let Some(function) = flinfo.fn_addr {
                function(call);
            }
        }
        // An AFTER trigger returns a null pointer (not an SQL NULL).
        pg_sys::Datum::from(0)
    }
}

/// Exports a statement trigger function for `CREATE FUNCTION ... LANGUAGE c
/// AS 'MODULE_PATHNAME', 'symbol'`: `take(&TriggerData) -> bool`
/// takes the statement or leaves it to the PL/pgSQL function `otherwise`.
/// Written out rather than with `#[pg_trigger]`, whose wrapper would catch
/// the PL/pgSQL function's errors.
macro_rules! rust_or_plpgsql_trigger {
    (
        symbol: $symbol:ident,
        finfo: $finfo:ident,
        name: $name:literal,
        take: $take:path,
        otherwise: $otherwise:literal $(,)?
    ) => {
        $crate::function_info::version_1!($finfo);

        /// # Safety
        /// Called by PostgreSQL as a trigger.
        #[no_mangle]
        pub unsafe extern "C-unwind" fn $symbol(
            fcinfo: pgrx::pg_sys::FunctionCallInfo,
        ) -> pgrx::pg_sys::Datum {
            // Errors and panics of the Rust part end at this guard.
            #[pgrx::pg_guard]
            unsafe extern "C-unwind" fn plpgsql_unless_taken(
                fcinfo: pgrx::pg_sys::FunctionCallInfo,
            ) -> pgrx::pg_sys::Oid {
                unsafe {
                    $crate::transition::plpgsql_unless_taken(fcinfo, $name, $take, $otherwise)
                }
            }
            unsafe { $crate::transition::rust_or_plpgsql(fcinfo, plpgsql_unless_taken) }
        }
    };
}
pub(crate) use rust_or_plpgsql_trigger;
