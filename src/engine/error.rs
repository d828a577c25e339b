//! The engine's two error kinds: a tariff that must not be compiled, and an
//! event that cannot be priced. The PostgreSQL layer maps each to an SQLSTATE.

use rust_decimal::Decimal;
use std::borrow::Cow;
use std::fmt;

/// The most characters of a sender's text that a message repeats.
const SHOWN_CHARACTERS: usize = 64;

/// A sender's text as a message repeats it: whole if short, otherwise its
/// start and its length, so that a megabyte service name cannot turn an
/// error (or a held row's reason) into a megabyte.
pub fn shown(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(SHOWN_CHARACTERS) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => Cow::Owned(format!(
            "{}... ({} characters)",
            &text[..cut],
            text.chars().count()
        )),
    }
}

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
                write!(f, "no rate for service \"{}\"", shown(service))
            }
            RatingError::NoRate {
                service,
                destination: Some(dest),
            } => {
                write!(
                    f,
                    "no rate for service \"{}\" to destination \"{}\"",
                    shown(service),
                    shown(dest)
                )
            }
            RatingError::ChargeOutOfRange { rate_id } => {
                write!(f, "the charge computed by rate {rate_id} is out of range")
            }
        }
    }
}

impl std::error::Error for RatingError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_shown_by_its_start_and_length() {
        assert_eq!(shown("voice"), "voice");
        let exactly = "x".repeat(SHOWN_CHARACTERS);
        assert_eq!(shown(&exactly), exactly);
        let long = "€".repeat(100_000);
        let expected = format!("{}... (100000 characters)", "€".repeat(SHOWN_CHARACTERS));
        assert_eq!(shown(&long), expected);
        let error = RatingError::NoRate {
            service: "s".repeat(1000),
            destination: Some("4".repeat(70)),
        };
        assert_eq!(
            error.to_string(),
            format!(
                "no rate for service \"{}... (1000 characters)\" to destination \"{}... (70 characters)\"",
                "s".repeat(64),
                "4".repeat(64)
            )
        );
    }
}
