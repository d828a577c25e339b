//! Tiered prices over a billing period's units.
//!
//! With `graduated` tiers each tier's price applies to the units that fall in
//! it ("first 100 GB at 0.09, next 400 at 0.085, beyond at 0.07"); with
//! `volume` tiers the tier the period's total reaches prices all of its units.
//! Either way an event is charged the difference its units make to the
//! period's amount, each side rounded once, so the period's charges always
//! add up to the rounded formula of the period's total, whatever the order
//! and size of the events (volume tiers can make that difference a credit).

use super::TariffError;
use rust_decimal::Decimal;

/// One row of `rating.rate_tiers`: `price` per `per_quantity` units for the
/// period's units from `from` up to `to` (`None`: no end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub from: Decimal,
    pub to: Option<Decimal>,
    pub price: Decimal,
}

/// Checks that tiers run from 0 without gap or overlap to an open end, and
/// puts them in order.
pub fn validate(tiers: &mut [Tier]) -> Result<(), TariffError> {
    let invalid = |reason: String| Err(TariffError::InvalidTiers(reason));
    tiers.sort_by_key(|tier| tier.from);
    if tiers.is_empty() {
        return invalid("a tiered rate needs at least one tier".into());
    }
    let mut expected_from = Decimal::ZERO;
    for (i, tier) in tiers.iter().enumerate() {
        if tier.price < Decimal::ZERO {
            return invalid(format!(
                "the tier from {} has a negative price {}",
                tier.from, tier.price
            ));
        }
        if tier.from != expected_from {
            let what = if tier.from > expected_from {
                "a gap"
            } else {
                "an overlap"
            };
            return invalid(format!(
                "{what} at {expected_from}: the next tier starts at {}",
                tier.from
            ));
        }
        match tier.to {
            Some(to) if to <= tier.from => {
                return invalid(format!(
                    "the tier from {} ends at {to}, not after it",
                    tier.from
                ))
            }
            Some(to) => expected_from = to,
            None if i + 1 < tiers.len() => {
                return invalid(format!(
                    "the tier from {} has no end but is not the last",
                    tier.from
                ))
            }
            None => return Ok(()),
        }
    }
    invalid(format!(
        "the last tier ends at {expected_from}: it must have no end"
    ))
}

/// The graduated amount of `units`: each tier's price on the units in it.
pub fn graduated(tiers: &[Tier], units: Decimal, per_quantity: Decimal) -> Option<Decimal> {
    let mut amount = Decimal::ZERO;
    for tier in tiers.iter().take_while(|tier| units > tier.from) {
        let upper = tier.to.map_or(units, |to| to.min(units));
        let priced = (upper - tier.from)
            .checked_mul(tier.price)?
            .checked_div(per_quantity)?;
        amount = amount.checked_add(priced)?;
    }
    Some(amount)
}

/// The volume amount of `units`: all of them at the price of the tier the
/// total falls in (a total on a boundary belongs to the lower tier).
pub fn volume(tiers: &[Tier], units: Decimal, per_quantity: Decimal) -> Option<Decimal> {
    let tier = tiers
        .iter()
        .find(|tier| tier.to.is_none_or(|to| units <= to))?;
    units.checked_mul(tier.price)?.checked_div(per_quantity)
}

/// The tiers as a customer reads them: "0.09 to 100, 0.085 to 500, 0.07 beyond".
pub fn describe(tiers: &[Tier]) -> String {
    tiers
        .iter()
        .map(|tier| match tier.to {
            Some(to) => format!("{} to {}", tier.price.normalize(), to.normalize()),
            None => format!("{} beyond", tier.price.normalize()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    pub(crate) fn tier(from: &str, to: Option<&str>, price: &str) -> Tier {
        Tier {
            from: d(from),
            to: to.map(d),
            price: d(price),
        }
    }

    /// A cloud egress price list: first 100 GB at 0.09, next 400 at 0.085, beyond at 0.07.
    pub(crate) fn egress() -> Vec<Tier> {
        vec![
            tier("0", Some("100"), "0.09"),
            tier("100", Some("500"), "0.085"),
            tier("500", None, "0.07"),
        ]
    }

    #[test]
    fn graduated_and_volume_by_hand() {
        let cases = [
            // units, graduated, volume
            ("0", "0", "0"),
            ("50", "4.5", "4.5"),
            ("100", "9", "9"),         // on the boundary: the lower tier
            ("101", "9.085", "8.585"), // volume: all 101 at 0.085
            ("500", "43", "42.5"),     // 9 + 400 x 0.085
            ("1000", "78", "70"),      // 43 + 500 x 0.07
        ];
        for (units, graduated_amount, volume_amount) in cases {
            assert_eq!(
                graduated(&egress(), d(units), Decimal::ONE),
                Some(d(graduated_amount)),
                "graduated {units}"
            );
            assert_eq!(
                volume(&egress(), d(units), Decimal::ONE),
                Some(d(volume_amount)),
                "volume {units}"
            );
        }
    }

    #[test]
    fn tiers_must_run_from_zero_to_an_open_end_without_gap_or_overlap() {
        let refused = [
            (vec![], "a tiered rate needs at least one tier"),
            (
                vec![tier("10", None, "1")],
                "a gap at 0: the next tier starts at 10",
            ),
            (
                vec![tier("0", Some("100"), "1"), tier("90", None, "1")],
                "an overlap at 100: the next tier starts at 90",
            ),
            (
                vec![tier("0", Some("100"), "1"), tier("120", None, "1")],
                "a gap at 100: the next tier starts at 120",
            ),
            (
                vec![tier("0", Some("100"), "1")],
                "the last tier ends at 100: it must have no end",
            ),
            (
                vec![tier("0", None, "1"), tier("100", None, "1")],
                "the tier from 0 has no end but is not the last",
            ),
            (
                vec![tier("0", None, "-1")],
                "the tier from 0 has a negative price -1",
            ),
        ];
        for (mut tiers, reason) in refused {
            assert_eq!(
                validate(&mut tiers),
                Err(TariffError::InvalidTiers(reason.into()))
            );
        }
        let mut shuffled = vec![
            egress()[2].clone(),
            egress()[0].clone(),
            egress()[1].clone(),
        ];
        assert_eq!(validate(&mut shuffled), Ok(()));
        assert_eq!(shuffled, egress());
        assert_eq!(
            describe(&egress()),
            "0.09 to 100, 0.085 to 500, 0.07 beyond"
        );
    }
}
