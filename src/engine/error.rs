//! The engine's two error kinds: a tariff that must not be compiled, and an
//! event that cannot be priced. The PostgreSQL layer maps each to an SQLSTATE.

use rust_decimal::Decimal;
use std::fmt;

/// A rate or tariff definition that the engine refuses to compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TariffError {
    /// A field that must be strictly positive (an increment, `per_quantity`).
    NotPositive { field: &'static str, value: Decimal },
    /// A price or fee that must not be negative.
    Negative { field: &'static str, value: Decimal },
    /// A rate whose effective period ends at or before it starts.
    EmptyPeriod { rate_id: i64 },
    /// Two versions of one (service, destination prefix) in force at once.
    OverlappingVersions { rate_id: i64, other_rate_id: i64 },
    /// A rounding mode name that is not one of [`crate::engine::RoundingMode::NAMES`].
    UnknownRoundingMode(String),
}

impl fmt::Display for TariffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TariffError::NotPositive { field, value } => {
                write!(f, "{field} must be greater than zero, not {value}")
            }
            TariffError::Negative { field, value } => {
                write!(f, "{field} must not be negative, not {value}")
            }
            TariffError::EmptyPeriod { rate_id } => {
                write!(f, "rate {rate_id} has an empty effective period")
            }
            TariffError::OverlappingVersions { rate_id, other_rate_id } => write!(
                f,
                "rates {rate_id} and {other_rate_id} price the same service and destination in overlapping periods"
            ),
            TariffError::UnknownRoundingMode(name) => {
                write!(f, "unknown rounding mode \"{name}\"")
            }
        }
    }
}

impl std::error::Error for TariffError {}

/// A usage event that this tariff cannot price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RatingError {
    NegativeQuantity(Decimal),
    QuantityTooLarge(Decimal),
    /// No rate for the service (and destination) is in force at the event's time.
    NoRate {
        service: String,
        destination: Option<String>,
    },
    /// The arithmetic left rust_decimal's range: a rate with absurd terms.
    ChargeOutOfRange {
        rate_id: i64,
    },
}

impl fmt::Display for RatingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RatingError::NegativeQuantity(q) => write!(f, "quantity {q} is negative"),
            RatingError::QuantityTooLarge(q) => write!(
                f,
                "quantity {q} exceeds the largest quantity one event may carry ({})",
                crate::engine::MAX_QUANTITY
            ),
            RatingError::NoRate {
                service,
                destination: None,
            } => {
                write!(f, "no rate for service \"{service}\"")
            }
            RatingError::NoRate {
                service,
                destination: Some(dest),
            } => {
                write!(
                    f,
                    "no rate for service \"{service}\" to destination \"{dest}\""
                )
            }
            RatingError::ChargeOutOfRange { rate_id } => {
                write!(f, "the charge computed by rate {rate_id} is out of range")
            }
        }
    }
}

impl std::error::Error for RatingError {}
