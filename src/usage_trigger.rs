//! BEFORE INSERT row trigger on `rating.usage`: prices the row in Rust from
//! cached structures and writes the result onto it, or, under
//! `pg_rating.unratable = hold`, marks a row no tariff can price as held.
//! Posting to the ledger and balances happens once per statement, in
//! `rating.post_usage_charges()`, for the rows marked rated.

use crate::counters::Counting;
use crate::deformed::Deformed;
use crate::errors::{raise, report_internal};
use crate::numeric::{numeric_datum, NumericAsDecimal};
use crate::plans::{kept, INT8};
use crate::settings::{Unratable, UNRATABLE};
use crate::tenancy::check_account_access;
use crate::usage::{self, Rated, UsageError, UsageInput};
use crate::usage_columns::{self, column, required, UsageColumns};
use pgrx::datum::IntoDatum;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{AnyNumeric, PgTupleDesc};
use std::convert::Infallible;
use std::num::NonZeroUsize;

fn read(row: &Deformed<'_>, at: &UsageColumns) -> UsageInput {
    UsageInput {
        account_id: required(row, at.account_id, "account_id"),
        service: required(row, at.service, "service"),
        quantity: required::<NumericAsDecimal>(row, at.quantity, "quantity").0,
        occurred_at: required(row, at.occurred_at, "occurred_at"),
        destination: column(row, at.destination),
        currency: column(row, at.currency),
    }
}

/// Rows restored from a dump arrive priced; rating them again would charge
/// twice, so a row that already carries a status or a charge is refused.
/// (A usage table from before 0.2.0 has no status: between installing a new
/// library and ALTER EXTENSION pg_rating UPDATE, rows are then rated as
/// 0.1.0 rated them, and never held.)
fn refuse_prerated(row: &Deformed<'_>, at: &UsageColumns) {
    let status = at.status.and_then(|status| column::<String>(row, status));
    if status.is_some() || column::<AnyNumeric>(row, at.charge).is_some() {
        raise(UsageError::Prerated);
    }
}

/// The trigger's row with `values` written onto it.
fn rewritten<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
    mut row: Deformed<'_>,
    values: &[(NonZeroUsize, Option<pg_sys::Datum>)],
) -> PgHeapTuple<'a, AllocatedByPostgres> {
    for &(column, value) in values {
        row.set(column, value)
            .unwrap_or_else(|e| raise(report_internal(format!("usage column {column}: {e}"))));
    }
    let data = trigger.trigger_data();
    unsafe {
        let tuple = row.formed(data.tg_trigtuple);
        let tupdesc = (*data.tg_relation).rd_att;
        PgHeapTuple::from_heap_tuple(PgTupleDesc::from_pg_unchecked(tupdesc), tuple)
    }
}

fn write<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
    row: Deformed<'_>,
    at: &UsageColumns,
    rated: Rated,
) -> PgHeapTuple<'a, AllocatedByPostgres> {
    let rated_at = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    let rated_at = TimestampWithTimeZone::try_from(rated_at).ok();
    let mut values = vec![
        (at.charge, Some(numeric_datum(rated.priced.charge))),
        (at.currency, rated.currency.into_datum()),
        (at.tariff_id, rated.tariff_id.into_datum()),
        (at.rate_id, rated.priced.rate_id.into_datum()),
        (
            at.billed_quantity,
            Some(numeric_datum(rated.priced.billed_quantity)),
        ),
        (at.breakdown, rated.priced.breakdown.into_datum()),
        (at.rated_at, rated_at.into_datum()),
    ];
    if let Some(status) = at.status {
        values.push((status, "rated".into_datum()));
    }
    rewritten(trigger, row, &values)
}

const LOCK_ACCOUNT_KEY: &str = include_str!("../sql/queries/lock_account_key.sql");

/// A held row posts nothing, so takes no balance lock: it locks the account
/// against deletion instead (usage has no foreign key to do it).
fn lock_account_key(account_id: i64) {
    Spi::connect_mut(|client| {
        let lock = kept(client, LOCK_ACCOUNT_KEY, &[INT8], true)?;
        client.update(&*lock, None, &[account_id.into()]).map(drop)
    })
    .unwrap_or_else(|e: pgrx::spi::SpiError| {
        raise(report_internal(format!(
            "locking account {account_id}: {e}"
        )))
    });
}

/// The row as stored when no tariff can price it: held, with the reason the
/// rejection would have given, and no charge.
fn hold<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
    row: Deformed<'_>,
    at: &UsageColumns,
    error: UsageError,
) -> PgHeapTuple<'a, AllocatedByPostgres> {
    let reason = ErrorReport::from(error).message().to_string();
    let (Some(status), Some(hold_reason)) = (at.status, at.hold_reason) else {
        raise(report_internal("holding a row needs usage.status".into()))
    };
    rewritten(
        trigger,
        row,
        &[
            (status, "held".into_datum()),
            (hold_reason, reason.into_datum()),
        ],
    )
}

#[pg_trigger]
fn rate_usage<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, Infallible> {
    let data = trigger.trigger_data();
    if trigger.new().is_none() {
        raise(report_internal(
            "rating.rate_usage() must be a BEFORE INSERT row trigger".into(),
        ))
    }
    let at = usage_columns::of(data.tg_relation);
    // SAFETY: the trigger's new row, of its relation, lives through this call.
    let row = unsafe { Deformed::new(data.tg_trigtuple, (*data.tg_relation).rd_att) };
    refuse_prerated(&row, &at);
    let input = read(&row, &at);
    // Row-level security would refuse another tenant's account only after
    // this trigger, without naming it; nor may an error of rating tell a
    // tenant about that account first.
    check_account_access(input.account_id);
    let error = match usage::rate(&input, Counting::Record) {
        Ok(rated) => return Ok(Some(write(trigger, row, &at, rated))),
        Err(error) => error,
    };
    if error.is_unratable() && at.status.is_some() && UNRATABLE.get() == Unratable::Hold {
        lock_account_key(input.account_id);
        Ok(Some(hold(trigger, row, &at, error)))
    } else {
        raise(error)
    }
}
