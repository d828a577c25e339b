//! BEFORE INSERT row trigger on `rating.usage`: prices the row in Rust from
//! cached structures and writes the result onto it. Posting to the ledger
//! and balances happens once per statement, in `rating.post_usage_charges()`.

use crate::errors::{raise, report_internal};
use crate::numeric::to_numeric;
use crate::usage::{self, Rated, UsageError, UsageInput};
use pgrx::datum::{FromDatum, IntoDatum, UnboxDatum};
use pgrx::prelude::*;
use pgrx::AnyNumeric;
use std::convert::Infallible;

fn column<'t, T>(row: &'t PgHeapTuple<'_, AllocatedByPostgres>, name: &str) -> Option<T>
where
    T: FromDatum + IntoDatum + UnboxDatum<As<'t> = T> + 't,
{
    row.get_by_name::<T>(name)
        .unwrap_or_else(|e| raise(report_internal(format!("usage.{name}: {e}"))))
}

fn required<'t, T>(row: &'t PgHeapTuple<'_, AllocatedByPostgres>, name: &'static str) -> T
where
    T: FromDatum + IntoDatum + UnboxDatum<As<'t> = T> + 't,
{
    column(row, name).unwrap_or_else(|| raise(UsageError::NullColumn(name)))
}

fn read(row: &PgHeapTuple<'_, AllocatedByPostgres>) -> UsageInput {
    UsageInput {
        account_id: required(row, "account_id"),
        service: required(row, "service"),
        quantity: required(row, "quantity"),
        occurred_at: required(row, "occurred_at"),
        destination: column(row, "destination"),
        currency: column(row, "currency"),
    }
}

fn write<'a>(
    row: PgHeapTuple<'a, AllocatedByPostgres>,
    rated: Rated,
) -> PgHeapTuple<'a, AllocatedByRust> {
    let mut row = row.into_owned();
    let rated_at = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    let rated_at = TimestampWithTimeZone::try_from(rated_at).ok();
    let result = (|| {
        row.set_by_name::<AnyNumeric>("charge", to_numeric(rated.priced.charge))?;
        row.set_by_name("currency", rated.currency)?;
        row.set_by_name("tariff_id", rated.tariff_id)?;
        row.set_by_name("rate_id", rated.priced.rate_id)?;
        row.set_by_name::<AnyNumeric>("billed_quantity", to_numeric(rated.priced.billed_quantity))?;
        row.set_by_name("breakdown", rated.priced.breakdown)?;
        row.set_by_name("rated_at", rated_at)
    })();
    result.unwrap_or_else(|e| raise(report_internal(format!("writing the rated usage row: {e}"))));
    row
}

#[pg_trigger]
fn rate_usage<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByRust>>, Infallible> {
    let Some(row) = trigger.new() else {
        raise(report_internal(
            "rating.rate_usage() must be a BEFORE INSERT row trigger".into(),
        ))
    };
    let rated = usage::rate(&read(&row)).unwrap_or_else(|e| raise(e));
    Ok(Some(write(row, rated)))
}
