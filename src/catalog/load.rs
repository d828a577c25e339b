//! Reads one account or one tariff through SPI and builds engine structures.

use super::rows::rows;
use super::{AccountPlan, CatalogError, RoleTenants};
use crate::deformed::Deformed;
use crate::engine::bands::{BandHours, TimeBands};
use crate::engine::calendar::zone;
use crate::engine::tiers::Tier;
use crate::engine::{
    Allowance, Currency, Period, PricingModel, Rate, RateTerms, RoundingMode, Tariff, TariffError,
    Timestamp,
};
use crate::index_scan::rating_relation;
use crate::numeric::NumericAsDecimal;
use crate::plans::{kept, INT8};
use chrono::NaiveDate;
use pgrx::datum::{FromDatum, IntoDatum};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::str::FromStr;

const LOAD_ACCOUNT: &str = include_str!("../../sql/queries/load_account.sql");
const LOAD_TARIFF: &str = include_str!("../../sql/queries/load_tariff.sql");
const LOAD_RATES: &str = include_str!("../../sql/queries/load_rates.sql");
const LOAD_RATES_BEFORE_0_3: &str = include_str!("../../sql/queries/load_rates_before_0_3.sql");
const LOAD_BAND_HOURS: &str = include_str!("../../sql/queries/load_band_hours.sql");
const LOAD_HOLIDAYS: &str = include_str!("../../sql/queries/load_holidays.sql");
const LOAD_RATE_TIERS: &str = include_str!("../../sql/queries/load_rate_tiers.sql");
const LOAD_ALLOWANCES: &str = include_str!("../../sql/queries/load_allowances.sql");
const RATE_WITH_TIERS: &str = include_str!("../../sql/queries/rate_with_tiers.sql");

fn optional<T: FromDatum + IntoDatum>(
    row: &Deformed,
    column: usize,
) -> Result<Option<T>, CatalogError> {
    row.get::<T>(column)
        .map_err(|error| CatalogError::Internal(format!("column {column}: {error}")))
}

fn required<T: FromDatum + IntoDatum>(row: &Deformed, column: usize) -> Result<T, CatalogError> {
    optional(row, column)?.ok_or_else(|| CatalogError::Internal(format!("column {column} is NULL")))
}

fn timestamp(value: TimestampWithTimeZone) -> Timestamp {
    Timestamp(pg_sys::TimestampTz::from(value))
}

fn period(row: &Deformed, from: usize, to: usize) -> Result<Period, CatalogError> {
    let from = timestamp(required(row, from)?);
    let to = optional::<TimestampWithTimeZone>(row, to)?.map(timestamp);
    Ok(Period::new(from, to))
}

fn optional_decimal(row: &Deformed, column: usize) -> Result<Option<Decimal>, CatalogError> {
    optional::<NumericAsDecimal>(row, column)?
        .map(|NumericAsDecimal(value)| {
            value.map_err(|e| CatalogError::Internal(format!("column {column}: {e:?}")))
        })
        .transpose()
}

fn decimal(row: &Deformed, column: usize) -> Result<Decimal, CatalogError> {
    optional_decimal(row, column)?
        .ok_or_else(|| CatalogError::Internal(format!("column {column} is NULL")))
}

pub fn account(account_id: i64) -> Result<AccountPlan, CatalogError> {
    Spi::connect(|client| {
        let found = client.select(
            &*kept(client, LOAD_ACCOUNT, &[INT8], false)?,
            None,
            &[account_id.into()],
        )?;
        let mut holder = None;
        let mut subscriptions = Vec::new();
        for row in rows(found)? {
            holder = Some((
                required::<String>(&row, 1)?,
                optional::<String>(&row, 5)?,
                required::<bool>(&row, 6)?,
            ));
            if let Some(tariff_id) = optional::<i64>(&row, 2)? {
                subscriptions.push((period(&row, 3, 4)?, tariff_id));
            }
        }
        let (currency, tenant_id, has_spending_floor) =
            holder.ok_or(CatalogError::UnknownAccount(account_id))?;
        Ok(AccountPlan {
            currency,
            tenant_id,
            has_spending_floor,
            subscriptions,
        })
    })
}

/// Which tenants the session's role acts for (SECURITY DEFINER functions
/// see it through GetOuterUserId, as this function does).
pub fn role_tenants() -> Result<RoleTenants, CatalogError> {
    // Before 0.2.0 there were no tenants (a new library, the old schema).
    if rating_relation(c"tenants").is_none() {
        return Ok(RoleTenants {
            restricted_to: None,
        });
    }
    let restricted_to = Spi::get_one::<Vec<String>>("SELECT rating.restricted_tenants()")?;
    Ok(RoleTenants { restricted_to })
}

pub fn tariff(tariff_id: i64) -> Result<Tariff, CatalogError> {
    Spi::connect(|client| {
        let header = client.select(
            &*kept(client, LOAD_TARIFF, &[INT8], false)?,
            Some(1),
            &[tariff_id.into()],
        )?;
        let row = rows(header)?
            .next()
            .ok_or(CatalogError::UnknownTariff(tariff_id))?;
        let currency = Currency {
            code: required(&row, 1)?,
            minor_units: required::<i32>(&row, 2)?.unsigned_abs(),
        };
        let mode_name: String = required(&row, 3)?;
        let zone_name: String = required(&row, 4)?;
        let has_tables_of_0_3: bool = required(&row, 5)?;
        let invalid = |error| CatalogError::InvalidTariff { tariff_id, error };
        let rounding = RoundingMode::from_str(&mode_name)
            .map_err(|name| invalid(TariffError::UnknownRoundingMode(name)))?;

        let zone = zone(&zone_name).map_err(invalid)?;
        let (mut tiers, allowances) = if has_tables_of_0_3 {
            (
                rate_tiers(client, tariff_id)?,
                allowances(client, tariff_id)?,
            )
        } else {
            Default::default()
        };
        // Read columns directly, not through a row-to-jsonb step that would
        // tolerate missing ones: that step cost most of a 20,000-rate load.
        let load_rates = if has_tables_of_0_3 {
            LOAD_RATES
        } else {
            LOAD_RATES_BEFORE_0_3
        };
        let mut rates = Vec::new();
        for row in rows(client.select(
            &*kept(client, load_rates, &[INT8], false)?,
            None,
            &[tariff_id.into()],
        )?)? {
            let rate_id: i64 = required(&row, 1)?;
            let allowance = optional::<String>(&row, 16)?
                .map(|name| {
                    let units = allowances.get(&name).copied().ok_or_else(|| {
                        CatalogError::Internal(format!("rate {rate_id} names allowance {name}"))
                    })?;
                    Ok::<_, CatalogError>(Allowance { name, units })
                })
                .transpose()?;
            let model_name: String = required(&row, 12)?;
            let model = PricingModel::from_str(&model_name)
                .map_err(|name| invalid(TariffError::UnknownPricingModel(name)))?;
            rates.push(Rate {
                rate_id,
                service: required(&row, 2)?,
                destination_prefix: required(&row, 3)?,
                period: period(&row, 4, 5)?,
                band: optional(&row, 14)?,
                terms: RateTerms {
                    model,
                    price: decimal(&row, 6)?,
                    per_quantity: decimal(&row, 7)?,
                    first_increment: decimal(&row, 8)?,
                    next_increment: decimal(&row, 9)?,
                    connect_fee: decimal(&row, 10)?,
                    minimum_charge: decimal(&row, 11)?,
                    maximum_charge: optional_decimal(&row, 13)?,
                    in_seconds: required::<String>(&row, 15)? == "second",
                    tiers: tiers.remove(&rate_id).unwrap_or_default(),
                    allowance,
                },
            });
        }
        let bands = if has_tables_of_0_3 {
            time_bands_with(client, tariff_id, &zone_name)?.map_err(invalid)?
        } else {
            None
        };
        Tariff::compile(tariff_id, currency, rounding, zone, rates, bands).map_err(invalid)
    })
}

fn tier(row: &Deformed, from: usize) -> Result<Tier, CatalogError> {
    Ok(Tier {
        from: decimal(row, from)?,
        to: optional_decimal(row, from + 1)?,
        price: decimal(row, from + 2)?,
    })
}

/// The tiers of each of a tariff's rates that has any.
fn rate_tiers(
    client: &SpiClient<'_>,
    tariff_id: i64,
) -> Result<HashMap<i64, Vec<Tier>>, CatalogError> {
    let mut tiers: HashMap<i64, Vec<Tier>> = HashMap::new();
    for row in rows(client.select(
        &*kept(client, LOAD_RATE_TIERS, &[INT8], false)?,
        None,
        &[tariff_id.into()],
    )?)? {
        tiers
            .entry(required(&row, 1)?)
            .or_default()
            .push(tier(&row, 2)?);
    }
    Ok(tiers)
}

fn allowances(
    client: &SpiClient<'_>,
    tariff_id: i64,
) -> Result<HashMap<String, Decimal>, CatalogError> {
    let mut allowances = HashMap::new();
    for row in rows(client.select(
        &*kept(client, LOAD_ALLOWANCES, &[INT8], false)?,
        None,
        &[tariff_id.into()],
    )?)? {
        allowances.insert(required(&row, 1)?, decimal(&row, 2)?);
    }
    Ok(allowances)
}

/// What checking a rate's tiers found, with what names the rate.
pub struct TiersVerdict {
    pub tariff_id: i64,
    pub service: String,
    pub prefix: String,
    pub verdict: Result<(), TariffError>,
}

/// A rate's tiers as stored now, checked against its model: for the deferred
/// check of rating.rate_tiers. `None` if the rate is gone.
pub fn rate_tiers_verdict(rate_id: i64) -> Result<Option<TiersVerdict>, CatalogError> {
    Spi::connect(|client| {
        let mut found = None;
        let mut tiers = Vec::new();
        for row in rows(client.select(
            &*kept(client, RATE_WITH_TIERS, &[INT8], false)?,
            None,
            &[rate_id.into()],
        )?)? {
            let model: String = required(&row, 4)?;
            found = Some((
                required(&row, 1)?,
                required(&row, 2)?,
                required(&row, 3)?,
                model,
            ));
            if optional_decimal(&row, 5)?.is_some() {
                tiers.push(tier(&row, 5)?);
            }
        }
        Ok(found.map(|(tariff_id, service, prefix, model)| {
            let verdict = PricingModel::from_str(&model)
                .map_err(TariffError::UnknownPricingModel)
                .and_then(|model| {
                    let mut terms = RateTerms {
                        model,
                        tiers,
                        ..RateTerms::per_unit(
                            Decimal::ZERO,
                            Decimal::ONE,
                            Decimal::ONE,
                            Decimal::ONE,
                        )
                    };
                    if !model.is_tiered() && !terms.tiers.is_empty() {
                        return Err(TariffError::TiersWithoutTieredModel {
                            model: model.name(),
                        });
                    }
                    terms.validate_tiers()
                });
            TiersVerdict {
                tariff_id,
                service,
                prefix,
                verdict,
            }
        }))
    })
}

/// A tariff's time bands, compiled and checked: for the deferred check of
/// rating.time_band_hours, which must refuse a schedule with a gap.
pub fn time_bands(tariff_id: i64) -> Result<Result<Option<TimeBands>, TariffError>, CatalogError> {
    Spi::connect(|client| {
        let header = client.select(
            &*kept(client, LOAD_TARIFF, &[INT8], false)?,
            Some(1),
            &[tariff_id.into()],
        )?;
        let Some(row) = rows(header)?.next() else {
            // The tariff is gone, and its bands with it.
            return Ok(Ok(None));
        };
        let zone_name: String = required(&row, 4)?;
        time_bands_with(client, tariff_id, &zone_name)
    })
}

/// The outer error is SPI failing; the inner, a schedule the engine refuses.
fn time_bands_with(
    client: &SpiClient<'_>,
    tariff_id: i64,
    zone_name: &str,
) -> Result<Result<Option<TimeBands>, TariffError>, CatalogError> {
    let mut declared = Vec::new();
    let mut hours = Vec::new();
    for row in rows(client.select(
        &*kept(client, LOAD_BAND_HOURS, &[INT8], false)?,
        None,
        &[tariff_id.into()],
    )?)? {
        let band: String = required(&row, 1)?;
        if let Some(days) = optional::<String>(&row, 2)? {
            hours.push(BandHours {
                band: band.clone(),
                days: days.split(',').filter_map(|day| day.parse().ok()).collect(),
                starts: required::<i32>(&row, 3)?.unsigned_abs(),
                ends: required::<i32>(&row, 4)?.unsigned_abs(),
            });
        }
        if !declared.contains(&band) {
            declared.push(band);
        }
    }
    let mut holidays = Vec::new();
    for row in rows(client.select(
        &*kept(client, LOAD_HOLIDAYS, &[INT8], false)?,
        None,
        &[tariff_id.into()],
    )?)? {
        let date: String = required(&row, 1)?;
        let date = NaiveDate::parse_from_str(&date, "%Y-%m-%d")
            .map_err(|e| CatalogError::Internal(format!("holiday {date}: {e}")))?;
        holidays.push((date, required(&row, 2)?));
    }
    Ok(TimeBands::compile(zone_name, declared, hours, holidays))
}
