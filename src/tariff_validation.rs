//! Write-time checks that span rows of the price list: a tariff's time zone
//! (BEFORE INSERT OR UPDATE on `rating.tariffs`), a tariff's whole weekly
//! schedule of time bands and a rate's tiers (constraint triggers deferred to
//! commit, since both are written row by row and have gaps until the last
//! row is in).

use crate::catalog::{self, TiersVerdict};
use crate::engine::calendar::zone;
use crate::errors::{invalid_rate, invalid_time_bands, raise, report_internal};
use pgrx::prelude::*;
use std::convert::Infallible;

fn tariff_id(row: &PgHeapTuple<'_, AllocatedByPostgres>) -> Option<i64> {
    row.get_by_name::<i64>("tariff_id")
        .unwrap_or_else(|e| raise(report_internal(format!("tariff_id: {e}"))))
}

#[pg_trigger]
fn validate_tariff<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, Infallible> {
    let Some(row) = trigger.new() else {
        raise(report_internal(
            "rating.validate_tariff() must be a BEFORE INSERT OR UPDATE row trigger".into(),
        ))
    };
    let zone_name = row
        .get_by_name::<String>("time_zone")
        .unwrap_or_else(|e| raise(report_internal(format!("tariffs.time_zone: {e}"))));
    // A NULL is left for the NOT NULL constraint to report.
    if let Some(error) = zone_name.and_then(|name| zone(&name).err()) {
        raise(invalid_time_bands(
            tariff_id(&row).unwrap_or_default(),
            error,
        ));
    }
    Ok(Some(row))
}

#[pg_trigger]
fn check_time_bands<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, Infallible> {
    let row = trigger.new().or_else(|| trigger.old()).unwrap_or_else(|| {
        raise(report_internal(
            "rating.check_time_bands() must be a row trigger".into(),
        ))
    });
    if let Some(tariff_id) = tariff_id(&row) {
        match catalog::time_bands(tariff_id) {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => raise(invalid_time_bands(tariff_id, error)),
            Err(error) => raise(error),
        }
    }
    Ok(None)
}

#[pg_trigger]
fn check_rate_tiers<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, Infallible> {
    let row = trigger.new().or_else(|| trigger.old()).unwrap_or_else(|| {
        raise(report_internal(
            "rating.check_rate_tiers() must be a row trigger".into(),
        ))
    });
    let rate_id = row
        .get_by_name::<i64>("rate_id")
        .unwrap_or_else(|e| raise(report_internal(format!("rate_id: {e}"))));
    if let Some(rate_id) = rate_id {
        match catalog::rate_tiers_verdict(rate_id) {
            Ok(Some(TiersVerdict {
                tariff_id,
                service,
                prefix,
                verdict: Err(error),
            })) => raise(invalid_rate(error, tariff_id, &service, &prefix)),
            Ok(_) => {}
            Err(error) => raise(error),
        }
    }
    Ok(None)
}
