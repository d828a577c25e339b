//! BEFORE INSERT row trigger on `rating.usage`: prices the row in Rust from
//! cached structures and writes the result onto it, or, under
//! `pg_rating.unratable = hold`, marks a row no tariff can price as held.
//! Posting to the ledger and balances happens once per statement, in
//! `rating.post_usage_charges()`, for the rows marked rated.

use crate::counters::Counting;
use crate::errors::{raise, report_internal};
use crate::numeric::to_numeric;
use crate::settings::{Unratable, UNRATABLE};
use crate::tenancy::check_account_access;
use crate::usage::{self, Rated, UsageError, UsageInput};
use pgrx::datum::{FromDatum, IntoDatum, TryFromDatumError, UnboxDatum};
use pgrx::pg_sys::panic::ErrorReport;
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

/// The usage table as the database's installed version of pg_rating made it.
/// Between installing a new library and `ALTER EXTENSION pg_rating UPDATE`,
/// a database still has the 0.1.0 table, without status and hold_reason;
/// rows are then rated as 0.1.0 rated them, and never held.
#[derive(Clone, Copy, PartialEq)]
enum UsageTable {
    V0_1,
    Current,
}

/// Rows restored from a dump arrive priced; rating them again would charge
/// twice, so a row that already carries a status or a charge is refused.
fn refuse_prerated(row: &PgHeapTuple<'_, AllocatedByPostgres>) -> UsageTable {
    let (table, status) = match row.get_by_name::<String>("status") {
        Ok(status) => (UsageTable::Current, status),
        Err(TryFromDatumError::NoSuchAttributeName(_)) => (UsageTable::V0_1, None),
        Err(e) => raise(report_internal(format!("usage.status: {e}"))),
    };
    if status.is_some() || column::<AnyNumeric>(row, "charge").is_some() {
        raise(UsageError::Prerated);
    }
    table
}

fn write<'a>(
    row: PgHeapTuple<'a, AllocatedByPostgres>,
    table: UsageTable,
    rated: Rated,
) -> PgHeapTuple<'a, AllocatedByRust> {
    let mut row = row.into_owned();
    let rated_at = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    let rated_at = TimestampWithTimeZone::try_from(rated_at).ok();
    let result = (|| {
        if table == UsageTable::Current {
            row.set_by_name("status", "rated")?;
        }
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

/// The row as stored when no tariff can price it: held, with the reason the
/// rejection would have given, and no charge.
fn hold<'a>(
    row: PgHeapTuple<'a, AllocatedByPostgres>,
    error: UsageError,
) -> PgHeapTuple<'a, AllocatedByRust> {
    let mut row = row.into_owned();
    let reason = ErrorReport::from(error).message().to_string();
    let result = (|| {
        row.set_by_name("status", "held")?;
        row.set_by_name("hold_reason", reason)
    })();
    result.unwrap_or_else(|e| raise(report_internal(format!("writing the held usage row: {e}"))));
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
    let table = refuse_prerated(&row);
    let input = read(&row);
    let error = match usage::rate(&input, Counting::Record) {
        Ok(rated) => return Ok(Some(write(row, table, rated))),
        Err(error) => error,
    };
    // Row-level security refuses another tenant's account only after this
    // trigger; the error must not tell a tenant about that account first.
    check_account_access(input.account_id);
    if error.is_unratable() && table == UsageTable::Current && UNRATABLE.get() == Unratable::Hold {
        Ok(Some(hold(row, error)))
    } else {
        raise(error)
    }
}
