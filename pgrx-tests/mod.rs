//! In-database tests, compiled into the extension by `cargo pgrx test`.
use pgrx::prelude::*;

#[pg_test]
fn extension_creates_the_rating_schema() {
    let n =
        Spi::get_one::<i64>("SELECT count(*) FROM pg_tables WHERE schemaname = 'rating'").unwrap();
    assert_eq!(n, Some(9));
}
