//! The per-unit pricing model: increments, connect fee, minimum, rounding.
//!
//! For a quantity `q > 0` the billed quantity is `first_increment` if
//! `q <= first_increment`, otherwise `first_increment` plus `q - first_increment`
//! rounded up to a whole number of `next_increment`s. The event's charge is
//!
//! ```text
//! max(connect_fee + billed * price / per_quantity, minimum_charge)
//! ```
//!
//! computed exactly in decimal (28 significant digits) and rounded **once**,
//! at the end, to the currency's minor unit with the tariff's rounding mode.
//! A zero quantity (an unanswered call) is charged nothing at all.

use super::{Currency, RatingError, RoundingMode, TariffError};
use rust_decimal::Decimal;

/// The largest quantity one event may carry: beyond any real meter reading,
/// and far enough inside rust_decimal's range that pricing cannot overflow
/// for any sane rate.
pub const MAX_QUANTITY: Decimal = Decimal::from_parts(0xA4C6_8000, 0x38D7E, 0, false, 0); // 1e15

/// What a rate charges; validated by [`RateTerms::validate`] before use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateTerms {
    /// Charged for every `per_quantity` billed units: 0.10 per 60 seconds.
    pub price: Decimal,
    pub per_quantity: Decimal,
    pub first_increment: Decimal,
    pub next_increment: Decimal,
    pub connect_fee: Decimal,
    pub minimum_charge: Decimal,
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

impl RateTerms {
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
        Ok(())
    }

    /// The quantity the customer is billed for once increments are applied.
    /// `None` when the arithmetic overflows.
    pub fn billed_quantity(&self, quantity: Decimal) -> Option<Decimal> {
        if quantity.is_zero() {
            return Some(Decimal::ZERO);
        }
        if quantity <= self.first_increment {
            return Some(self.first_increment);
        }
        let beyond_first = quantity - self.first_increment;
        let steps = beyond_first.checked_div(self.next_increment)?.ceil();
        self.first_increment
            .checked_add(steps.checked_mul(self.next_increment)?)
    }

    /// Prices `quantity` (already checked to be in range) under these terms.
    pub fn price(
        &self,
        rate_id: i64,
        quantity: Decimal,
        currency: &Currency,
        rounding: RoundingMode,
    ) -> Result<Priced, RatingError> {
        let out_of_range = RatingError::ChargeOutOfRange { rate_id };
        let billed = self.billed_quantity(quantity).ok_or(out_of_range.clone())?;
        if billed.is_zero() {
            let charge = rounding.round(Decimal::ZERO, currency.minor_units);
            let breakdown = format!("rate {rate_id}: quantity 0, nothing charged");
            return Ok(Priced {
                rate_id,
                billed_quantity: billed,
                charge,
                breakdown,
            });
        }
        let (usage_amount, before_minimum) = self.amounts(billed).ok_or(out_of_range)?;
        let minimum_applies = before_minimum < self.minimum_charge;
        let charge = self.final_charge(before_minimum, currency, rounding);
        let breakdown = self.describe(
            rate_id,
            quantity,
            billed,
            usage_amount,
            minimum_applies,
            charge,
            currency,
            rounding,
        );
        Ok(Priced {
            rate_id,
            billed_quantity: billed,
            charge,
            breakdown,
        })
    }

    /// The usage amount (billed x price / per_quantity) and that amount plus
    /// the connect fee, unrounded; `None` on overflow.
    fn amounts(&self, billed: Decimal) -> Option<(Decimal, Decimal)> {
        let usage_amount = billed
            .checked_mul(self.price)?
            .checked_div(self.per_quantity)?;
        Some((usage_amount, usage_amount.checked_add(self.connect_fee)?))
    }

    /// The one place an event's charge is rounded: the minimum applied to the
    /// exact amount, then rounded once to the currency's minor unit.
    fn final_charge(
        &self,
        before_minimum: Decimal,
        currency: &Currency,
        rounding: RoundingMode,
    ) -> Decimal {
        rounding.round(
            before_minimum.max(self.minimum_charge),
            currency.minor_units,
        )
    }

    /// The charge of a non-zero billed quantity; `None` on overflow.
    fn charge_for_billed(
        &self,
        billed: Decimal,
        currency: &Currency,
        rounding: RoundingMode,
    ) -> Option<Decimal> {
        let (_, before_minimum) = self.amounts(billed)?;
        Some(self.final_charge(before_minimum, currency, rounding))
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
        let billed_after = |steps: Decimal| {
            let billed = steps
                .checked_mul(self.next_increment)?
                .checked_add(self.first_increment)?;
            (billed <= MAX_QUANTITY).then_some(billed)
        };
        let fits = |steps: Decimal| {
            billed_after(steps)
                .and_then(|billed| self.charge_for_billed(billed, currency, rounding))
                .is_some_and(|charge| charge <= budget)
        };
        if !fits(Decimal::ZERO) {
            return Decimal::ZERO;
        }
        let (mut low, mut high) = (Decimal::ZERO, Decimal::MAX.floor());
        if let Some(most) = (MAX_QUANTITY - self.first_increment).checked_div(self.next_increment) {
            high = high.min(most.floor());
        }
        while low < high {
            let middle = low + ((high - low) / Decimal::TWO).ceil();
            if fits(middle) {
                low = middle;
            } else {
                high = middle - Decimal::ONE;
            }
        }
        billed_after(low).unwrap_or(Decimal::ZERO)
    }

    #[allow(clippy::too_many_arguments)]
    fn describe(
        &self,
        rate_id: i64,
        quantity: Decimal,
        billed: Decimal,
        usage_amount: Decimal,
        minimum_applies: bool,
        charge: Decimal,
        currency: &Currency,
        rounding: RoundingMode,
    ) -> String {
        let mut text = format!(
            "rate {rate_id}: quantity {} billed as {} ({}/{} increments) at {} per {} = {}",
            quantity.normalize(),
            billed.normalize(),
            self.first_increment.normalize(),
            self.next_increment.normalize(),
            self.price.normalize(),
            self.per_quantity.normalize(),
            usage_amount.normalize(),
        );
        if !self.connect_fee.is_zero() {
            text.push_str(&format!("; connect fee {}", self.connect_fee.normalize()));
        }
        if minimum_applies {
            text.push_str(&format!(
                "; minimum charge {} applies",
                self.minimum_charge.normalize()
            ));
        }
        text.push_str(&format!(
            "; charge {charge} {} ({} to {} decimals)",
            currency.code,
            rounding.name(),
            currency.minor_units
        ));
        text
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
        RateTerms {
            price: d(price),
            per_quantity: d(per),
            first_increment: d(first),
            next_increment: d(next),
            connect_fee: Decimal::ZERO,
            minimum_charge: Decimal::ZERO,
        }
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
}
