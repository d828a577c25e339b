//! pg_rating's configuration parameters.

use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// What an INSERT does with a usage row the tariffs cannot price.
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Unratable {
    /// The statement fails with the rating error's SQLSTATE.
    #[name = c"reject"]
    Reject,
    /// The row is stored with status 'held' and its reason, posted nowhere,
    /// until `rating.rate_held()` prices it.
    #[name = c"hold"]
    Hold,
}

pub static UNRATABLE: GucSetting<Unratable> = GucSetting::<Unratable>::new(Unratable::Reject);

pub fn register() {
    GucRegistry::define_enum_guc(
        c"pg_rating.unratable",
        c"What an INSERT into rating.usage does with a row no tariff can price: reject or hold.",
        c"reject fails the statement with the rating error. hold stores the row with status 'held' and \
          the reason in hold_reason, posts nothing, and leaves it for rating.rate_held() once the tariff \
          is fixed. Rows with invalid data (NULLs, bad quantities, unknown accounts) are always rejected.",
        &UNRATABLE,
        GucContext::Userset,
        GucFlags::default(),
    );
}

/// Runs `body` with PostgreSQL settings changed for its duration, as a
/// function's SET clauses change them: restored after it, or on an error by
/// the abort of the transaction or subtransaction that catches it. The
/// settings are ones any user may set (PGC_USERSET); a value PostgreSQL
/// refuses raises an ERROR.
pub fn with_local_settings<R>(
    settings: &[(&std::ffi::CStr, &std::ffi::CStr)],
    body: impl FnOnce() -> R,
) -> R {
    // SAFETY: a nest level opened and closed around `body`, as
    // fmgr_security_definer opens one for SET clauses; elevel 0 makes a
    // refused value an ERROR, which the abort's GUC cleanup undoes.
    unsafe {
        let level = pg_sys::NewGUCNestLevel();
        for (name, value) in settings {
            pg_sys::set_config_option(
                name.as_ptr(),
                value.as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            );
        }
        let result = body();
        pg_sys::AtEOXact_GUC(true, level);
        result
    }
}
