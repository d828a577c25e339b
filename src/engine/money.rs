//! Currencies and the one place where money is rounded.

use rust_decimal::{Decimal, RoundingStrategy};
use std::str::FromStr;

/// A currency and the number of digits of its minor unit (2 for EUR, 0 for JPY).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency {
    pub code: String,
    pub minor_units: u32,
}

/// How a tariff rounds an event's charge to the currency's minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundingMode {
    /// Ties go away from zero: 0.125 -> 0.13. The usual commercial rule.
    HalfUp,
    /// Ties go to the even digit: 0.125 -> 0.12 (banker's rounding).
    HalfEven,
    /// Any fraction of a minor unit is charged as a whole one: 0.121 -> 0.13.
    Up,
}

impl RoundingMode {
    pub const NAMES: [&'static str; 3] = ["half_up", "half_even", "up"];

    pub fn name(self) -> &'static str {
        match self {
            RoundingMode::HalfUp => "half_up",
            RoundingMode::HalfEven => "half_even",
            RoundingMode::Up => "up",
        }
    }

    /// Rounds `amount` to `minor_units` decimal places and fixes the scale, so
    /// that 0.2 in EUR is stored and shown as 0.20.
    pub fn round(self, amount: Decimal, minor_units: u32) -> Decimal {
        let strategy = match self {
            RoundingMode::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            RoundingMode::HalfEven => RoundingStrategy::MidpointNearestEven,
            RoundingMode::Up => RoundingStrategy::AwayFromZero,
        };
        let mut rounded = amount.round_dp_with_strategy(minor_units, strategy);
        rounded.rescale(minor_units);
        rounded
    }
}

impl FromStr for RoundingMode {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "half_up" => Ok(RoundingMode::HalfUp),
            "half_even" => Ok(RoundingMode::HalfEven),
            "up" => Ok(RoundingMode::Up),
            other => Err(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn rounding_table() {
        use RoundingMode::*;
        let cases = [
            (HalfUp, "0.125", 2, "0.13"),
            (HalfEven, "0.125", 2, "0.12"),
            (HalfEven, "0.135", 2, "0.14"),
            (Up, "0.121", 2, "0.13"),
            (Up, "0.12", 2, "0.12"),
            (HalfUp, "0.124999", 2, "0.12"),
            (HalfUp, "0.2", 2, "0.20"),
            (HalfUp, "149.5", 0, "150"),
            (HalfEven, "148.5", 0, "148"),
            (HalfUp, "1.0005", 3, "1.001"),
            (Up, "0", 2, "0.00"),
        ];
        for (mode, amount, minor, expected) in cases {
            let rounded = mode.round(d(amount), minor);
            assert_eq!(
                rounded.to_string(),
                expected,
                "{mode:?} {amount} to {minor}"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for name in RoundingMode::NAMES {
            assert_eq!(RoundingMode::from_str(name).unwrap().name(), name);
        }
        assert_eq!(
            RoundingMode::from_str("bankers"),
            Err("bankers".to_string())
        );
    }
}
