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
