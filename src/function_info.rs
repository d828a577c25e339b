//! The record PostgreSQL looks up, as `pg_finfo_<symbol>`, before calling a
//! C function: version 1 of the calling convention. `#[pg_extern]` writes it
//! for its functions; the functions that read their arguments from `fcinfo`
//! themselves (CHECK functions, statement triggers) declare it with
//! [`version_1`].

/// Exports `$finfo`, saying that its function takes the version-1 calling
/// convention.
macro_rules! version_1 {
    ($finfo:ident) => {
        #[no_mangle]
        #[doc(hidden)]
        pub extern "C" fn $finfo() -> &'static pgrx::pg_sys::Pg_finfo_record {
            const V1: pgrx::pg_sys::Pg_finfo_record =
                pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }
    };
}
pub(crate) use version_1;
