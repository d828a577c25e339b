//! `rating.session_cache()`: what this session keeps compiled and cached,
//! and how much it has loaded, so that an operator can see why a session's
//! first rows cost more than the next.

use crate::catalog;
use pgrx::prelude::*;

/// Reads backend-local state: volatile, and restricted to the leader, whose
/// cache it is.
#[pg_extern(volatile, parallel_restricted)]
fn session_cache(
) -> TableIterator<'static, (name!(cache, String), name!(entries, i64), name!(loads, i64))> {
    let rows = catalog::cache_statistics()
        .into_iter()
        .map(|(kind, entries, loads)| {
            (
                kind.name().to_owned(),
                i64::try_from(entries).unwrap_or(i64::MAX),
                i64::try_from(loads).unwrap_or(i64::MAX),
            )
        })
        .collect::<Vec<_>>();
    TableIterator::new(rows)
}
