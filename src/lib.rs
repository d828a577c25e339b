//! pg_rating: usage rows priced against SQL tariffs and posted to a ledger in
//! the inserting transaction.
//!
//! - [`engine`]: the rating math, plain Rust.
//! - [`catalog`]: tariffs and accounts cached per backend, invalidated at commit.
//! - the rest: the thin PostgreSQL layer (triggers, functions, error mapping).
//! - `sql/`: the hand-written schema, posting trigger and views.

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod alerts;
mod authorization;
mod catalog;
mod counters;
mod deformed;
mod direct_posting;
pub mod engine;
mod errors;
mod function_info;
mod index_scan;
mod ledger_check;
mod numeric;
mod plans;
mod posting;
mod quote;
mod rate_validation;
mod repricing;
mod session_cache;
mod settings;
mod still_named;
mod table_access;
mod tariff_validation;
mod tenancy;
mod transition;
mod usage;
mod usage_check;
mod usage_columns;
mod usage_trigger;

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::register();
}

extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!(
    "../sql/triggers.sql",
    name = "triggers",
    requires = [
        "schema",
        rate_usage,
        validate_rate,
        validate_tariff,
        check_time_bands,
        check_rate_tiers,
        invalidate_catalog_cache,
        quote
    ]
);
extension_sql_file!(
    "../sql/keys.sql",
    name = "keys",
    requires = [
        "schema",
        account_has_usage,
        reservation_is_named,
        any_reservation_is_named
    ]
);
extension_sql_file!(
    "../sql/tenancy.sql",
    name = "tenancy",
    requires = ["schema"]
);
extension_sql_file!(
    "../sql/posting.sql",
    name = "posting",
    requires = ["triggers", "tenancy"]
);
extension_sql_file!(
    "../sql/reservations.sql",
    name = "reservations",
    requires = ["posting", affordable_quantity]
);
extension_sql_file!(
    "../sql/invoices.sql",
    name = "invoices",
    requires = ["posting"]
);
extension_sql_file!(
    "../sql/rerating.sql",
    name = "rerating",
    requires = ["posting", reprice]
);
extension_sql_file!(
    "../sql/views.sql",
    name = "views",
    requires = ["posting", "reservations", "invoices", "rerating"]
);
extension_sql_file!(
    "../sql/roles.sql",
    name = "roles",
    requires = ["views"],
    finalize
);

/// The in-database suites live in pgrx-tests/. pgrx calls every test as
/// `tests.<name>()`, so they are included into this one schema module.
#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    include!("../pgrx-tests/helpers.rs");
    include!("../pgrx-tests/posting.rs");
    include!("../pgrx-tests/numeric.rs");
    include!("../pgrx-tests/bad_input.rs");
    include!("../pgrx-tests/cache.rs");
    include!("../pgrx-tests/quote.rs");
    include!("../pgrx-tests/balances.rs");
    include!("../pgrx-tests/reservations.rs");
    include!("../pgrx-tests/invoices.rs");
    include!("../pgrx-tests/rerating.rs");
    include!("../pgrx-tests/tenancy.rs");
    include!("../pgrx-tests/tariff_models.rs");
    include!("../pgrx-tests/time_bands.rs");
    include!("../pgrx-tests/tiers.rs");
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
