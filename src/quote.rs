//! `rating.quote()`: what a usage event would cost, posting nothing.

use crate::counters::Counting;
use crate::errors::raise;
use crate::numeric::to_decimal;
use crate::usage::{self, given, UsageInput};
use pgrx::prelude::*;
use pgrx::AnyNumeric;

/// Prices an event exactly as an INSERT into rating.usage would, with the
/// same errors, but writes nothing.
#[pg_extern(stable, parallel_restricted)]
fn quote(
    account_id: Option<i64>,
    service: Option<String>,
    quantity: Option<AnyNumeric>,
    occurred_at: default!(Option<TimestampWithTimeZone>, "now()"),
    destination: default!(Option<String>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(charge, AnyNumeric),
        name!(currency, String),
        name!(tariff_id, i64),
        name!(rate_id, i64),
        name!(billed_quantity, AnyNumeric),
        name!(breakdown, String),
    ),
> {
    let account_id = given(account_id, "account_id");
    crate::tenancy::check_account_access(account_id);
    let input = UsageInput {
        account_id,
        service: given(service, "service"),
        quantity: to_decimal(&given(quantity, "quantity")),
        occurred_at: given(occurred_at, "occurred_at"),
        destination,
        currency: None,
    };
    let rated = usage::rate(&input, Counting::Peek).unwrap_or_else(|e| raise(e));
    TableIterator::once(rated.into_columns())
}
