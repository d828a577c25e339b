//! Rating one usage event: account, subscription and tariff from the catalog,
//! then the engine. Shared by the insert trigger and `rating.quote`.

use crate::catalog::{self, CatalogError};
use crate::counters::{self, Counting};
use crate::engine::{CounterUse, Priced, RatingError, Tariff, Timestamp, UsageEvent};
use crate::numeric::{to_numeric, NumericError};
use pgrx::prelude::*;
use pgrx::AnyNumeric;
use rust_decimal::Decimal;
use std::rc::Rc;

/// One would-be usage row, as the sender wrote it.
pub struct UsageInput {
    pub account_id: i64,
    pub service: String,
    /// The quantity as a Decimal, or why it cannot be one (raised when the
    /// row is rated, after the account's access is checked).
    pub quantity: Result<Decimal, NumericError>,
    pub occurred_at: TimestampWithTimeZone,
    pub destination: Option<String>,
    /// A currency the sender claims for the event; must be the account's.
    pub currency: Option<String>,
}

pub struct Rated {
    pub tariff_id: i64,
    pub currency: String,
    pub priced: Priced,
}

/// A priced event as `quote()` and `reprice()` return it: charge, currency,
/// tariff, rate, billed quantity and breakdown.
pub type RatedColumns = (AnyNumeric, String, i64, i64, AnyNumeric, String);

impl Rated {
    pub fn into_columns(self) -> RatedColumns {
        (
            to_numeric(self.priced.charge),
            self.currency,
            self.tariff_id,
            self.priced.rate_id,
            to_numeric(self.priced.billed_quantity),
            self.priced.breakdown,
        )
    }
}

#[derive(Debug)]
pub enum UsageError {
    NullColumn(&'static str),
    /// The sender filled in what rating fills in (status or charge).
    Prerated,
    Quantity(NumericError),
    /// `infinity` or `-infinity`: no subscription or rate can sensibly be in
    /// force then, and a billing period could never close over it.
    NotFiniteTime(TimestampWithTimeZone),
    Catalog(CatalogError),
    NoSubscription {
        account_id: i64,
        occurred_at: TimestampWithTimeZone,
    },
    CurrencyMismatch {
        account_id: i64,
        account_currency: String,
        given: String,
    },
    TariffCurrency {
        account_id: i64,
        tariff_id: i64,
        account_currency: String,
        tariff_currency: String,
    },
    Rating {
        account_id: i64,
        tariff_id: i64,
        occurred_at: TimestampWithTimeZone,
        error: RatingError,
    },
}

impl From<CatalogError> for UsageError {
    fn from(error: CatalogError) -> Self {
        UsageError::Catalog(error)
    }
}

impl UsageError {
    /// A valid row that the tariffs as they stand cannot price: fixing the
    /// catalog (a subscription, a rate, a tariff) would let it be rated.
    /// Such rows may be held rather than rejected.
    pub fn is_unratable(&self) -> bool {
        match self {
            UsageError::NoSubscription { .. } | UsageError::TariffCurrency { .. } => true,
            UsageError::Rating { error, .. } => {
                matches!(
                    error,
                    RatingError::NoRate { .. } | RatingError::MixedUnits { .. }
                )
            }
            UsageError::Catalog(error) => matches!(
                error,
                CatalogError::UnknownTariff(_) | CatalogError::InvalidTariff { .. }
            ),
            UsageError::NullColumn(_)
            | UsageError::Prerated
            | UsageError::Quantity(_)
            | UsageError::NotFiniteTime(_)
            | UsageError::CurrencyMismatch { .. } => false,
        }
    }
}

/// A function argument that must not be NULL, refused as a NULL usage column would be.
pub fn given<T>(value: Option<T>, name: &'static str) -> T {
    value.unwrap_or_else(|| crate::errors::raise(UsageError::NullColumn(name)))
}

/// The tariff that prices the account's usage at `occurred_at`, with the
/// account's currency (which a sender's `claimed_currency` must equal).
fn tariff_in_force(
    account_id: i64,
    occurred_at: TimestampWithTimeZone,
    claimed_currency: Option<&str>,
) -> Result<(Rc<Tariff>, String), UsageError> {
    if occurred_at.is_infinity() || occurred_at.is_neg_infinity() {
        return Err(UsageError::NotFiniteTime(occurred_at));
    }
    let account = catalog::account(account_id)?;
    if let Some(given) = claimed_currency.filter(|given| *given != account.currency) {
        return Err(UsageError::CurrencyMismatch {
            account_id,
            account_currency: account.currency.clone(),
            given: given.to_string(),
        });
    }
    let tariff_id = account
        .tariff_at(Timestamp(pg_sys::TimestampTz::from(occurred_at)))
        .ok_or(UsageError::NoSubscription {
            account_id,
            occurred_at,
        })?;
    let tariff = catalog::tariff(tariff_id)?;
    if tariff.currency.code != account.currency {
        return Err(UsageError::TariffCurrency {
            account_id,
            tariff_id,
            account_currency: account.currency.clone(),
            tariff_currency: tariff.currency.code.clone(),
        });
    }
    Ok((tariff, account.currency.clone()))
}

/// Prices one usage row; `counting` says whether a rate that counts units
/// per period adds this row's units (an insert) or only reads (a quote).
pub fn rate(input: &UsageInput, counting: Counting) -> Result<Rated, UsageError> {
    rate_counted(input, |used| {
        counters::units_before(input.account_id, used, counting)
    })
}

/// Prices one usage row; where its rate counts units per period, `count`
/// answers how many the period had before it.
pub fn rate_counted(
    input: &UsageInput,
    count: impl FnOnce(&CounterUse) -> Decimal,
) -> Result<Rated, UsageError> {
    let quantity = input.quantity.clone().map_err(UsageError::Quantity)?;
    let (tariff, currency) = tariff_in_force(
        input.account_id,
        input.occurred_at,
        input.currency.as_deref(),
    )?;
    let event = UsageEvent {
        service: &input.service,
        destination: input.destination.as_deref(),
        quantity,
        occurred_at: Timestamp(pg_sys::TimestampTz::from(input.occurred_at)),
    };
    let priced = tariff
        .rate_counted(&event, count)
        .map_err(|error| UsageError::Rating {
            account_id: input.account_id,
            tariff_id: tariff.tariff_id,
            occurred_at: input.occurred_at,
            error,
        })?;
    Ok(Rated {
        tariff_id: tariff.tariff_id,
        currency,
        priced,
    })
}

/// What `budget` buys of a service for the account at `occurred_at`: the
/// largest billed quantity, the rate that prices it, and the currency.
pub fn affordable(
    account_id: i64,
    service: &str,
    destination: Option<&str>,
    occurred_at: TimestampWithTimeZone,
    budget: Decimal,
) -> Result<(Decimal, i64, String), UsageError> {
    let (tariff, currency) = tariff_in_force(account_id, occurred_at, None)?;
    let event = UsageEvent {
        service,
        destination,
        quantity: Decimal::ZERO,
        occurred_at: Timestamp(pg_sys::TimestampTz::from(occurred_at)),
    };
    let (quantity, rate_id) = tariff
        .affordable(&event, budget, |counted| {
            counters::units_before(account_id, counted, Counting::Peek)
        })
        .map_err(|error| UsageError::Rating {
            account_id,
            tariff_id: tariff.tariff_id,
            occurred_at,
            error,
        })?;
    Ok((quantity, rate_id, currency))
}
