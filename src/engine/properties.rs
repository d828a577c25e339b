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

fn model() -> impl Strategy<Value = PricingModel> {
    prop_oneof![
        3 => Just(PricingModel::PerUnit),
        1 => Just(PricingModel::Package),
        1 => Just(PricingModel::Flat),
        1 => Just(PricingModel::Percentage),
    ]
}

prop_compose! {
    /// Valid terms of any model: the terms a model does not use left at 1.
    fn terms()(
        model in model(),
        price in decimal(5, 4),
        per_quantity in positive(3600, 0),
        first_increment in positive(120, 1),
        next_increment in positive(120, 1),
        connect_fee in decimal(1, 2),
        minimum_charge in decimal(1, 2),
        cap_above_minimum in proptest::option::of(decimal(20, 2)),
    ) -> RateTerms {
        let (first_increment, next_increment) = if model.uses_increments() {
            (first_increment, next_increment)
        } else {
            (Decimal::ONE, Decimal::ONE)
        };
        let per_quantity = if model.uses_per_quantity() { per_quantity } else { Decimal::ONE };
        let terms = RateTerms {
            model, price, per_quantity, first_increment, next_increment, connect_fee, minimum_charge,
            maximum_charge: cap_above_minimum.map(|extra| minimum_charge + extra),
            in_seconds: false,
            tiers: Vec::new(),
            allowance: None,
        };
        assert_eq!(terms.validate(), Ok(()));
        terms
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
        if matches!(t.model, PricingModel::Flat | PricingModel::Percentage) {
            prop_assert_eq!(billed, q);
            return Ok(());
        }
        let (first, next) = t.increments();
        prop_assert!(billed >= first);
        if q > first {
            prop_assert!(billed - q < next);
            // The part beyond the first increment is a whole number of next increments.
            prop_assert!(((billed - first) / next).fract().is_zero());
        }
    }

    #[test]
    fn rounding_moves_a_charge_by_less_than_one_minor_unit(
        t in terms(), q in positive(100_000, 3), minor in 0u32..=3, mode in mode()
    ) {
        // The models' formulas, written out once more.
        let billed = t.billed_quantity(q).expect("in range");
        let usage = match t.model {
            PricingModel::PerUnit | PricingModel::Package => billed * t.price / t.per_quantity,
            PricingModel::Flat => t.price,
            PricingModel::Percentage => q * t.price / Decimal::ONE_HUNDRED,
            PricingModel::Graduated | PricingModel::Volume => unreachable!("terms() makes per-event rates"),
        };
        let mut exact = (usage + t.connect_fee).max(t.minimum_charge);
        if let Some(cap) = t.maximum_charge {
            exact = exact.min(cap);
        }
        let unit = Decimal::new(1, minor);
        prop_assert!((price(&t, q, minor, mode) - exact).abs() < unit);
    }

    #[test]
    fn a_cap_is_never_exceeded_and_a_minimum_always_met(
        t in terms(), q in positive(100_000, 3), mode in mode()
    ) {
        let charge = price(&t, q, 2, mode);
        if let Some(cap) = t.maximum_charge {
            prop_assert!(charge <= mode.round(cap, 2), "{} above cap {}", charge, cap);
        }
        // The minimum is never above the cap (validated), so it always holds.
        prop_assert!(charge >= mode.round(t.minimum_charge, 2), "{} below minimum {}", charge, t.minimum_charge);
    }

    #[test]
    fn affordable_quantity_fits_the_budget_and_one_more_increment_does_not(
        t in terms(), budget in decimal(50, 2), mode in mode()
    ) {
        let granted = t.affordable_quantity(budget, &Currency { code: "XXX".into(), minor_units: 2 }, mode);
        if granted.is_zero() {
            prop_assert!(price(&t, t.increments().0, 2, mode) > budget);
        } else {
            prop_assert!(price(&t, granted, 2, mode) <= budget);
            let next = granted + t.increments().1;
            prop_assert!(next > MAX_QUANTITY || price(&t, next, 2, mode) > budget);
        }
    }
}

/// Rates that count units per period: graduated or volume tiers (up to four,
/// with boundaries below 300 units) or a per-unit rate with an allowance.
fn counting_terms() -> impl Strategy<Value = RateTerms> {
    let tiered = (
        prop_oneof![Just(PricingModel::Graduated), Just(PricingModel::Volume)],
        proptest::collection::btree_set(1i64..300, 0..4),
        proptest::collection::vec(decimal(2, 3), 4),
        positive(10, 0),
    )
        .prop_map(|(model, ends, prices, per_quantity)| {
            let mut starts: Vec<Decimal> = vec![Decimal::ZERO];
            starts.extend(ends.into_iter().map(Decimal::from));
            let tiers = starts
                .iter()
                .enumerate()
                .map(|(i, &from)| tiers::Tier {
                    from,
                    to: starts.get(i + 1).copied(),
                    price: prices[i],
                })
                .collect();
            RateTerms {
                model,
                tiers,
                ..RateTerms::per_unit(Decimal::ZERO, per_quantity, Decimal::ONE, Decimal::ONE)
            }
        });
    let bundled = (terms(), decimal(300, 0)).prop_map(|(terms, units)| RateTerms {
        model: PricingModel::PerUnit,
        allowance: Some(Allowance {
            name: "bundle".into(),
            units,
        }),
        ..terms
    });
    (
        prop_oneof![tiered, bundled],
        positive(20, 0),
        positive(20, 0),
    )
        .prop_map(|(terms, first_increment, next_increment)| {
            let terms = RateTerms {
                first_increment,
                next_increment,
                ..terms
            };
            assert_eq!(terms.validate(), Ok(()));
            terms
        })
}

proptest! {
    #[test]
    fn a_grant_on_a_counting_rate_is_where_the_first_increment_too_many_begins(
        t in counting_terms(), before in decimal(400, 0), budget in decimal(30, 2), mode in mode()
    ) {
        // Every increment, one after another, from the first: the grant ends
        // before the first one whose charge is over the budget.
        let currency = Currency { code: "XXX".into(), minor_units: 2 };
        let charge = |billed: Decimal| {
            t.price_counted(1, None, billed, before, &currency, mode).expect("in range").charge
        };
        let granted = t.affordable_counted(before, budget, &currency, mode);
        let (first, next) = t.increments();
        let billed_after = |steps: i64| first + next * Decimal::from(steps);
        const LOOKED_AT: i64 = 400;
        match (0..LOOKED_AT).find(|&steps| charge(billed_after(steps)) > budget) {
            Some(0) => prop_assert_eq!(granted, Decimal::ZERO),
            Some(over) => prop_assert_eq!(granted, billed_after(over - 1)),
            None => {
                prop_assert!(granted >= billed_after(LOOKED_AT - 1));
                prop_assert!(charge(granted) <= budget);
            }
        }
    }
}

mod split_calls {
    use super::*;
    use crate::engine::bands::tests::{berlin_peak_offpeak, utc};
    use crate::engine::{Period, Rate, Tariff, Timestamp, UsageEvent};

    const MINUTE: i64 = 60_000_000;

    fn voice(
        rate_id: i64,
        band: Option<&str>,
        price: Decimal,
        first: Decimal,
        next: Decimal,
    ) -> Rate {
        Rate {
            rate_id,
            service: "voice".into(),
            destination_prefix: String::new(),
            period: Period::new(Timestamp(i64::MIN), None),
            band: band.map(str::to_string),
            terms: RateTerms {
                in_seconds: true,
                ..RateTerms::per_unit(price, Decimal::from(60), first, next)
            },
        }
    }

    fn eur() -> Currency {
        Currency {
            code: "EUR".into(),
            minor_units: 2,
        }
    }

    proptest! {
        #[test]
        fn a_split_calls_parts_add_up_to_the_whole_call(
            minutes in 0i64..(366 * 24 * 60), seconds in decimal(200_000, 3)
        ) {
            let bands = berlin_peak_offpeak();
            let start = Timestamp(utc("2026-01-01 00:00").0 + minutes * MINUTE);
            let parts = bands.split(start, seconds).unwrap();
            prop_assert_eq!(parts.iter().map(|p| p.seconds).sum::<Decimal>(), seconds);
            prop_assert!(parts.iter().all(|p| p.seconds > Decimal::ZERO));
            prop_assert!(parts.windows(2).all(|w| w[0].band != w[1].band && w[0].starts < w[1].starts));
            prop_assert!(parts.first().is_none_or(|p| p.starts == start));
        }

        #[test]
        fn a_split_call_costs_between_all_cheap_and_all_dear(
            minutes in 0i64..(366 * 24 * 60), seconds in positive(20_000, 0),
            peak in decimal(2, 3), offpeak in decimal(2, 3),
            first in positive(60, 0), next in positive(60, 0), mode in mode()
        ) {
            let split = Tariff::compile(1, eur(), mode, chrono_tz::UTC, vec![
                voice(1, Some("peak"), peak, first, next),
                voice(2, Some("offpeak"), offpeak, first, next),
            ], Some(berlin_peak_offpeak())).unwrap();
            let event = UsageEvent {
                service: "voice",
                destination: None,
                quantity: seconds,
                occurred_at: Timestamp(utc("2026-01-01 00:00").0 + minutes * MINUTE),
            };
            let charge = split.rate(&event).unwrap().charge;
            let flat = |price| voice(3, None, price, first, next).terms.price(3, seconds, &eur(), mode).unwrap().charge;
            prop_assert!(flat(peak.min(offpeak)) <= charge && charge <= flat(peak.max(offpeak)),
                "{} not between {} and {}", charge, flat(peak.min(offpeak)), flat(peak.max(offpeak)));
        }
    }
}

mod tiered_periods {
    use super::*;
    use crate::engine::tiers::{self, Tier};

    prop_compose! {
        /// 1-4 tiers from 0 to an open end, boundaries up to 2,000 units.
        fn tiers()(bounds in proptest::collection::btree_set(1i64..2000, 0..4),
                   prices in proptest::collection::vec(decimal(1, 4), 4)) -> Vec<Tier> {
            let mut from = Decimal::ZERO;
            let mut tiers = Vec::new();
            for (i, bound) in bounds.iter().enumerate() {
                tiers.push(Tier { from, to: Some(Decimal::from(*bound)), price: prices[i] });
                from = Decimal::from(*bound);
            }
            tiers.push(Tier { from, to: None, price: prices[3] });
            tiers
        }
    }

    fn tiered() -> impl Strategy<Value = RateTerms> {
        (
            prop_oneof![Just(PricingModel::Graduated), Just(PricingModel::Volume)],
            tiers(),
            positive(100, 0),
            positive(10, 1),
        )
            .prop_map(|(model, tiers, per_quantity, increment)| {
                let mut terms = RateTerms {
                    model,
                    tiers,
                    ..RateTerms::per_unit(Decimal::ZERO, per_quantity, increment, increment)
                };
                terms.validate().unwrap();
                terms.validate_tiers().unwrap();
                terms
            })
    }

    /// Prices the rows one after another in one period; their charges and billed units.
    fn charge_rows(
        terms: &RateTerms,
        rows: &[Decimal],
        mode: RoundingMode,
    ) -> (Vec<Decimal>, Decimal) {
        let currency = Currency {
            code: "XXX".into(),
            minor_units: 2,
        };
        let mut before = Decimal::ZERO;
        let charges = rows
            .iter()
            .map(|q| {
                let priced = terms
                    .price_counted(1, None, *q, before, &currency, mode)
                    .unwrap();
                before += priced.billed_quantity;
                priced.charge
            })
            .collect();
        (charges, before)
    }

    proptest! {
        #[test]
        fn a_periods_charges_equal_the_formula_on_its_total_for_any_split_and_order(
            terms in tiered(),
            rows in proptest::collection::vec(decimal(500, 2), 1..25).prop_shuffle(),
            mode in mode()
        ) {
            let (charges, total) = charge_rows(&terms, &rows, mode);
            let formula = match terms.model {
                PricingModel::Graduated => tiers::graduated(&terms.tiers, total, terms.per_quantity),
                _ => tiers::volume(&terms.tiers, total, terms.per_quantity),
            }.unwrap();
            prop_assert_eq!(charges.iter().sum::<Decimal>(), mode.round(formula, 2));
            if terms.model == PricingModel::Graduated {
                prop_assert!(charges.iter().all(|c| *c >= Decimal::ZERO), "{:?}", charges);
            }
            // The same rows in reverse order cost the period the same.
            let reversed: Vec<Decimal> = rows.iter().rev().copied().collect();
            prop_assert_eq!(charge_rows(&terms, &reversed, mode).0.iter().sum::<Decimal>(), charges.iter().sum::<Decimal>());
        }

        #[test]
        fn an_allowance_gives_exactly_its_units_free_whatever_the_split(
            included in positive(5_000, 0),
            rows in proptest::collection::vec(positive(1_000, 0), 1..25)
        ) {
            // At 1 per unit and no fee, the charges count the paid units.
            let terms = RateTerms {
                allowance: Some(Allowance { name: "bundle".into(), units: included }),
                ..RateTerms::per_unit(Decimal::ONE, Decimal::ONE, Decimal::ONE, Decimal::ONE)
            };
            let (charges, total) = charge_rows(&terms, &rows, RoundingMode::HalfUp);
            let paid: Decimal = charges.iter().sum();
            prop_assert_eq!(paid, (total - included).max(Decimal::ZERO));
        }
    }
}
