//! Property tests of the pricing math over random rates and quantities.

use super::*;
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Decimals with up to `scale` places in `[0, max]`, as real tariffs write them.
fn decimal(max: i64, scale: u32) -> impl Strategy<Value = Decimal> {
    (0..=max * 10i64.pow(scale)).prop_map(move |n| Decimal::new(n, scale))
}

fn positive(max: i64, scale: u32) -> impl Strategy<Value = Decimal> {
    (1..=max * 10i64.pow(scale)).prop_map(move |n| Decimal::new(n, scale))
}

prop_compose! {
    fn terms()(
        price in decimal(5, 4),
        per_quantity in positive(3600, 0),
        first_increment in positive(120, 1),
        next_increment in positive(120, 1),
        connect_fee in decimal(1, 2),
        minimum_charge in decimal(1, 2),
    ) -> RateTerms {
        RateTerms { price, per_quantity, first_increment, next_increment, connect_fee, minimum_charge }
    }
}

fn mode() -> impl Strategy<Value = RoundingMode> {
    prop_oneof![
        Just(RoundingMode::HalfUp),
        Just(RoundingMode::HalfEven),
        Just(RoundingMode::Up)
    ]
}

fn price(terms: &RateTerms, quantity: Decimal, minor_units: u32, mode: RoundingMode) -> Decimal {
    let currency = Currency {
        code: "XXX".into(),
        minor_units,
    };
    terms
        .price(1, quantity, &currency, mode)
        .expect("in range")
        .charge
}

proptest! {
    #[test]
    fn charges_are_never_negative_and_have_the_currency_scale(
        t in terms(), q in decimal(100_000, 3), minor in 0u32..=3, mode in mode()
    ) {
        let charge = price(&t, q, minor, mode);
        prop_assert!(charge >= Decimal::ZERO);
        prop_assert_eq!(charge.scale(), minor);
    }

    #[test]
    fn more_usage_never_costs_less(
        t in terms(), q in decimal(100_000, 3), extra in decimal(1_000, 3), mode in mode()
    ) {
        prop_assert!(price(&t, q, 2, mode) <= price(&t, q + extra, 2, mode));
    }

    #[test]
    fn billed_quantity_covers_usage_by_less_than_one_increment(t in terms(), q in positive(100_000, 3)) {
        let billed = t.billed_quantity(q).expect("in range");
        prop_assert!(billed >= q);
        prop_assert!(billed >= t.first_increment);
        if q > t.first_increment {
            prop_assert!(billed - q < t.next_increment);
            // The part beyond the first increment is a whole number of next increments.
            prop_assert!(((billed - t.first_increment) / t.next_increment).fract().is_zero());
        }
    }

    #[test]
    fn rounding_moves_a_charge_by_less_than_one_minor_unit(
        t in terms(), q in positive(100_000, 3), minor in 0u32..=3, mode in mode()
    ) {
        let billed = t.billed_quantity(q).expect("in range");
        let exact = (billed * t.price / t.per_quantity + t.connect_fee).max(t.minimum_charge);
        let unit = Decimal::new(1, minor);
        prop_assert!((price(&t, q, minor, mode) - exact).abs() < unit);
    }

    #[test]
    fn affordable_quantity_fits_the_budget_and_one_more_increment_does_not(
        t in terms(), budget in decimal(50, 2), mode in mode()
    ) {
        let granted = t.affordable_quantity(budget, &Currency { code: "XXX".into(), minor_units: 2 }, mode);
        if granted.is_zero() {
            prop_assert!(price(&t, t.first_increment, 2, mode) > budget);
        } else {
            prop_assert!(price(&t, granted, 2, mode) <= budget);
            let next = granted + t.next_increment;
            prop_assert!(next > MAX_QUANTITY || price(&t, next, 2, mode) > budget);
        }
    }
}
