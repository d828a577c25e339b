//! BEFORE INSERT OR UPDATE row trigger on `rating.rates`: the engine's own
//! validation, so an invalid rate never reaches the rating path.

use crate::engine::{Allowance, PricingModel, RateTerms, TariffError};
use crate::errors::{invalid_rate, numeric, raise, report_internal};
use crate::numeric::to_decimal;
use pgrx::datum::{FromDatum, IntoDatum, TryFromDatumError, UnboxDatum};
use pgrx::prelude::*;
use pgrx::AnyNumeric;
use rust_decimal::Decimal;
use std::convert::Infallible;
use std::str::FromStr;

const TERMS: [&str; 6] = [
    "price",
    "per_quantity",
    "first_increment",
    "next_increment",
    "connect_fee",
    "minimum_charge",
];

/// A column's value; `absent` where the table predates the column (between
/// installing this library and ALTER EXTENSION pg_rating UPDATE).
fn column<'t, T>(
    row: &'t PgHeapTuple<'_, AllocatedByPostgres>,
    name: &str,
    absent: Option<T>,
) -> Option<T>
where
    T: FromDatum + IntoDatum + UnboxDatum<As<'t> = T> + 't,
{
    match row.get_by_name::<T>(name) {
        Ok(value) => value,
        Err(TryFromDatumError::NoSuchAttributeName(_)) => absent,
        Err(e) => raise(report_internal(format!("rates.{name}: {e}"))),
    }
}

fn text(row: &PgHeapTuple<'_, AllocatedByPostgres>, name: &str) -> Option<String> {
    column(row, name, None)
}

fn decimal(row: &PgHeapTuple<'_, AllocatedByPostgres>, name: &str) -> Option<Decimal> {
    column::<AnyNumeric>(row, name, None)
        .map(|cell| to_decimal(&cell).unwrap_or_else(|e| raise(numeric(name, &e))))
}

/// The rate's terms, or `None` if a required one is NULL: that is left for
/// the NOT NULL constraint to report.
fn terms(row: &PgHeapTuple<'_, AllocatedByPostgres>) -> Result<Option<RateTerms>, TariffError> {
    let Some(model) = column(row, "pricing_model", Some("per_unit".to_string())) else {
        return Ok(None);
    };
    let model = PricingModel::from_str(&model).map_err(TariffError::UnknownPricingModel)?;
    let mut values = [Decimal::ZERO; 6];
    for (value, name) in values.iter_mut().zip(TERMS) {
        let Some(cell) = decimal(row, name) else {
            return Ok(None);
        };
        *value = cell;
    }
    let [price, per_quantity, first_increment, next_increment, connect_fee, minimum_charge] =
        values;
    Ok(Some(RateTerms {
        model,
        price,
        per_quantity,
        first_increment,
        next_increment,
        connect_fee,
        minimum_charge,
        maximum_charge: decimal(row, "maximum_charge"),
        in_seconds: text(row, "quantity_unit").as_deref() == Some("second"),
        tiers: Vec::new(),
        // Only whether the rate draws on an allowance matters here; its units
        // are the allowance's own row's.
        allowance: text(row, "allowance").map(|name| Allowance {
            name,
            units: Decimal::ONE,
        }),
    }))
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
    let verdict = terms(&row).and_then(|terms| terms.map_or(Ok(()), |terms| terms.validate()));
    if let Err(error) = verdict {
        let tariff_id = row
            .get_by_name::<i64>("tariff_id")
            .ok()
            .flatten()
            .unwrap_or_default();
        raise(invalid_rate(
            error,
            tariff_id,
            &text(&row, "service").unwrap_or_default(),
            &text(&row, "destination_prefix").unwrap_or_default(),
        ));
    }
    Ok(Some(row))
}
