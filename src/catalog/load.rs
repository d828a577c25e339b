//! Reads one account or one tariff through SPI and builds engine structures.

use super::{AccountPlan, CatalogError};
use crate::engine::{
    Currency, Period, Rate, RateTerms, RoundingMode, Tariff, TariffError, Timestamp,
};
use crate::numeric::to_decimal;
use pgrx::datum::{FromDatum, IntoDatum};
use pgrx::prelude::*;
use pgrx::spi::SpiHeapTupleData;
use pgrx::AnyNumeric;
use rust_decimal::Decimal;
use std::str::FromStr;

const LOAD_ACCOUNT: &str = include_str!("../../sql/queries/load_account.sql");
const LOAD_TARIFF: &str = include_str!("../../sql/queries/load_tariff.sql");
const LOAD_RATES: &str = include_str!("../../sql/queries/load_rates.sql");

fn optional<T: FromDatum + IntoDatum>(
    row: &SpiHeapTupleData,
    column: usize,
) -> Result<Option<T>, CatalogError> {
    Ok(row.get::<T>(column)?)
}

fn required<T: FromDatum + IntoDatum>(
    row: &SpiHeapTupleData,
    column: usize,
) -> Result<T, CatalogError> {
    optional(row, column)?.ok_or_else(|| CatalogError::Internal(format!("column {column} is NULL")))
}

fn timestamp(value: TimestampWithTimeZone) -> Timestamp {
    Timestamp(pg_sys::TimestampTz::from(value))
}

fn period(row: &SpiHeapTupleData, from: usize, to: usize) -> Result<Period, CatalogError> {
    let from = timestamp(required(row, from)?);
    let to = optional::<TimestampWithTimeZone>(row, to)?.map(timestamp);
    Ok(Period::new(from, to))
}

fn decimal(row: &SpiHeapTupleData, column: usize) -> Result<Decimal, CatalogError> {
    let value: AnyNumeric = required(row, column)?;
    to_decimal(&value).map_err(|e| CatalogError::Internal(format!("column {column}: {e:?}")))
}

pub fn account(account_id: i64) -> Result<AccountPlan, CatalogError> {
    Spi::connect(|client| {
        let rows = client.select(LOAD_ACCOUNT, None, &[account_id.into()])?;
        let mut currency = None;
        let mut subscriptions = Vec::new();
        for row in rows {
            currency = Some(required::<String>(&row, 1)?);
            if let Some(tariff_id) = optional::<i64>(&row, 2)? {
                subscriptions.push((period(&row, 3, 4)?, tariff_id));
            }
        }
        let currency = currency.ok_or(CatalogError::UnknownAccount(account_id))?;
        Ok(AccountPlan {
            currency,
            subscriptions,
        })
    })
}

pub fn tariff(tariff_id: i64) -> Result<Tariff, CatalogError> {
    Spi::connect(|client| {
        let header = client.select(LOAD_TARIFF, Some(1), &[tariff_id.into()])?;
        let row = header
            .into_iter()
            .next()
            .ok_or(CatalogError::UnknownTariff(tariff_id))?;
        let currency = Currency {
            code: required(&row, 1)?,
            minor_units: required::<i32>(&row, 2)?.unsigned_abs(),
        };
        let mode_name: String = required(&row, 3)?;
        let invalid = |error| CatalogError::InvalidTariff { tariff_id, error };
        let rounding = RoundingMode::from_str(&mode_name)
            .map_err(|name| invalid(TariffError::UnknownRoundingMode(name)))?;

        let mut rates = Vec::new();
        for row in client.select(LOAD_RATES, None, &[tariff_id.into()])? {
            rates.push(Rate {
                rate_id: required(&row, 1)?,
                service: required(&row, 2)?,
                destination_prefix: required(&row, 3)?,
                period: period(&row, 4, 5)?,
                terms: RateTerms {
                    price: decimal(&row, 6)?,
                    per_quantity: decimal(&row, 7)?,
                    first_increment: decimal(&row, 8)?,
                    next_increment: decimal(&row, 9)?,
                    connect_fee: decimal(&row, 10)?,
                    minimum_charge: decimal(&row, 11)?,
                },
            });
        }
        Tariff::compile(tariff_id, currency, rounding, rates).map_err(invalid)
    })
}
