//! A compiled tariff: rates indexed by service and destination prefix, each
//! prefix holding its versions by effective period.

use super::{
    Currency, Period, Priced, RateTerms, RatingError, RoundingMode, TariffError, Timestamp,
    MAX_QUANTITY,
};
use rust_decimal::Decimal;
use std::collections::HashMap;

/// One row of `rating.rates`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    pub rate_id: i64,
    pub service: String,
    /// Matched against the start of the event's destination; empty matches all.
    pub destination_prefix: String,
    pub period: Period,
    pub terms: RateTerms,
}

/// What the engine needs to know about one usage row.
#[derive(Debug, Clone, Copy)]
pub struct UsageEvent<'a> {
    pub service: &'a str,
    pub destination: Option<&'a str>,
    pub quantity: Decimal,
    pub occurred_at: Timestamp,
}

#[derive(Debug, Default)]
struct ServiceRates {
    /// Normalised prefix -> versions of that rate, sorted by start.
    by_prefix: HashMap<String, Vec<Rate>>,
    longest_prefix: usize,
}

#[derive(Debug)]
pub struct Tariff {
    pub tariff_id: i64,
    pub currency: Currency,
    pub rounding: RoundingMode,
    services: HashMap<String, ServiceRates>,
}

/// E.164 numbers arrive with and without the leading '+'; compare without it.
fn normalise_destination(destination: &str) -> &str {
    destination.strip_prefix('+').unwrap_or(destination)
}

impl Tariff {
    /// Validates every rate and indexes them; rejects overlapping versions.
    pub fn compile(
        tariff_id: i64,
        currency: Currency,
        rounding: RoundingMode,
        rates: impl IntoIterator<Item = Rate>,
    ) -> Result<Tariff, TariffError> {
        let mut services: HashMap<String, ServiceRates> = HashMap::new();
        for rate in rates {
            rate.terms.validate()?;
            if rate.period.is_empty() {
                return Err(TariffError::EmptyPeriod {
                    rate_id: rate.rate_id,
                });
            }
            let prefix = normalise_destination(&rate.destination_prefix).to_string();
            let service = services.entry(rate.service.clone()).or_default();
            service.longest_prefix = service.longest_prefix.max(prefix.len());
            let versions = service.by_prefix.entry(prefix).or_default();
            if let Some(other) = versions.iter().find(|v| v.period.overlaps(&rate.period)) {
                return Err(TariffError::OverlappingVersions {
                    rate_id: rate.rate_id,
                    other_rate_id: other.rate_id,
                });
            }
            versions.push(rate);
        }
        for service in services.values_mut() {
            for versions in service.by_prefix.values_mut() {
                versions.sort_by_key(|v| v.period.from);
            }
        }
        Ok(Tariff {
            tariff_id,
            currency,
            rounding,
            services,
        })
    }

    /// The rate for the event: its service, then the longest destination
    /// prefix that has a version in force at `occurred_at`.
    pub fn select_rate(&self, event: &UsageEvent) -> Result<&Rate, RatingError> {
        let no_rate = || RatingError::NoRate {
            service: event.service.to_string(),
            destination: event.destination.map(str::to_string),
        };
        let service = self.services.get(event.service).ok_or_else(no_rate)?;
        let destination = normalise_destination(event.destination.unwrap_or(""));
        let longest = service.longest_prefix.min(destination.len());
        (0..=longest)
            .rev()
            .filter(|&len| destination.is_char_boundary(len))
            .filter_map(|len| service.by_prefix.get(&destination[..len]))
            .find_map(|versions| {
                versions
                    .iter()
                    .find(|v| v.period.contains(event.occurred_at))
            })
            .ok_or_else(no_rate)
    }

    /// Checks the quantity, selects the rate and prices the event.
    pub fn rate(&self, event: &UsageEvent) -> Result<Priced, RatingError> {
        if event.quantity < Decimal::ZERO {
            return Err(RatingError::NegativeQuantity(event.quantity));
        }
        if event.quantity > MAX_QUANTITY {
            return Err(RatingError::QuantityTooLarge(event.quantity));
        }
        let rate = self.select_rate(event)?;
        rate.terms
            .price(rate.rate_id, event.quantity, &self.currency, self.rounding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const DAY: i64 = 86_400_000_000;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn rate(
        rate_id: i64,
        service: &str,
        prefix: &str,
        price: &str,
        from_day: i64,
        to_day: Option<i64>,
    ) -> Rate {
        Rate {
            rate_id,
            service: service.into(),
            destination_prefix: prefix.into(),
            period: Period::new(
                Timestamp(from_day * DAY),
                to_day.map(|t| Timestamp(t * DAY)),
            ),
            terms: RateTerms {
                price: d(price),
                per_quantity: d("60"),
                first_increment: d("60"),
                next_increment: d("60"),
                connect_fee: Decimal::ZERO,
                minimum_charge: Decimal::ZERO,
            },
        }
    }

    fn tariff(rates: Vec<Rate>) -> Result<Tariff, TariffError> {
        let eur = Currency {
            code: "EUR".into(),
            minor_units: 2,
        };
        Tariff::compile(1, eur, RoundingMode::HalfUp, rates)
    }

    fn event<'a>(service: &'a str, destination: Option<&'a str>, day: i64) -> UsageEvent<'a> {
        UsageEvent {
            service,
            destination,
            quantity: d("60"),
            occurred_at: Timestamp(day * DAY),
        }
    }

    fn phone_tariff() -> Tariff {
        tariff(vec![
            rate(1, "voice", "", "0.30", 0, None),
            rate(2, "voice", "44", "0.10", 0, None),
            rate(3, "voice", "447", "0.20", 0, Some(100)),
            rate(4, "voice", "447", "0.15", 100, None),
            rate(5, "sms", "", "0.05", 0, None),
            rate(6, "voice", "4420", "0.05", 50, None),
        ])
        .unwrap()
    }

    #[test]
    fn longest_prefix_in_force_wins() {
        let t = phone_tariff();
        let cases = [
            (Some("+447700900123"), 10, 3),
            (Some("447700900123"), 150, 4),
            (Some("442079460000"), 10, 2), // 4420 is not in force before day 50
            (Some("442079460000"), 60, 6),
            (Some("4412"), 10, 2),
            (Some("33123"), 10, 1),
            (None, 10, 1),
            (Some(""), 10, 1),
            (Some("4"), 10, 1),
        ];
        for (destination, day, expected) in cases {
            let chosen = t.select_rate(&event("voice", destination, day)).unwrap();
            assert_eq!(chosen.rate_id, expected, "{destination:?} on day {day}");
        }
    }

    #[test]
    fn unknown_service_or_uncovered_time_has_no_rate() {
        let t = phone_tariff();
        assert_eq!(
            t.select_rate(&event("data", None, 10)).unwrap_err(),
            RatingError::NoRate {
                service: "data".into(),
                destination: None
            }
        );
        assert!(t.select_rate(&event("voice", Some("44"), -1)).is_err());
    }

    #[test]
    fn destinations_with_multibyte_characters_do_not_panic() {
        let t = phone_tariff();
        assert_eq!(
            t.select_rate(&event("voice", Some("4€4"), 10))
                .unwrap()
                .rate_id,
            1
        );
    }

    #[test]
    fn overlapping_versions_are_rejected() {
        let err = tariff(vec![
            rate(1, "voice", "44", "0.1", 0, Some(10)),
            rate(2, "voice", "+44", "0.1", 9, None),
        ]);
        assert_eq!(
            err.unwrap_err(),
            TariffError::OverlappingVersions {
                rate_id: 2,
                other_rate_id: 1
            }
        );
        let adjacent = tariff(vec![
            rate(1, "voice", "44", "0.1", 0, Some(10)),
            rate(2, "voice", "44", "0.1", 10, None),
        ]);
        assert!(adjacent.is_ok());
    }

    #[test]
    fn empty_period_is_rejected() {
        let err = tariff(vec![rate(7, "voice", "", "0.1", 5, Some(5))]);
        assert_eq!(err.unwrap_err(), TariffError::EmptyPeriod { rate_id: 7 });
    }

    #[test]
    fn quantity_bounds() {
        let t = phone_tariff();
        let mut e = event("voice", None, 10);
        e.quantity = d("-1");
        assert_eq!(
            t.rate(&e).unwrap_err(),
            RatingError::NegativeQuantity(d("-1"))
        );
        e.quantity = MAX_QUANTITY + Decimal::ONE;
        assert!(matches!(
            t.rate(&e).unwrap_err(),
            RatingError::QuantityTooLarge(_)
        ));
        e.quantity = MAX_QUANTITY;
        assert!(t.rate(&e).is_ok());
    }

    #[test]
    fn rate_prices_with_the_selected_rate() {
        let t = phone_tariff();
        let mut e = event("voice", Some("447700900123"), 150);
        e.quantity = d("61");
        let priced = t.rate(&e).unwrap();
        assert_eq!(
            (priced.rate_id, priced.charge.to_string()),
            (4, "0.30".to_string())
        );
    }
}
