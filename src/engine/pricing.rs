//! Pricing one event under a rate's terms.
//!
//! The billed quantity and the usage amount depend on the rate's model:
//!
//! | model        | billed quantity                                  | usage amount                    |
//! |--------------|--------------------------------------------------|---------------------------------|
//! | `per_unit`   | `first_increment`, then whole `next_increment`s  | billed x price / per_quantity   |
//! | `package`    | whole started blocks of `per_quantity`           | billed x price / per_quantity   |
//! | `flat`       | the quantity                                     | price                           |
//! | `percentage` | the quantity (an amount of money)                | billed x price / 100            |
//!
//! The event's charge is
//!
//! ```text
//! min(max(connect_fee + usage amount, minimum_charge), maximum_charge)
//! ```
//!
//! computed exactly in decimal (28 significant digits) and rounded **once**,
//! at the end, to the currency's minor unit with the tariff's rounding mode.
//! A zero quantity (an unanswered call) is charged nothing at all.

use super::decimal_text::{exact, trimmed};
use super::tiers::{self, Tier};
use super::{Currency, PricingModel, RatingError, RoundingMode, TariffError};
use rust_decimal::Decimal;
use std::fmt::{self, Write};

/// Room for a usual breakdown, so that writing one allocates once.
const BREAKDOWN_CAPACITY: usize = 192;

/// How a breakdown names the rate: "rate 5", or "rate 5 (peak)" for a rate
/// of a time band; written straight into the breakdown.
fn label(rate_id: i64, band: Option<&str>) -> impl fmt::Display + '_ {
    fmt::from_fn(move |f| match band {
        Some(band) => write!(f, "rate {rate_id} ({band})"),
        None => write!(f, "rate {rate_id}"),
    })
}

/// The largest quantity one event may carry: beyond any real meter reading,
/// and far enough inside rust_decimal's range that pricing cannot overflow
/// for any sane rate.
pub const MAX_QUANTITY: Decimal = Decimal::from_parts(0xA4C6_8000, 0x38D7E, 0, false, 0); // 1e15

/// What a rate charges; validated by [`RateTerms::validate`] before use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateTerms {
    pub model: PricingModel,
    /// Per `per_quantity` billed units (0.10 per 60 seconds), per package,
    /// per event, or a percentage, as the model says.
    pub price: Decimal,
    pub per_quantity: Decimal,
    pub first_increment: Decimal,
    pub next_increment: Decimal,
    pub connect_fee: Decimal,
    pub minimum_charge: Decimal,
    /// The most one event may cost, connect fee included; `None`: no cap.
    pub maximum_charge: Option<Decimal>,
    /// The quantity is a duration in seconds from the event's start
    /// (quantity_unit 'second'): in a tariff with time bands, an event that
    /// crosses a band change is split there.
    pub in_seconds: bool,
    /// The tiers of a graduated or volume rate, in order; empty otherwise.
    pub tiers: Vec<Tier>,
    /// The bundle a per-unit rate draws on before its units are paid for.
    pub allowance: Option<Allowance>,
}

/// Units included free per billing period (a bundle: "100 minutes"), drawn
/// on by the rates that name it before any of their units are paid for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    pub name: String,
    pub units: Decimal,
}

/// One part of an event split at time-band changes, and the rate of its band.
#[derive(Debug, Clone)]
pub struct SplitPart<'a> {
    pub rate_id: i64,
    pub band: &'a str,
    pub terms: &'a RateTerms,
    pub seconds: Decimal,
}

/// The result of pricing one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    pub rate_id: i64,
    /// The quantity after increments: what the customer pays for.
    pub billed_quantity: Decimal,
    /// Rounded to the currency's minor unit, never negative.
    pub charge: Decimal,
    /// One line a customer-care agent can read out.
    pub breakdown: String,
}

const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

impl RateTerms {
    /// Per-unit terms with no fee, minimum or cap: the common case, and a
    /// starting point for the others (`..RateTerms::per_unit(...)`).
    pub fn per_unit(price: Decimal, per_quantity: Decimal, first: Decimal, next: Decimal) -> Self {
        RateTerms {
            model: PricingModel::PerUnit,
            price,
            per_quantity,
            first_increment: first,
            next_increment: next,
            connect_fee: Decimal::ZERO,
            minimum_charge: Decimal::ZERO,
            maximum_charge: None,
            in_seconds: false,
            tiers: Vec::new(),
            allowance: None,
        }
    }

    pub fn validate(&self) -> Result<(), TariffError> {
        let positive = [
            ("per_quantity", self.per_quantity),
            ("first_increment", self.first_increment),
            ("next_increment", self.next_increment),
        ];
        for (field, value) in positive {
            if value <= Decimal::ZERO {
                return Err(TariffError::NotPositive { field, value });
            }
        }
        let non_negative = [
            ("price", self.price),
            ("connect_fee", self.connect_fee),
            ("minimum_charge", self.minimum_charge),
        ];
        for (field, value) in non_negative {
            if value < Decimal::ZERO {
                return Err(TariffError::Negative { field, value });
            }
        }
        if let Some(maximum) = self.maximum_charge {
            if maximum < self.minimum_charge {
                return Err(TariffError::CapBelowMinimum {
                    maximum,
                    minimum: self.minimum_charge,
                });
            }
        }
        if self.model.is_tiered() {
            let priced_elsewhere = [
                ("price", self.price),
                ("connect_fee", self.connect_fee),
                ("minimum_charge", self.minimum_charge),
                ("maximum_charge", self.maximum_charge.unwrap_or_default()),
            ];
            for (field, value) in priced_elsewhere {
                if !value.is_zero() {
                    return Err(TariffError::PricedByTiers {
                        field,
                        model: self.model.name(),
                        value,
                    });
                }
            }
        } else if !self.tiers.is_empty() {
            return Err(TariffError::TiersWithoutTieredModel {
                model: self.model.name(),
            });
        }
        if self.allowance.is_some() && self.model != PricingModel::PerUnit {
            return Err(TariffError::AllowanceNeedsPerUnit {
                model: self.model.name(),
            });
        }
        if self.in_seconds && self.model != PricingModel::PerUnit {
            return Err(TariffError::SecondsNeedPerUnit {
                model: self.model.name(),
            });
        }
        let unused = [
            (
                "first_increment",
                self.first_increment,
                self.model.uses_increments(),
            ),
            (
                "next_increment",
                self.next_increment,
                self.model.uses_increments(),
            ),
            (
                "per_quantity",
                self.per_quantity,
                self.model.uses_per_quantity(),
            ),
        ];
        for (field, value, used) in unused {
            if !used && value != Decimal::ONE {
                return Err(TariffError::NotUsedByModel {
                    field,
                    model: self.model.name(),
                    value,
                });
            }
        }
        Ok(())
    }

    /// The tiers of a graduated or volume rate, checked and put in order
    /// (they are rows of their own, so [`RateTerms::validate`] cannot see them).
    pub fn validate_tiers(&mut self) -> Result<(), TariffError> {
        if self.model.is_tiered() {
            tiers::validate(&mut self.tiers)?;
        }
        Ok(())
    }

    /// The first increment and the step after it: a package is billed in
    /// whole blocks, every other model by its increments (1 where unused).
    pub(super) fn increments(&self) -> (Decimal, Decimal) {
        match self.model {
            PricingModel::Package => (self.per_quantity, self.per_quantity),
            _ => (self.first_increment, self.next_increment),
        }
    }

    /// The quantity the customer is billed for once increments are applied.
    /// `None` when the arithmetic overflows.
    pub fn billed_quantity(&self, quantity: Decimal) -> Option<Decimal> {
        if quantity.is_zero() || matches!(self.model, PricingModel::Flat | PricingModel::Percentage)
        {
            return Some(quantity);
        }
        let (first, next) = self.increments();
        if quantity <= first {
            return Some(first);
        }
        let steps = (quantity - first).checked_div(next)?.ceil();
        first.checked_add(steps.checked_mul(next)?)
    }

    /// Prices `quantity` (already checked to be in range) under these terms.
    pub fn price(
        &self,
        rate_id: i64,
        quantity: Decimal,
        currency: &Currency,
        rounding: RoundingMode,
    ) -> Result<Priced, RatingError> {
        self.price_labelled(rate_id, None, quantity, currency, rounding)
    }

    /// [`RateTerms::price`] of a rate for a time band: the breakdown opens
    /// with "rate 5 (peak)".
    pub fn price_labelled(
        &self,
        rate_id: i64,
        band: Option<&str>,
        quantity: Decimal,
        currency: &Currency,
        rounding: RoundingMode,
    ) -> Result<Priced, RatingError> {
        let out_of_range = RatingError::ChargeOutOfRange { rate_id };
        let billed = self.billed_quantity(quantity).ok_or(out_of_range.clone())?;
        if billed.is_zero() {
            let charge = rounding.round(Decimal::ZERO, currency.minor_units);
            let breakdown = format!("{}: quantity 0, nothing charged", label(rate_id, band));
            return Ok(Priced {
                rate_id,
                billed_quantity: billed,
                charge,
                breakdown,
            });
        }
        let (usage_amount, uncapped) = self.amounts(billed).ok_or(out_of_range)?;
        let mut breakdown = String::with_capacity(BREAKDOWN_CAPACITY);
        let _ = write!(breakdown, "{}: ", label(rate_id, band));
        self.describe_usage(&mut breakdown, quantity, billed, usage_amount);
        Ok(self.finish(rate_id, billed, uncapped, breakdown, currency, rounding))
    }

    /// Prices an event of a rate that counts units per billing period, given
    /// the units the period had `before` it: a tiered rate charges the
    /// difference the event makes to the period's rounded amount (a credit,
    /// for volume tiers, when it reaches a cheaper tier); a rate with an
    /// allowance charges only the units beyond what is left of it, and adds
    /// its connect fee, minimum and cap only if some units are paid for.
    #[allow(clippy::too_many_arguments)]
    pub fn price_counted(
        &self,
        rate_id: i64,
        band: Option<&str>,
        quantity: Decimal,
        before: Decimal,
        currency: &Currency,
        rounding: RoundingMode,
    ) -> Result<Priced, RatingError> {
        let out_of_range = || RatingError::ChargeOutOfRange { rate_id };
        let billed = self.billed_quantity(quantity).ok_or_else(out_of_range)?;
        let after = before.checked_add(billed).ok_or_else(out_of_range)?;
        let mut breakdown = String::with_capacity(BREAKDOWN_CAPACITY);
        let _ = write!(
            breakdown,
            "{}: quantity {} billed as {} ({}/{} increments)",
            label(rate_id, band),
            trimmed(quantity),
            trimmed(billed),
            trimmed(self.first_increment),
            trimmed(self.next_increment)
        );
        if self.model.is_tiered() {
            let amount_at = |units| match self.model {
                PricingModel::Graduated => tiers::graduated(&self.tiers, units, self.per_quantity),
                _ => tiers::volume(&self.tiers, units, self.per_quantity),
            };
            let round = |amount| rounding.round(amount, currency.minor_units);
            let was = round(amount_at(before).ok_or_else(out_of_range)?);
            let now = round(amount_at(after).ok_or_else(out_of_range)?);
            let charge = now - was;
            let _ = write!(
                breakdown,
                "; the period's units go from {} to {} on {} tiers per {} ({}): its amount from {was} to {now}; charge {charge} {} ({} to {} decimals, each side)",
                trimmed(before),
                trimmed(after),
                self.model.name(),
                trimmed(self.per_quantity),
                tiers::describe(&self.tiers),
                currency.code,
                rounding.name(),
                currency.minor_units
            );
            return Ok(Priced {
                rate_id,
                billed_quantity: billed,
                charge,
                breakdown,
            });
        }
        let Some(allowance) = &self.allowance else {
            return self.price_labelled(rate_id, band, quantity, currency, rounding);
        };
        let left = (allowance.units - before).max(Decimal::ZERO);
        let free = left.min(billed);
        let paid = billed - free;
        let _ = write!(
            breakdown,
            ": {} from allowance \"{}\" ({} left)",
            trimmed(free),
            allowance.name,
            trimmed(left - free)
        );
        if paid.is_zero() {
            let charge = rounding.round(Decimal::ZERO, currency.minor_units);
            let _ = write!(breakdown, "; charge {} {}", exact(charge), currency.code);
            return Ok(Priced {
                rate_id,
                billed_quantity: billed,
                charge,
                breakdown,
            });
        }
        let (usage_amount, uncapped) = self.amounts(paid).ok_or_else(out_of_range)?;
        let _ = write!(
            breakdown,
            ", {} at {} per {} = {}",
            trimmed(paid),
            trimmed(self.price),
            trimmed(self.per_quantity),
            trimmed(usage_amount)
        );
        Ok(self.finish(rate_id, billed, uncapped, breakdown, currency, rounding))
    }

    /// Prices a duration split at time-band changes: the first part's rate
    /// (these terms) bills the whole duration with its increments, the
    /// seconds the increments add go to the last part, each part is priced
    /// at its own rate's price per `per_quantity`, and the connect fee,
    /// minimum, cap and one rounding are this rate's.
    pub fn price_split(
        &self,
        rate_id: i64,
        quantity: Decimal,
        parts: &[SplitPart],
        currency: &Currency,
        rounding: RoundingMode,
    ) -> Result<Priced, RatingError> {
        let out_of_range = || RatingError::ChargeOutOfRange { rate_id };
        let billed = self.billed_quantity(quantity).ok_or_else(out_of_range)?;
        let mut breakdown = String::with_capacity(BREAKDOWN_CAPACITY);
        let _ = write!(
            breakdown,
            "rate {rate_id}: quantity {} billed as {} ({}/{} increments), split at time-band changes: ",
            trimmed(quantity),
            trimmed(billed),
            trimmed(self.first_increment),
            trimmed(self.next_increment)
        );
        let mut usage_amount = Decimal::ZERO;
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let seconds = if last {
                part.seconds + (billed - quantity)
            } else {
                part.seconds
            };
            let amount = seconds
                .checked_mul(part.terms.price)
                .and_then(|a| a.checked_div(part.terms.per_quantity))
                .ok_or_else(out_of_range)?;
            usage_amount = usage_amount.checked_add(amount).ok_or_else(out_of_range)?;
            let _ = write!(
                breakdown,
                "{}{} s {} at {} per {} (rate {}) = {}",
                if i == 0 { "" } else { " + " },
                trimmed(seconds),
                part.band,
                trimmed(part.terms.price),
                trimmed(part.terms.per_quantity),
                part.rate_id,
                trimmed(amount)
            );
        }
        let uncapped = usage_amount
            .checked_add(self.connect_fee)
            .ok_or_else(out_of_range)?;
        Ok(self.finish(rate_id, billed, uncapped, breakdown, currency, rounding))
    }

    /// The end every priced event shares: fee, minimum and cap described,
    /// the one rounding, and the charge named.
    fn finish(
        &self,
        rate_id: i64,
        billed: Decimal,
        uncapped: Decimal,
        mut breakdown: String,
        currency: &Currency,
        rounding: RoundingMode,
    ) -> Priced {
        let charge = self.final_charge(uncapped, currency, rounding);
        self.describe_adjustments(&mut breakdown, uncapped);
        let _ = write!(
            breakdown,
            "; charge {} {} ({} to {} decimals)",
            exact(charge),
            currency.code,
            rounding.name(),
            currency.minor_units
        );
        Priced {
            rate_id,
            billed_quantity: billed,
            charge,
            breakdown,
        }
    }

    /// The usage amount of a non-zero billed quantity, and that amount plus
    /// the connect fee, unrounded; `None` on overflow.
    fn amounts(&self, billed: Decimal) -> Option<(Decimal, Decimal)> {
        let usage_amount = match self.model {
            PricingModel::PerUnit | PricingModel::Package => billed
                .checked_mul(self.price)?
                .checked_div(self.per_quantity)?,
            PricingModel::Flat => self.price,
            PricingModel::Percentage => billed.checked_mul(self.price)?.checked_div(HUNDRED)?,
            // An event alone in its period; see price_counted for the rest.
            PricingModel::Graduated => tiers::graduated(&self.tiers, billed, self.per_quantity)?,
            PricingModel::Volume => tiers::volume(&self.tiers, billed, self.per_quantity)?,
        };
        Some((usage_amount, usage_amount.checked_add(self.connect_fee)?))
    }

    /// The exact amount between the minimum and the cap.
    fn clamped(&self, uncapped: Decimal) -> Decimal {
        let at_least_minimum = uncapped.max(self.minimum_charge);
        self.maximum_charge
            .map_or(at_least_minimum, |maximum| at_least_minimum.min(maximum))
    }

    /// The one place an event's charge is rounded: the minimum and the cap
    /// applied to the exact amount, then rounded once to the minor unit.
    fn final_charge(
        &self,
        uncapped: Decimal,
        currency: &Currency,
        rounding: RoundingMode,
    ) -> Decimal {
        rounding.round(self.clamped(uncapped), currency.minor_units)
    }

    /// The charge of a non-zero billed quantity; `None` on overflow.
    fn charge_for_billed(
        &self,
        billed: Decimal,
        currency: &Currency,
        rounding: RoundingMode,
    ) -> Option<Decimal> {
        let (_, uncapped) = self.amounts(billed)?;
        Some(self.final_charge(uncapped, currency, rounding))
    }

    /// The most of the service that `budget` pays for, as online charging
    /// grants it: the largest billed quantity (0, or the first increment plus
    /// whole next increments, at most [`MAX_QUANTITY`]) whose charge is within
    /// the budget. The charge never falls as the quantity grows, so a binary
    /// search over the number of next increments finds it.
    pub fn affordable_quantity(
        &self,
        budget: Decimal,
        currency: &Currency,
        rounding: RoundingMode,
    ) -> Decimal {
        self.largest_grant(budget, &[], |billed| {
            self.charge_for_billed(billed, currency, rounding)
        })
    }

    /// [`RateTerms::affordable_quantity`] for a rate that counts units per
    /// period (tiers or an allowance), `before` of them counted already:
    /// what is left of an allowance is free, and tiers price the difference
    /// the units make to the period, as an insert would charge them now.
    ///
    /// A session may stop anywhere within what it was granted, so every
    /// shorter billed quantity fits the budget too. Volume tiers can make
    /// more units cost less than fewer (the period's total reaches a cheaper
    /// tier); the grant then stops before the first increment that does not
    /// fit, even where a longer use would fit again.
    pub fn affordable_counted(
        &self,
        before: Decimal,
        budget: Decimal,
        currency: &Currency,
        rounding: RoundingMode,
    ) -> Decimal {
        // Within a volume tier the charge grows with the units; it may fall
        // only where the period's total leaves a tier.
        let tier_ends: Vec<Decimal> = match self.model {
            PricingModel::Volume => self
                .tiers
                .iter()
                .filter_map(|tier| tier.to?.checked_sub(before))
                .collect(),
            _ => Vec::new(),
        };
        self.largest_grant(budget, &tier_ends, |billed| {
            self.price_counted(0, None, billed, before, currency, rounding)
                .ok()
                .map(|priced| priced.charge)
        })
    }

    /// The largest billed quantity of the increments' grid, at most
    /// [`MAX_QUANTITY`], that `charge` and the charge of every smaller one
    /// keep within `budget`; 0 if the first increment does not fit.
    /// `charge` (`None`: out of range) must not fall between two
    /// consecutive `ends`, the billed quantities after which it may.
    fn largest_grant(
        &self,
        budget: Decimal,
        ends: &[Decimal],
        charge: impl Fn(Decimal) -> Option<Decimal>,
    ) -> Decimal {
        let (first, next) = self.increments();
        let billed_after = |steps: Decimal| {
            let billed = steps.checked_mul(next)?.checked_add(first)?;
            (billed <= MAX_QUANTITY).then_some(billed)
        };
        let fits = |steps: Decimal| {
            billed_after(steps)
                .and_then(&charge)
                .is_some_and(|charge| charge <= budget)
        };
        let mut last = Decimal::MAX.floor();
        if let Some(most) = (MAX_QUANTITY - first).checked_div(next) {
            last = last.min(most.floor());
        }
        // The last step at or below each end, where the charge may fall.
        let last_step_within = |end: Decimal| {
            let mut steps = end.checked_sub(first)?.checked_div(next)?.floor();
            // A rounded quotient can land one step off: put it back.
            while billed_after(steps).is_some_and(|billed| billed > end) {
                steps -= Decimal::ONE;
            }
            while billed_after(steps + Decimal::ONE).is_some_and(|billed| billed <= end) {
                steps += Decimal::ONE;
            }
            Some(steps)
        };
        let mut stretches: Vec<Decimal> = ends
            .iter()
            .filter_map(|&end| last_step_within(end))
            .filter(|steps| *steps >= Decimal::ZERO && *steps < last)
            .collect();
        stretches.sort();
        stretches.dedup();
        stretches.push(last);

        let mut low = Decimal::ZERO;
        if !fits(low) {
            return Decimal::ZERO;
        }
        for high in stretches {
            // fits(low) holds here, and the charge does not fall up to high.
            if fits(high) {
                if high == last {
                    break;
                }
                low = high + Decimal::ONE;
                if !fits(low) {
                    return billed_after(high).unwrap_or(Decimal::ZERO);
                }
                continue;
            }
            let mut high = high - Decimal::ONE;
            while low < high {
                let middle = low + ((high - low) / Decimal::TWO).ceil();
                if fits(middle) {
                    low = middle;
                } else {
                    high = middle - Decimal::ONE;
                }
            }
            return billed_after(low).unwrap_or(Decimal::ZERO);
        }
        billed_after(last).unwrap_or(Decimal::ZERO)
    }

    /// What was used and what it costs before fees, minimum and cap.
    fn describe_usage(
        &self,
        text: &mut String,
        quantity: Decimal,
        billed: Decimal,
        amount: Decimal,
    ) {
        let packages = || trimmed(billed / self.per_quantity);
        let (quantity, billed, amount) = (trimmed(quantity), trimmed(billed), trimmed(amount));
        let (price, per) = (trimmed(self.price), trimmed(self.per_quantity));
        let _ = match self.model {
            PricingModel::PerUnit => write!(
                text,
                "quantity {quantity} billed as {billed} ({}/{} increments) at {price} per {per} = {amount}",
                trimmed(self.first_increment),
                trimmed(self.next_increment),
            ),
            PricingModel::Package => write!(
                text,
                "quantity {quantity} billed as {} started packages of {per} at {price} = {amount}",
                packages()
            ),
            PricingModel::Flat => write!(text, "quantity {quantity} at a flat {price} per event"),
            PricingModel::Percentage => write!(text, "{price}% of {quantity} = {amount}"),
            PricingModel::Graduated | PricingModel::Volume => write!(
                text,
                "quantity {quantity} billed as {billed}, alone in its period, on {} tiers per {per} ({}) = {amount}",
                self.model.name(),
                tiers::describe(&self.tiers)
            ),
        };
    }

    /// The connect fee, and the minimum or the cap where one decided the amount.
    fn describe_adjustments(&self, text: &mut String, uncapped: Decimal) {
        if !self.connect_fee.is_zero() {
            let _ = write!(text, "; connect fee {}", trimmed(self.connect_fee));
        }
        let clamped = self.clamped(uncapped);
        if clamped > uncapped {
            let _ = write!(
                text,
                "; minimum charge {} applies",
                trimmed(self.minimum_charge)
            );
        } else if clamped < uncapped {
            let _ = write!(text, "; maximum charge {} applies", trimmed(clamped));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn eur() -> Currency {
        Currency {
            code: "EUR".into(),
            minor_units: 2,
        }
    }

    fn terms(price: &str, per: &str, first: &str, next: &str) -> RateTerms {
        RateTerms::per_unit(d(price), d(per), d(first), d(next))
    }

    #[test]
    fn max_quantity_is_one_quadrillion() {
        assert_eq!(MAX_QUANTITY, d("1000000000000000"));
    }

    #[test]
    fn billed_quantity_table() {
        // (first, next, quantity, billed): the common telecom and data schemes.
        let cases = [
            ("60", "60", "0", "0"),
            ("60", "60", "1", "60"),
            ("60", "60", "60", "60"),
            ("60", "60", "61", "120"),
            ("60", "60", "125", "180"),
            ("30", "6", "1", "30"),
            ("30", "6", "31", "36"),
            ("30", "6", "36", "36"),
            ("30", "6", "37", "42"),
            ("1", "1", "59", "59"),
            ("1", "1", "0.2", "1"),
            ("1", "1", "2.3", "3"),
            ("1048576", "1048576", "1048577", "2097152"),
        ];
        for (first, next, quantity, billed) in cases {
            let t = terms("1", "1", first, next);
            assert_eq!(
                t.billed_quantity(d(quantity)),
                Some(d(billed)),
                "{first}/{next} of {quantity}"
            );
        }
    }

    #[test]
    fn charges_by_hand() {
        // (price, per, first, next, connect, minimum, quantity, expected EUR)
        let cases = [
            // 0.10 per minute, 60/60: 61 s is two minutes.
            ("0.10", "60", "60", "60", "0", "0", "61", "0.20"),
            // 0.09 per minute, 30/6: 31 s billed as 36 s = 0.054 -> 0.05.
            ("0.09", "60", "30", "6", "0", "0", "31", "0.05"),
            // per second 1/1, 0.0125 per minute: 100 s = 0.0208333 -> 0.02.
            ("0.0125", "60", "1", "1", "0", "0", "100", "0.02"),
            // connect fee 0.05 plus 1 minute at 0.10.
            ("0.10", "60", "60", "60", "0.05", "0", "10", "0.15"),
            // minimum 0.25 beats 0.10.
            ("0.10", "60", "60", "60", "0", "0.25", "10", "0.25"),
            // data: 0.01 per started MB, 2.3 MB -> 3 MB.
            ("0.01", "1", "1", "1", "0", "0", "2.3", "0.03"),
            // a half cent rounds up: 1 unit at 0.005.
            ("0.005", "1", "1", "1", "0", "0", "1", "0.01"),
            // zero quantity: no connect fee, no minimum.
            ("0.10", "60", "60", "60", "0.05", "0.25", "0", "0.00"),
        ];
        for (price, per, first, next, connect, minimum, quantity, expected) in cases {
            let t = RateTerms {
                connect_fee: d(connect),
                minimum_charge: d(minimum),
                ..terms(price, per, first, next)
            };
            let priced = t
                .price(1, d(quantity), &eur(), RoundingMode::HalfUp)
                .unwrap();
            assert_eq!(
                priced.charge.to_string(),
                expected,
                "{price}/{per} {first}/{next} q={quantity}"
            );
        }
    }

    #[test]
    fn rounding_mode_is_applied_once_at_the_end() {
        // 3 units at 0.0015 = 0.0045: half_up gives 0.00, up gives 0.01.
        let t = terms("0.0015", "1", "1", "1");
        let half_up = t.price(1, d("3"), &eur(), RoundingMode::HalfUp).unwrap();
        let up = t.price(1, d("3"), &eur(), RoundingMode::Up).unwrap();
        assert_eq!(half_up.charge.to_string(), "0.00");
        assert_eq!(up.charge.to_string(), "0.01");
    }

    #[test]
    fn yen_has_no_minor_unit() {
        let jpy = Currency {
            code: "JPY".into(),
            minor_units: 0,
        };
        let priced = terms("3", "60", "1", "1")
            .price(1, d("150"), &jpy, RoundingMode::HalfUp)
            .unwrap();
        assert_eq!(priced.charge.to_string(), "8"); // 7.5 -> 8
    }

    #[test]
    fn breakdown_names_the_pieces() {
        let t = RateTerms {
            connect_fee: d("0.05"),
            ..terms("0.10", "60", "60", "60")
        };
        let priced = t.price(12, d("61"), &eur(), RoundingMode::HalfUp).unwrap();
        assert_eq!(
            priced.breakdown,
            "rate 12: quantity 61 billed as 120 (60/60 increments) at 0.1 per 60 = 0.2; connect fee 0.05; charge 0.25 EUR (half_up to 2 decimals)"
        );
    }

    #[test]
    fn validation_names_the_field_and_value() {
        let zero_increment = terms("0.10", "60", "0", "60");
        assert_eq!(
            zero_increment.validate(),
            Err(TariffError::NotPositive {
                field: "first_increment",
                value: d("0")
            })
        );
        let negative_price = terms("-0.10", "60", "60", "60");
        assert_eq!(
            negative_price.validate(),
            Err(TariffError::Negative {
                field: "price",
                value: d("-0.10")
            })
        );
        assert_eq!(terms("0", "1", "1", "1").validate(), Ok(()));
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        let tiny_step = terms(
            "1",
            "1",
            "0.0000000000000000000000000001",
            "0.0000000000000000000000000001",
        );
        let result = tiny_step.price(9, MAX_QUANTITY, &eur(), RoundingMode::HalfUp);
        assert_eq!(result, Err(RatingError::ChargeOutOfRange { rate_id: 9 }));
    }

    #[test]
    fn affordable_quantity_is_the_most_the_budget_buys() {
        let per_minute = terms("0.12", "60", "60", "60");
        let afford = |t: &RateTerms, budget: &str| {
            t.affordable_quantity(d(budget), &eur(), RoundingMode::HalfUp)
        };
        // 240 s cost 0.48, 300 s would cost 0.60.
        assert_eq!(afford(&per_minute, "0.50"), d("240"));
        assert_eq!(afford(&per_minute, "0.11"), d("0"));
        assert_eq!(afford(&per_minute, "-1"), d("0"));
        // 0.02 + 0.001 a second in 30/6 steps: 84 s cost 0.104, rounded to 0.10.
        let mut uk = terms("0.06", "60", "30", "6");
        uk.connect_fee = d("0.02");
        assert_eq!(afford(&uk, "0.10"), d("84"));
        assert_eq!(
            uk.price(1, d("84"), &eur(), RoundingMode::HalfUp)
                .unwrap()
                .charge,
            d("0.10")
        );
        assert_eq!(
            uk.price(1, d("90"), &eur(), RoundingMode::HalfUp)
                .unwrap()
                .charge,
            d("0.11")
        );
        // A free service is limited only by the largest quantity an event may carry.
        assert_eq!(afford(&terms("0", "1", "1", "1"), "0"), MAX_QUANTITY);
        let tiny_step = terms(
            "1",
            "1",
            "0.0000000000000000000000000001",
            "0.0000000000000000000000000001",
        );
        // Everything below 5.005 rounds to 5.00: the last step before it.
        assert_eq!(afford(&tiny_step, "5"), d("5.0049999999999999999999999999"));
    }

    fn model_terms(model: PricingModel, price: &str, per: &str) -> RateTerms {
        RateTerms {
            model,
            ..terms(price, per, "1", "1")
        }
    }

    #[test]
    fn models_and_caps_by_hand() {
        use PricingModel::*;
        // (model, price, per, connect, minimum, maximum, quantity, expected EUR, breakdown)
        let cases = [
            // 5.00 per started 10 GB: 23 GB is three packages.
            (Package, "5.00", "10", "0", "0", None, "23", "15.00",
             "rate 1: quantity 23 billed as 3 started packages of 10 at 5 = 15; charge 15.00 EUR (half_up to 2 decimals)"),
            (Package, "5.00", "10", "0", "0", None, "10", "5.00",
             "rate 1: quantity 10 billed as 1 started packages of 10 at 5 = 5; charge 5.00 EUR (half_up to 2 decimals)"),
            (Package, "5.00", "10", "0", "0", None, "0.1", "5.00",
             "rate 1: quantity 0.1 billed as 1 started packages of 10 at 5 = 5; charge 5.00 EUR (half_up to 2 decimals)"),
            // A flat 0.05 per API call, whatever the quantity.
            (Flat, "0.05", "1", "0", "0", None, "7", "0.05",
             "rate 1: quantity 7 at a flat 0.05 per event; charge 0.05 EUR (half_up to 2 decimals)"),
            // 2.9 % of a 120.00 payment.
            (Percentage, "2.9", "1", "0", "0", None, "120.00", "3.48",
             "rate 1: 2.9% of 120 = 3.48; charge 3.48 EUR (half_up to 2 decimals)"),
            // 0.25 + 2.9 % of 100.00 = 3.15.
            (Percentage, "2.9", "1", "0.25", "0", None, "100", "3.15",
             "rate 1: 2.9% of 100 = 2.9; connect fee 0.25; charge 3.15 EUR (half_up to 2 decimals)"),
            // 2.9 % of 5.00 is 0.145: the 0.30 minimum applies.
            (Percentage, "2.9", "1", "0", "0.30", Some("10.00"), "5.00", "0.30",
             "rate 1: 2.9% of 5 = 0.145; minimum charge 0.3 applies; charge 0.30 EUR (half_up to 2 decimals)"),
            // 2.9 % of 1000.00 is 29.00: capped at 10.00.
            (Percentage, "2.9", "1", "0", "0.30", Some("10.00"), "1000.00", "10.00",
             "rate 1: 2.9% of 1000 = 29; maximum charge 10 applies; charge 10.00 EUR (half_up to 2 decimals)"),
            // An hour at 0.10 a minute, capped at 1.00 per call.
            (PerUnit, "0.10", "60", "0", "0", Some("1.00"), "3600", "1.00",
             "rate 1: quantity 3600 billed as 3600 (1/1 increments) at 0.1 per 60 = 6; maximum charge 1 applies; charge 1.00 EUR (half_up to 2 decimals)"),
        ];
        for (model, price, per, connect, minimum, maximum, quantity, expected, breakdown) in cases {
            let t = RateTerms {
                connect_fee: d(connect),
                minimum_charge: d(minimum),
                maximum_charge: maximum.map(d),
                ..model_terms(model, price, per)
            };
            assert_eq!(t.validate(), Ok(()), "{model:?}");
            let priced = t
                .price(1, d(quantity), &eur(), RoundingMode::HalfUp)
                .unwrap();
            assert_eq!(
                priced.charge.to_string(),
                expected,
                "{model:?} {price} q={quantity}"
            );
            assert_eq!(priced.breakdown, breakdown);
        }
        // Zero is nothing, whatever the model.
        for model in [Package, Flat, Percentage] {
            let priced =
                model_terms(model, "1", "1").price(1, Decimal::ZERO, &eur(), RoundingMode::HalfUp);
            assert_eq!(priced.unwrap().charge.to_string(), "0.00", "{model:?}");
        }
    }

    #[test]
    fn terms_a_model_does_not_use_are_refused() {
        use PricingModel::*;
        let package_with_increments = RateTerms {
            first_increment: d("60"),
            ..model_terms(Package, "5", "10")
        };
        assert_eq!(
            package_with_increments.validate(),
            Err(TariffError::NotUsedByModel {
                field: "first_increment",
                model: "package",
                value: d("60")
            })
        );
        assert_eq!(
            model_terms(Percentage, "2.9", "100").validate(),
            Err(TariffError::NotUsedByModel {
                field: "per_quantity",
                model: "percentage",
                value: d("100")
            })
        );
        let cap_below_minimum = RateTerms {
            minimum_charge: d("0.30"),
            maximum_charge: Some(d("0.20")),
            ..model_terms(Flat, "0.25", "1")
        };
        assert_eq!(
            cap_below_minimum.validate(),
            Err(TariffError::CapBelowMinimum {
                maximum: d("0.20"),
                minimum: d("0.30")
            })
        );
    }

    #[test]
    fn a_capped_rate_grants_everything_its_cap_fits_in() {
        let capped = RateTerms {
            maximum_charge: Some(d("1.00")),
            ..terms("0.10", "60", "60", "60")
        };
        let afford =
            |budget: &str| capped.affordable_quantity(d(budget), &eur(), RoundingMode::HalfUp);
        assert_eq!(afford("0.99"), d("540")); // nine minutes, 0.90
                                              // Within the cap, any quantity fits: the most whole minutes an event may carry.
        assert_eq!(afford("1.00"), d("999999999999960"));
        let package = model_terms(PricingModel::Package, "5", "10");
        assert_eq!(
            package.affordable_quantity(d("12"), &eur(), RoundingMode::HalfUp),
            d("20")
        );
    }

    fn tiered(model: PricingModel, tiers: Vec<Tier>) -> RateTerms {
        RateTerms {
            model,
            tiers,
            ..terms("0", "1", "1", "1")
        }
    }

    /// Prices `rows` one after another in one period, as the counter would.
    fn period_charges(t: &RateTerms, rows: &[&str]) -> Vec<String> {
        let mut before = Decimal::ZERO;
        rows.iter()
            .map(|q| {
                let priced = t
                    .price_counted(1, None, d(q), before, &eur(), RoundingMode::HalfUp)
                    .unwrap();
                before += priced.billed_quantity;
                priced.charge.to_string()
            })
            .collect()
    }

    #[test]
    fn tiered_rows_are_charged_the_difference_they_make_to_the_period() {
        use crate::engine::tiers::tests::{egress, tier};
        // Graduated egress, by hand: F(60) = 5.40; F(120) = 9 + 1.70 = 10.70;
        // F(520) = 43 + 1.40 = 44.40; F(1120) = 43 + 43.40 = 86.40.
        let graduated = tiered(PricingModel::Graduated, egress());
        assert_eq!(
            period_charges(&graduated, &["60", "60", "400", "600"]),
            ["5.40", "5.30", "33.70", "42.00"]
        );
        // Volume: F(60) = 5.40; F(120) = 120 x 0.085 = 10.20; F(520) = 520 x 0.07 = 36.40.
        let volume = tiered(PricingModel::Volume, egress());
        assert_eq!(
            period_charges(&volume, &["60", "60", "400"]),
            ["5.40", "4.80", "26.20"]
        );
        // Reaching a cheaper tier credits the units already charged: 100 at
        // 0.10 = 10.00, then 101 at 0.05 = 5.05, so the 101st unit is -4.95.
        let cliff = tiered(
            PricingModel::Volume,
            vec![tier("0", Some("100"), "0.10"), tier("100", None, "0.05")],
        );
        assert_eq!(period_charges(&cliff, &["100", "1"]), ["10.00", "-4.95"]);
        let priced = graduated
            .price_counted(1, None, d("400"), d("120"), &eur(), RoundingMode::HalfUp)
            .unwrap();
        assert_eq!(
            priced.breakdown,
            "rate 1: quantity 400 billed as 400 (1/1 increments); the period's units go from 120 to 520 on graduated tiers per 1 \
             (0.09 to 100, 0.085 to 500, 0.07 beyond): its amount from 10.70 to 44.40; charge 33.70 EUR (half_up to 2 decimals, each side)"
        );
    }

    /// 100 minutes (6000 s) included; then 0.09 a minute, 60/1, 0.05 connect.
    fn hundred_minutes() -> RateTerms {
        RateTerms {
            connect_fee: d("0.05"),
            allowance: Some(Allowance {
                name: "100 minutes".into(),
                units: d("6000"),
            }),
            ..terms("0.09", "60", "60", "1")
        }
    }

    #[test]
    fn an_allowance_is_used_up_before_anything_is_charged() {
        let bundle = hundred_minutes();
        // 3000 s and 2900 s free; of 200 s, 100 are free and 100 cost 0.15 + 0.05.
        assert_eq!(
            period_charges(&bundle, &["3000", "2900", "200", "30"]),
            ["0.00", "0.00", "0.20", "0.14"]
        );
        let priced = bundle
            .price_counted(1, None, d("200"), d("5900"), &eur(), RoundingMode::HalfUp)
            .unwrap();
        assert_eq!(
            priced.breakdown,
            "rate 1: quantity 200 billed as 200 (60/1 increments): 100 from allowance \"100 minutes\" (0 left), \
             100 at 0.09 per 60 = 0.15; connect fee 0.05; charge 0.20 EUR (half_up to 2 decimals)"
        );
        let free = bundle
            .price_counted(
                1,
                None,
                d("10"),
                Decimal::ZERO,
                &eur(),
                RoundingMode::HalfUp,
            )
            .unwrap();
        assert_eq!(
            free.breakdown,
            "rate 1: quantity 10 billed as 60 (60/1 increments): 60 from allowance \"100 minutes\" (5940 left); charge 0.00 EUR"
        );
    }

    #[test]
    fn a_grant_on_a_counting_rate_starts_where_the_period_stands() {
        use crate::engine::tiers::tests::{egress, tier};
        let grant = |t: &RateTerms, before: &str, budget: &str| {
            t.affordable_counted(d(before), d(budget), &eur(), RoundingMode::HalfUp)
                .to_string()
        };
        // 90 GB counted: 2.00 buys 10 GB at 0.09 and 12 at 0.085, F(112) =
        // 10.02 (1.92 on F(90) = 8.10); 13 would make F(113) = 10.11 (2.01).
        let graduated = tiered(PricingModel::Graduated, egress());
        assert_eq!(grant(&graduated, "90", "2.00"), "22");
        // 0.10 a unit to 100, then 0.05 for all of them. From 0, 6.00 buys 60
        // units: 61 cost 6.10, though 101 would cost 5.05 and 120 6.00. A
        // session may stop at any unit, so the grant ends before 61.
        let cliff = tiered(
            PricingModel::Volume,
            vec![tier("0", Some("100"), "0.10"), tier("100", None, "0.05")],
        );
        assert_eq!(grant(&cliff, "0", "6.00"), "60");
        // From 95, every unit up to the cliff fits, and past it the period's
        // amount falls to 5.05 (a credit of 4.45): 6.00 buys up to F(310) =
        // 15.50, 215 units.
        assert_eq!(grant(&cliff, "95", "6.00"), "215");
        // With 5000 s counted, the 1000 s left are free, and 0.50 buys 303 s
        // more (0.05 + 0.4545 = 0.50; 304 s: 0.506 -> 0.51).
        let bundle = hundred_minutes();
        assert_eq!(grant(&bundle, "5000", "0.50"), "1303");
        assert_eq!(grant(&bundle, "5000", "0"), "1000");
        // Used up: the first increment costs 0.05 + 0.09, and 63 s still
        // round to 0.14 (0.1445); 64 s cost 0.146 -> 0.15.
        assert_eq!(grant(&bundle, "6000", "0.13"), "0");
        assert_eq!(grant(&bundle, "6000", "0.14"), "63");
        // 10 s left, but the first increment is 60 s: 50 of them are paid.
        assert_eq!(grant(&bundle, "5990", "0"), "0");
    }

    #[test]
    fn tiered_rates_take_no_price_fee_minimum_or_cap_of_their_own() {
        use crate::engine::tiers::tests::egress;
        let with_fee = RateTerms {
            connect_fee: d("0.10"),
            ..tiered(PricingModel::Graduated, egress())
        };
        assert_eq!(
            with_fee.validate(),
            Err(TariffError::PricedByTiers {
                field: "connect_fee",
                model: "graduated",
                value: d("0.10")
            })
        );
        let per_unit_with_tiers = RateTerms {
            tiers: egress(),
            ..terms("1", "1", "1", "1")
        };
        assert_eq!(
            per_unit_with_tiers.validate(),
            Err(TariffError::TiersWithoutTieredModel { model: "per_unit" })
        );
        let flat_bundle = RateTerms {
            allowance: Some(Allowance {
                name: "x".into(),
                units: d("1"),
            }),
            ..model_terms(PricingModel::Flat, "1", "1")
        };
        assert_eq!(
            flat_bundle.validate(),
            Err(TariffError::AllowanceNeedsPerUnit { model: "flat" })
        );
    }
}
