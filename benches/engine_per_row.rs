//! The rating engine alone, per event, on the two tariffs of bench/setup.sql
//! (one rate; 10,000 prefixes with peak and off-peak rates in Berlin time)
//! and its usage rows: `cargo bench --bench engine_per_row`. Prints the
//! median of five runs; a figure to compare runs of one machine, not a test.

use pg_rating::engine::bands::{BandHours, TimeBands};
use pg_rating::engine::{
    Currency, Period, Rate, RateTerms, RoundingMode, Tariff, Timestamp, UsageEvent,
};
use rust_decimal::Decimal;
use std::time::Instant;

const EVENTS: i64 = 400_000;
const RUNS: usize = 5;

fn rate(rate_id: i64, prefix: String, band: Option<&str>, price: Decimal) -> Rate {
    let mut terms = RateTerms::per_unit(price, 60.into(), 60.into(), 1.into());
    terms.in_seconds = band.is_some();
    Rate {
        rate_id,
        service: "voice".into(),
        destination_prefix: prefix,
        period: Period::new(Timestamp(i64::MIN / 2), None),
        band: band.map(str::to_string),
        terms,
    }
}

fn hours(band: &str, days: &[u32], starts: u32, ends: u32) -> BandHours {
    BandHours {
        band: band.into(),
        days: days.to_vec(),
        starts: starts * 3600,
        ends: ends * 3600,
    }
}

fn tariff(ten_thousand: bool) -> Tariff {
    let euro = Currency {
        code: "EUR".into(),
        minor_units: 2,
    };
    let zone = chrono_tz::Europe::Berlin;
    if !ten_thousand {
        let rates = [rate(1, String::new(), None, Decimal::new(9, 2))];
        return Tariff::compile(1, euro, RoundingMode::HalfUp, zone, rates, None).unwrap();
    }
    let rates = (0..10_000i64).flat_map(|p| {
        let extra = Decimal::new(p % 50, 3);
        [
            rate(
                2 * p,
                (1000 + p).to_string(),
                Some("peak"),
                Decimal::new(10, 2) + extra,
            ),
            rate(
                2 * p + 1,
                (1000 + p).to_string(),
                Some("offpeak"),
                Decimal::new(4, 2) + extra,
            ),
        ]
    });
    let weekdays = [1, 2, 3, 4, 5];
    let bands = TimeBands::compile(
        "Europe/Berlin",
        vec!["peak".into(), "offpeak".into()],
        vec![
            hours("offpeak", &weekdays, 0, 8),
            hours("peak", &weekdays, 8, 20),
            hours("offpeak", &weekdays, 20, 24),
            hours("offpeak", &[6, 7], 0, 24),
        ],
        Vec::new(),
    )
    .unwrap();
    Tariff::compile(2, euro, RoundingMode::HalfUp, zone, rates, bands).unwrap()
}

/// bench.calls(): g * 3 s after 2026-11-02 00:00+01, 1 + (g * 37) % 900
/// seconds, to one of the 10,000 prefixes.
fn nanoseconds_per_event(tariff: &Tariff, destinations: &[String]) -> f64 {
    let first = Timestamp(846_975_600_000_000);
    let start = Instant::now();
    let mut total = Decimal::ZERO;
    for g in 0..EVENTS {
        let event = UsageEvent {
            service: "voice",
            destination: Some(&destinations[g as usize]),
            quantity: Decimal::from(1 + (g * 37) % 900),
            occurred_at: Timestamp(first.0 + g * 3_000_000),
        };
        total += tariff.rate(&event).unwrap().charge;
    }
    assert!(total > Decimal::ZERO);
    start.elapsed().as_nanos() as f64 / EVENTS as f64
}

fn main() {
    let destinations: Vec<String> = (0..EVENTS)
        .map(|g| format!("+{}{:05}", 1000 + (g * 7919) % 10_000, g % 100_000))
        .collect();
    for (name, ten_thousand) in [("1 rate", false), ("10k prefixes+bands", true)] {
        let tariff = tariff(ten_thousand);
        let mut runs: Vec<f64> = (0..RUNS)
            .map(|_| nanoseconds_per_event(&tariff, &destinations))
            .collect();
        runs.sort_by(f64::total_cmp);
        println!(
            "{name:<20} {:>6.0} ns per event (median of {RUNS})",
            runs[RUNS / 2]
        );
    }
}
