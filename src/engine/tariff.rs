//! A compiled tariff: rates indexed by service and destination prefix, each
//! prefix holding its versions by effective period and time band.

use super::bands::TimeBands;
use super::calendar::month_of;
use super::prefixes::PrefixTrie;
use super::{
    Currency, Period, Priced, RateTerms, RatingError, RoundingMode, SplitPart, TariffError,
    Timestamp, MAX_QUANTITY,
};
use chrono_tz::Tz;
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
    /// The time band the rate prices; `None`: any time. For one prefix, a
    /// rate for the band in force wins over a rate for any time.
    pub band: Option<String>,
    pub terms: RateTerms,
}

/// A count of units per account and billing period that pricing an event
/// reads and adds to: the period's units of a tiered rate, or what is used of
/// an allowance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterUse {
    /// Which count: "tiers data", "tiers voice to 44", "allowance Minutes".
    pub counter: String,
    /// The billing period: a calendar month of the tariff's time zone.
    pub period: Period,
    /// For an allowance, the units it includes per period.
    pub included: Option<Decimal>,
    /// The event's billed units, which the count grows by.
    pub units: Decimal,
}

impl Rate {
    /// The counter this rate's events are counted in, and what it includes.
    pub fn counter(&self) -> Option<(String, Option<Decimal>)> {
        if self.terms.model.is_tiered() {
            let to = if self.destination_prefix.is_empty() {
                String::new()
            } else {
                format!(" to {}", normalise_destination(&self.destination_prefix))
            };
            return Some((format!("tiers {}{to}", self.service), None));
        }
        let allowance = self.terms.allowance.as_ref()?;
        Some((
            format!("allowance {}", allowance.name),
            Some(allowance.units),
        ))
    }
}

/// What the engine needs to know about one usage row.
#[derive(Debug, Clone, Copy)]
pub struct UsageEvent<'a> {
    pub service: &'a str,
    pub destination: Option<&'a str>,
    pub quantity: Decimal,
    pub occurred_at: Timestamp,
}

/// [`Version::band`] of a rate for any time.
const ANY_TIME: u32 = u32::MAX;
/// [`Version::band`] of a rate for a band the schedule does not declare,
/// which is never in force.
const UNDECLARED_BAND: u32 = u32::MAX - 1;

/// A version of a rate as the search reads it: what decides whether it
/// applies, small and side by side with the other versions of its prefix, so
/// that only the chosen rate itself is read.
#[derive(Debug, Clone, Copy)]
struct Version {
    period: Period,
    /// The index of its time band in the tariff's schedule, or [`ANY_TIME`]
    /// or [`UNDECLARED_BAND`].
    band: u32,
    /// Its place in [`Tariff::rates`].
    rate: u32,
    /// How many versions its prefix has (this one among them).
    of_prefix: u32,
}

/// One service's rates: the versions of each prefix side by side (for each
/// band, sorted by start), found by the prefix's first.
#[derive(Debug)]
struct ServiceRates {
    prefixes: PrefixTrie,
    versions: Vec<Version>,
}

#[derive(Debug)]
pub struct Tariff {
    pub tariff_id: i64,
    pub currency: Currency,
    pub rounding: RoundingMode,
    services: HashMap<String, ServiceRates>,
    rates: Vec<Rate>,
    bands: Option<TimeBands>,
    /// The zone whose calendar months are billing periods.
    zone: Tz,
}

/// The version for `band` (a band index or [`ANY_TIME`]) in force at `at`.
fn in_force(versions: &[Version], band: u32, at: Timestamp) -> Option<&Version> {
    versions
        .iter()
        .find(|v| v.band == band && v.period.contains(at))
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
        zone: Tz,
        rates: impl IntoIterator<Item = Rate>,
        bands: Option<TimeBands>,
    ) -> Result<Tariff, TariffError> {
        let mut services: HashMap<String, HashMap<String, Vec<Rate>>> = HashMap::new();
        for mut rate in rates {
            rate.terms.validate()?;
            rate.terms.validate_tiers()?;
            if rate.period.is_empty() {
                return Err(TariffError::EmptyPeriod {
                    rate_id: rate.rate_id,
                });
            }
            let service = services.entry(rate.service.clone()).or_default();
            let prefix = normalise_destination(&rate.destination_prefix).to_string();
            let versions = service.entry(prefix).or_default();
            if let Some(other) = versions
                .iter()
                .find(|v| v.band == rate.band && v.period.overlaps(&rate.period))
            {
                return Err(TariffError::OverlappingVersions {
                    rate_id: rate.rate_id,
                    other_rate_id: other.rate_id,
                });
            }
            versions.push(rate);
        }
        let band_index = |band: &Option<String>| match band {
            None => ANY_TIME,
            Some(name) => bands
                .as_ref()
                .and_then(|bands| bands.index_of(name))
                .map_or(UNDECLARED_BAND, |index| index as u32),
        };
        let mut all_rates = Vec::new();
        let services = services
            .into_iter()
            .map(|(service, by_prefix)| {
                let mut versions = Vec::new();
                let prefixes = by_prefix
                    .into_iter()
                    .map(|(prefix, mut of_prefix)| {
                        of_prefix.sort_by_key(|v| v.period.from);
                        let first = versions.len() as u32;
                        for (i, rate) in of_prefix.iter().enumerate() {
                            versions.push(Version {
                                period: rate.period,
                                band: band_index(&rate.band),
                                rate: (all_rates.len() + i) as u32,
                                of_prefix: of_prefix.len() as u32,
                            });
                        }
                        all_rates.extend(of_prefix);
                        (prefix, first)
                    })
                    .collect();
                (service, ServiceRates { prefixes, versions })
            })
            .collect();
        Ok(Tariff {
            tariff_id,
            currency,
            rounding,
            services,
            rates: all_rates,
            bands,
            zone,
        })
    }

    /// The rate for the event: its service, then the longest destination
    /// prefix that has a version in force at `occurred_at` for the time band
    /// of that moment (or for any time).
    pub fn select_rate(&self, event: &UsageEvent) -> Result<&Rate, RatingError> {
        let band = match &self.bands {
            Some(bands) => Some(bands.band_index(event.occurred_at)?),
            None => None,
        };
        self.select_in_band(event, event.occurred_at, band)
    }

    /// What `budget` buys of the event's service at its moment: the largest
    /// billed quantity a session may use, and the rate that prices it.
    /// Where that rate counts units per period, `count` answers how many the
    /// period holds already, and the grant is priced on top of them.
    pub fn affordable(
        &self,
        event: &UsageEvent,
        budget: Decimal,
        count: impl FnOnce(&CounterUse) -> Decimal,
    ) -> Result<(Decimal, i64), RatingError> {
        let rate = self.select_rate(event)?;
        let quantity = match rate.counter() {
            None => rate
                .terms
                .affordable_quantity(budget, &self.currency, self.rounding),
            Some((counter, included)) => {
                let before = count(&CounterUse {
                    counter,
                    period: month_of(self.zone, event.occurred_at)?,
                    included,
                    units: Decimal::ZERO,
                });
                rate.terms
                    .affordable_counted(before, budget, &self.currency, self.rounding)
            }
        };
        Ok((quantity, rate.rate_id))
    }

    /// [`Tariff::select_rate`] for the time band with this index.
    fn select_in_band(
        &self,
        event: &UsageEvent,
        at: Timestamp,
        band: Option<usize>,
    ) -> Result<&Rate, RatingError> {
        let no_rate = || RatingError::NoRate {
            service: event.service.to_string(),
            destination: event.destination.map(str::to_string),
        };
        let service = self.services.get(event.service).ok_or_else(no_rate)?;
        let destination = normalise_destination(event.destination.unwrap_or(""));
        let chosen = service
            .prefixes
            .longest(destination, |first| {
                let first = first as usize;
                let versions = &service.versions[first..];
                let versions = &versions[..versions[0].of_prefix as usize];
                band.and_then(|band| in_force(versions, band as u32, at))
                    .or_else(|| in_force(versions, ANY_TIME, at))
            })
            .ok_or_else(no_rate)?;
        Ok(&self.rates[chosen.rate as usize])
    }

    /// Prices a duration that crosses time-band changes part by part; `None`
    /// when it stays in one band.
    fn rate_split(
        &self,
        first: &Rate,
        event: &UsageEvent,
        bands: &TimeBands,
    ) -> Result<Option<Priced>, RatingError> {
        let pieces = bands.split(event.occurred_at, event.quantity)?;
        if pieces.len() < 2 {
            return Ok(None);
        }
        let mut parts = Vec::with_capacity(pieces.len());
        for piece in &pieces {
            let rate = self.select_in_band(event, piece.starts, Some(piece.index))?;
            if !rate.terms.in_seconds {
                return Err(RatingError::MixedUnits {
                    rate_id: first.rate_id,
                    other_rate_id: rate.rate_id,
                });
            }
            parts.push(SplitPart {
                rate_id: rate.rate_id,
                band: piece.band,
                terms: &rate.terms,
                seconds: piece.seconds,
            });
        }
        first
            .terms
            .price_split(
                first.rate_id,
                event.quantity,
                &parts,
                &self.currency,
                self.rounding,
            )
            .map(Some)
    }

    /// Checks the quantity, selects the rate and prices the event, as the
    /// first event of its billing period where the rate counts units.
    pub fn rate(&self, event: &UsageEvent) -> Result<Priced, RatingError> {
        self.rate_counted(event, |_| Decimal::ZERO)
    }

    /// Checks the quantity, selects the rate and prices the event; where the
    /// rate counts units per period, `count` is told the counter, period and
    /// the event's units and answers how many the period had before it.
    pub fn rate_counted(
        &self,
        event: &UsageEvent,
        count: impl FnOnce(&CounterUse) -> Decimal,
    ) -> Result<Priced, RatingError> {
        if event.quantity < Decimal::ZERO {
            return Err(RatingError::NegativeQuantity(event.quantity));
        }
        if event.quantity > MAX_QUANTITY {
            return Err(RatingError::QuantityTooLarge(event.quantity));
        }
        // The band and where its stretch ends, worked out once: most calls
        // end within it and need no split.
        let band = match &self.bands {
            Some(bands) => Some(bands.band_and_end(event.occurred_at)?),
            None => None,
        };
        let rate = self.select_in_band(event, event.occurred_at, band.map(|(index, _)| index))?;
        // A rate of a band matched the band in force: its name is the
        // schedule's, already in cache, where the rate's own copy is not.
        let band_name = match (&rate.band, &self.bands, band) {
            (Some(_), Some(bands), Some((index, _))) => Some(bands.name(index)),
            _ => None,
        };
        if let Some((counter, included)) = rate.counter() {
            let out_of_range = RatingError::ChargeOutOfRange {
                rate_id: rate.rate_id,
            };
            let units = rate
                .terms
                .billed_quantity(event.quantity)
                .ok_or(out_of_range)?;
            let before = if units.is_zero() {
                Decimal::ZERO
            } else {
                count(&CounterUse {
                    counter,
                    period: month_of(self.zone, event.occurred_at)?,
                    included,
                    units,
                })
            };
            return rate.terms.price_counted(
                rate.rate_id,
                band_name,
                event.quantity,
                before,
                &self.currency,
                self.rounding,
            );
        }
        if let (Some(bands), Some((_, stretch_ends))) = (&self.bands, band) {
            let in_stretch = stretch_ends.map(|ends| Decimal::new(ends.0 - event.occurred_at.0, 6));
            let crosses = in_stretch.is_none_or(|seconds| event.quantity > seconds);
            if rate.terms.in_seconds && !event.quantity.is_zero() && crosses {
                if let Some(priced) = self.rate_split(rate, event, bands)? {
                    return Ok(priced);
                }
            }
        }
        rate.terms.price_labelled(
            rate.rate_id,
            band_name,
            event.quantity,
            &self.currency,
            self.rounding,
        )
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
            band: None,
            terms: RateTerms::per_unit(d(price), d("60"), d("60"), d("60")),
        }
    }

    fn tariff(rates: Vec<Rate>) -> Result<Tariff, TariffError> {
        let eur = Currency {
            code: "EUR".into(),
            minor_units: 2,
        };
        Tariff::compile(1, eur, RoundingMode::HalfUp, chrono_tz::UTC, rates, None)
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

#[cfg(test)]
mod band_tests {
    use super::*;
    use crate::engine::bands::tests::{berlin_peak_offpeak, utc};
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn voice(rate_id: i64, prefix: &str, band: Option<&str>, price: &str) -> Rate {
        Rate {
            rate_id,
            service: "voice".into(),
            destination_prefix: prefix.into(),
            period: Period::new(Timestamp(i64::MIN), None),
            band: band.map(str::to_string),
            terms: RateTerms {
                in_seconds: true,
                connect_fee: d("0.05"),
                ..RateTerms::per_unit(d(price), d("60"), d("60"), d("1"))
            },
        }
    }

    fn tariff() -> Tariff {
        let eur = Currency {
            code: "EUR".into(),
            minor_units: 2,
        };
        let rates = vec![
            voice(1, "", Some("peak"), "0.20"),
            voice(2, "", Some("offpeak"), "0.05"),
            voice(3, "44", None, "0.30"), // the UK costs the same at any time
        ];
        Tariff::compile(
            7,
            eur,
            RoundingMode::HalfUp,
            chrono_tz::UTC,
            rates,
            Some(berlin_peak_offpeak()),
        )
        .unwrap()
    }

    fn call(destination: &str, at: &str, seconds: &str) -> Priced {
        let event = UsageEvent {
            service: "voice",
            destination: Some(destination),
            quantity: d(seconds),
            occurred_at: utc(at),
        };
        tariff().rate(&event).unwrap()
    }

    #[test]
    fn a_call_across_a_band_change_is_priced_part_by_part() {
        // Monday 19:55 CET, 610 s: 300 s peak at 0.20/min = 1.00, 310 s
        // off-peak at 0.05/min = 0.258333..., plus 0.05 connect: 1.308333 -> 1.31.
        let priced = call("4930123", "2026-03-02 18:55", "610");
        assert_eq!((priced.rate_id, priced.charge), (1, d("1.31")));
        assert_eq!(
            priced.breakdown,
            "rate 1: quantity 610 billed as 610 (60/1 increments), split at time-band changes: \
             300 s peak at 0.2 per 60 (rate 1) = 1 + 310 s offpeak at 0.05 per 60 (rate 2) = 0.2583333333333333333333333333; \
             connect fee 0.05; charge 1.31 EUR (half_up to 2 decimals)"
        );
    }

    #[test]
    fn a_call_within_one_band_names_its_band() {
        let priced = call("4930123", "2026-03-07 12:00", "120");
        assert_eq!(priced.rate_id, 2);
        assert_eq!(
            priced.breakdown,
            "rate 2 (offpeak): quantity 120 billed as 120 (60/1 increments) at 0.05 per 60 = 0.1; connect fee 0.05; charge 0.15 EUR (half_up to 2 decimals)"
        );
        // An any-time rate of a longer prefix still wins over a band of a shorter one.
        assert_eq!(call("447700900123", "2026-03-02 10:00", "60").rate_id, 3);
    }

    #[test]
    fn a_band_rate_wins_over_an_any_time_rate_of_the_same_prefix() {
        let eur = Currency {
            code: "EUR".into(),
            minor_units: 2,
        };
        let rates = vec![
            voice(1, "", None, "0.10"),
            voice(2, "", Some("offpeak"), "0.01"),
        ];
        let tariff = Tariff::compile(
            7,
            eur,
            RoundingMode::HalfUp,
            chrono_tz::UTC,
            rates,
            Some(berlin_peak_offpeak()),
        )
        .unwrap();
        let at = |when: &str| UsageEvent {
            service: "voice",
            destination: None,
            quantity: d("0"),
            occurred_at: utc(when),
        };
        assert_eq!(
            tariff.select_rate(&at("2026-03-07 12:00")).unwrap().rate_id,
            2
        );
        assert_eq!(
            tariff.select_rate(&at("2026-03-02 10:00")).unwrap().rate_id,
            1
        );
    }
}
