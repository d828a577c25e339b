//! Rating one usage event: account, subscription and tariff from the catalog,
//! then the engine. Shared by the insert trigger and `rating.quote`.

use crate::catalog::{self, CatalogError};
use crate::engine::{Priced, RatingError, Timestamp, UsageEvent};
use crate::numeric::{to_decimal, NumericError};
use pgrx::prelude::*;
use pgrx::AnyNumeric;

/// One would-be usage row, as the sender wrote it.
pub struct UsageInput {
    pub account_id: i64,
    pub service: String,
    pub quantity: AnyNumeric,
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

#[derive(Debug)]
pub enum UsageError {
    NullColumn(&'static str),
    Quantity(NumericError),
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

pub fn rate(input: &UsageInput) -> Result<Rated, UsageError> {
    let quantity = to_decimal(&input.quantity).map_err(UsageError::Quantity)?;
    let occurred_at = Timestamp(pg_sys::TimestampTz::from(input.occurred_at));
    let account = catalog::account(input.account_id)?;
    if let Some(given) = input
        .currency
        .as_ref()
        .filter(|given| **given != account.currency)
    {
        return Err(UsageError::CurrencyMismatch {
            account_id: input.account_id,
            account_currency: account.currency.clone(),
            given: given.clone(),
        });
    }
    let tariff_id = account
        .tariff_at(occurred_at)
        .ok_or(UsageError::NoSubscription {
            account_id: input.account_id,
            occurred_at: input.occurred_at,
        })?;
    let tariff = catalog::tariff(tariff_id)?;
    if tariff.currency.code != account.currency {
        return Err(UsageError::TariffCurrency {
            account_id: input.account_id,
            tariff_id,
            account_currency: account.currency.clone(),
            tariff_currency: tariff.currency.code.clone(),
        });
    }
    let event = UsageEvent {
        service: &input.service,
        destination: input.destination.as_deref(),
        quantity,
        occurred_at,
    };
    let priced = tariff.rate(&event).map_err(|error| UsageError::Rating {
        account_id: input.account_id,
        tariff_id,
        occurred_at: input.occurred_at,
        error,
    })?;
    Ok(Rated {
        tariff_id,
        currency: account.currency.clone(),
        priced,
    })
}
