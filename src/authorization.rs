//! `rating.affordable_quantity()`: the engine's answer to "how much of this
//! service does this budget buy", for `rating.authorize()` (sql/reservations.sql),
//! which works out the budget from the balance, limit and reservations.

use crate::errors::{numeric, raise};
use crate::numeric::{to_decimal, to_numeric};
use crate::usage::{self, given};
use pgrx::prelude::*;
use pgrx::AnyNumeric;

/// The largest quantity of `service` (to `destination`) whose charge for the
/// account at `occurred_at` is within `budget`, and the rate that prices it.
/// Refuses what an insert of that usage would refuse, with the same errors.
#[pg_extern(stable, parallel_restricted)]
fn affordable_quantity(
    account_id: Option<i64>,
    service: Option<&str>,
    budget: Option<AnyNumeric>,
    occurred_at: default!(Option<TimestampWithTimeZone>, "now()"),
    destination: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(quantity, AnyNumeric),
        name!(rate_id, i64),
        name!(currency, String),
    ),
> {
    let budget =
        to_decimal(&given(budget, "budget")).unwrap_or_else(|e| raise(numeric("budget", &e)));
    let account_id = given(account_id, "account_id");
    crate::tenancy::check_account_access(account_id);
    let (quantity, rate_id, currency) = usage::affordable(
        account_id,
        given(service, "service"),
        destination,
        given(occurred_at, "occurred_at"),
        budget,
    )
    .unwrap_or_else(|e| raise(e));
    TableIterator::once((to_numeric(quantity), rate_id, currency))
}
