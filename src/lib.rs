//! pg_rating: usage rows priced against SQL tariffs and posted to a ledger in
//! the inserting transaction.
//!
//! - [`engine`]: the rating math, plain Rust.
//! - [`catalog`]: tariffs and accounts cached per backend, invalidated at commit.
//! - the rest: the thin PostgreSQL layer (triggers, functions, error mapping).
//! - `sql/`: the hand-written schema, posting trigger and views.

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod catalog;
pub mod engine;
mod errors;
mod numeric;
mod quote;
mod rate_validation;
mod usage;
mod usage_trigger;

extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!(
    "../sql/triggers.sql",
    name = "triggers",
    requires = [
        "schema",
        rate_usage,
        validate_rate,
        invalidate_catalog_cache,
        quote
    ]
);
extension_sql_file!("../sql/views.sql", name = "views", requires = ["triggers"]);

#[cfg(any(test, feature = "pg_test"))]
#[path = "../pgrx-tests/mod.rs"]
#[pg_schema]
mod tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
