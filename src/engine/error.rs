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
    /// A pricing model name that is not one of [`crate::engine::PricingModel::NAMES`].
    UnknownPricingModel(String),
    /// A cap per event below the minimum per event.
    CapBelowMinimum { maximum: Decimal, minimum: Decimal },
    /// A term the rate's model does not use, set to something other than 1.
    NotUsedByModel {
        field: &'static str,
        model: &'static str,
        value: Decimal,
    },
    /// A duration (quantity_unit 'second') priced by a model other than per_unit.
    SecondsNeedPerUnit { model: &'static str },
    /// A price, fee, minimum or cap on a rate whose tiers carry the prices.
    PricedByTiers {
        field: &'static str,
        model: &'static str,
        value: Decimal,
    },
    /// Tiers that do not run from 0 to an open end without gap or overlap.
    InvalidTiers(String),
    /// Tiers on a rate that is not graduated or volume.
    TiersWithoutTieredModel { model: &'static str },
    /// An allowance drawn on by a model other than per_unit.
    AllowanceNeedsPerUnit { model: &'static str },
    /// A time zone name the IANA database does not know.
    UnknownTimeZone(String),
    /// A row of band hours that cannot be placed in a week.
    InvalidBandHours { band: String, reason: String },
    /// A stretch of a day that no band covers.
    BandGap {
        day: &'static str,
        from: String,
        to: String,
    },
    /// A moment of a day that two bands cover.
    BandOverlap {
        day: &'static str,
        at: String,
        bands: (String, String),
    },
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
                write!(f, "unknown rounding mode \"{}\"", shown(name))
            }
            TariffError::UnknownPricingModel(name) => write!(
                f,
                "unknown pricing model \"{}\" (known: {})",
                shown(name),
                crate::engine::PricingModel::NAMES.join(", ")
            ),
            TariffError::CapBelowMinimum { maximum, minimum } => write!(
                f,
                "maximum_charge {maximum} is below minimum_charge {minimum}"
            ),
            TariffError::NotUsedByModel { field, model, value } => write!(
                f,
                "{field} does not apply to {model} pricing and must be left at 1, not {value}"
            ),
            TariffError::SecondsNeedPerUnit { model } => write!(
                f,
                "quantity_unit second (a duration split at time-band changes) needs per_unit pricing, not {model}"
            ),
            TariffError::PricedByTiers { field, model, value } => write!(
                f,
                "{field} does not apply to {model} pricing, whose tiers carry the prices, and must be 0, not {value}"
            ),
            TariffError::InvalidTiers(reason) => write!(f, "invalid tiers: {reason}"),
            TariffError::TiersWithoutTieredModel { model } => write!(
                f,
                "tiers apply only to graduated and volume pricing, not {model}"
            ),
            TariffError::AllowanceNeedsPerUnit { model } => write!(
                f,
                "an allowance can be drawn on by per_unit pricing only, not {model}"
            ),
            TariffError::UnknownTimeZone(name) => {
                write!(f, "unknown time zone \"{}\"", shown(name))
            }
            TariffError::InvalidBandHours { band, reason } => {
                write!(f, "time band \"{}\": {reason}", shown(band))
            }
            TariffError::BandGap { day, from, to } => {
                write!(f, "no time band covers {day} {from} to {to}")
            }
            TariffError::BandOverlap { day, at, bands } => write!(
                f,
                "time bands \"{}\" and \"{}\" both cover {day} at {at}",
                shown(&bands.0),
                shown(&bands.1)
            ),
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
    /// An instant the time-zone database cannot place (beyond year 262,000).
    BeyondTimeZone(crate::engine::Timestamp),
    /// A duration so long it crosses more band changes than a real call could.
    TooManyBandChanges(Decimal),
    /// A split call whose later part falls to a rate that is not per second.
    MixedUnits {
        rate_id: i64,
        other_rate_id: i64,
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
            RatingError::BeyondTimeZone(at) => write!(
                f,
                "the time {} microseconds after 2000-01-01 is beyond what the time-zone database can place",
                at.0
            ),
            RatingError::TooManyBandChanges(seconds) => write!(
                f,
                "a duration of {seconds} seconds crosses more than {} time-band changes",
                crate::engine::bands::MAX_BAND_CHANGES
            ),
            RatingError::MixedUnits { rate_id, other_rate_id } => write!(
                f,
                "a call priced per second by rate {rate_id} continues into a band priced by rate {other_rate_id}, which is not per second"
            ),
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
