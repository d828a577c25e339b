//! BEFORE INSERT OR UPDATE row trigger on `rating.rates`: the engine's own
//! validation, so an invalid rate never reaches the rating path.

use crate::engine::RateTerms;
use crate::errors::{invalid_rate, numeric, raise, report_internal};
use crate::numeric::to_decimal;
use pgrx::prelude::*;
use pgrx::AnyNumeric;
use rust_decimal::Decimal;
use std::convert::Infallible;

const TERMS: [&str; 6] = [
    "price",
    "per_quantity",
    "first_increment",
    "next_increment",
    "connect_fee",
    "minimum_charge",
];

fn text(row: &PgHeapTuple<'_, AllocatedByPostgres>, name: &str) -> String {
    row.get_by_name::<String>(name)
        .unwrap_or_else(|e| raise(report_internal(format!("rates.{name}: {e}"))))
        .unwrap_or_default()
}

#[pg_trigger]
fn validate_rate<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, Infallible> {
    let Some(row) = trigger.new() else {
        raise(report_internal(
            "rating.validate_rate() must be a BEFORE INSERT OR UPDATE row trigger".into(),
        ))
    };
    let mut values = [Decimal::ZERO; 6];
    for (value, name) in values.iter_mut().zip(TERMS) {
        let cell = row
            .get_by_name::<AnyNumeric>(name)
            .unwrap_or_else(|e| raise(report_internal(format!("rates.{name}: {e}"))));
        // A NULL is left for the NOT NULL constraint to report.
        let Some(cell) = cell else {
            return Ok(Some(row));
        };
        *value = to_decimal(&cell).unwrap_or_else(|e| raise(numeric(name, &e)));
    }
    let [price, per_quantity, first_increment, next_increment, connect_fee, minimum_charge] =
        values;
    let terms = RateTerms {
        price,
        per_quantity,
        first_increment,
        next_increment,
        connect_fee,
        minimum_charge,
    };
    if let Err(error) = terms.validate() {
        let tariff_id = row
            .get_by_name::<i64>("tariff_id")
            .ok()
            .flatten()
            .unwrap_or_default();
        raise(invalid_rate(
            error,
            tariff_id,
            &text(&row, "service"),
            &text(&row, "destination_prefix"),
        ));
    }
    Ok(Some(row))
}
