//! The rating math. Plain Rust: no pgrx types, no SQL, no I/O.
//!
//! A [`Tariff`] is compiled once from validated [`Rate`]s and then prices
//! [`UsageEvent`]s: it picks the rate (service, longest destination prefix,
//! effective period) and applies the rate's [`RateTerms`] (its [`PricingModel`],
//! increments, connect fee, minimum, cap, currency rounding). Every failure is a typed error that the
//! PostgreSQL layer maps to an SQLSTATE. [`ledger`] holds the rules every
//! ledger entry must keep, which the ledger's CHECK constraint applies, and
//! [`usage_row`] the rules of a usage row, which usage's applies.

pub mod bands;
pub mod calendar;
mod decimal_text;
mod error;
pub mod ledger;
mod model;
mod money;
mod prefixes;
mod pricing;
#[cfg(test)]
mod properties;
mod tariff;
pub mod tiers;
mod time;
pub mod usage_row;

pub use error::{shown, RatingError, TariffError};
pub use model::PricingModel;
pub use money::{Currency, RoundingMode};
pub use pricing::{Allowance, Priced, RateTerms, SplitPart, MAX_QUANTITY};
pub use tariff::{CounterUse, Rate, Tariff, UsageEvent};
pub use time::{Period, Timestamp};
