//! Time bands: which band (peak, off-peak, weekend, ...) an instant falls in,
//! by the wall clock of the tariff's time zone, and where a call running from
//! that instant crosses into the next band.
//!
//! A tariff's bands are a weekly schedule that covers every second of every
//! day exactly once, plus holidays: local dates priced as one band all day.

use super::calendar::{instant, local, zone};
use super::{RatingError, TariffError, Timestamp};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use std::collections::HashMap;

const SECONDS_PER_DAY: u32 = 86_400;
const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
/// The most band changes one event may cross: a month of hourly bands. More
/// means a quantity that is not a real call's duration.
pub const MAX_BAND_CHANGES: usize = 24 * 31;

/// One row of `rating.time_band_hours`: `band` is in force on the ISO `days`
/// (1 Monday .. 7 Sunday) from `starts` to `ends`, seconds after local
/// midnight (`ends` 86400 is 24:00).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BandHours {
    pub band: String,
    pub days: Vec<u32>,
    pub starts: u32,
    pub ends: u32,
}

/// A tariff's compiled schedule.
#[derive(Debug)]
pub struct TimeBands {
    zone: Tz,
    /// Per weekday (0 Monday), the day's intervals in order: (starts, ends, band).
    week: [Vec<(u32, u32, usize)>; 7],
    names: Vec<String>,
    holidays: HashMap<NaiveDate, usize>,
}

/// One piece of a split event: its band, when it starts and how long it lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BandPart<'a> {
    pub band: &'a str,
    /// The band's index, as [`TimeBands::band_at`] gives it.
    pub index: usize,
    pub starts: Timestamp,
    pub seconds: Decimal,
}

fn clock(seconds: u32) -> String {
    format!("{:02}:{:02}", seconds / 3600, seconds % 3600 / 60)
}

impl TimeBands {
    /// Checks that the `hours` of the `declared` bands cover every day
    /// exactly once and indexes them; `None` when the tariff has no bands.
    pub fn compile(
        zone_name: &str,
        declared: Vec<String>,
        hours: Vec<BandHours>,
        holidays: Vec<(NaiveDate, String)>,
    ) -> Result<Option<TimeBands>, TariffError> {
        let zone = zone(zone_name)?;
        if declared.is_empty() && hours.is_empty() && holidays.is_empty() {
            return Ok(None);
        }
        let mut names: Vec<String> = declared;
        let mut week: [Vec<(u32, u32, usize)>; 7] = Default::default();
        for row in &hours {
            let band = intern(&mut names, &row.band);
            for &day in &row.days {
                let day = day.checked_sub(1).filter(|d| *d < 7).ok_or_else(|| {
                    TariffError::InvalidBandHours {
                        band: row.band.clone(),
                        reason: format!("day {day} is not an ISO weekday (1 Monday .. 7 Sunday)"),
                    }
                })?;
                if row.starts >= row.ends || row.ends > SECONDS_PER_DAY {
                    return Err(TariffError::InvalidBandHours {
                        band: row.band.clone(),
                        reason: format!(
                            "{} to {} is not a span of one day",
                            clock(row.starts),
                            clock(row.ends)
                        ),
                    });
                }
                week[day as usize].push((row.starts, row.ends, band));
            }
        }
        for (day, intervals) in week.iter_mut().enumerate() {
            intervals.sort();
            check_day_is_covered_once(DAY_NAMES[day], intervals, &names)?;
        }
        let holidays = holidays
            .into_iter()
            .map(|(date, band)| (date, intern(&mut names, &band)))
            .collect();
        Ok(Some(TimeBands {
            zone,
            week,
            names,
            holidays,
        }))
    }

    /// The band in force at `at`, the local time, and the second of its day
    /// at which that band's stretch ends.
    fn band_of_day(&self, at: Timestamp) -> Result<(usize, NaiveDateTime, u32), RatingError> {
        let local = local(self.zone, at)?;
        let date = local.date();
        match self.holidays.get(&date) {
            Some(&band) => Ok((band, local, SECONDS_PER_DAY)),
            None => {
                let second = local.num_seconds_from_midnight();
                let day = &self.week[date.weekday().num_days_from_monday() as usize];
                // compile() checked that every second of every day has a band.
                let &(_, ends, band) = day
                    .iter()
                    .find(|(starts, ends, _)| *starts <= second && second < *ends)
                    .ok_or(RatingError::BeyondTimeZone(at))?;
                Ok((band, local, ends))
            }
        }
    }

    /// The band in force at `at` (an index into [`TimeBands::name`]), and
    /// the instant that band's stretch ends.
    fn band_at(&self, at: Timestamp) -> Result<(usize, Timestamp), RatingError> {
        let (band, local, ends) = self.band_of_day(at)?;
        let end = self
            .stretch_end(at, local, ends)
            .ok_or(RatingError::BeyondTimeZone(at))?;
        Ok((band, end))
    }

    /// [`TimeBands::band_index`], and the instant that band's stretch ends
    /// where the zone's calendar reaches it (`None`: [`TimeBands::split`]
    /// says why not).
    pub fn band_and_end(&self, at: Timestamp) -> Result<(usize, Option<Timestamp>), RatingError> {
        let (band, local, ends) = self.band_of_day(at)?;
        Ok((band, self.stretch_end(at, local, ends)))
    }

    fn stretch_end(&self, at: Timestamp, local: NaiveDateTime, ends: u32) -> Option<Timestamp> {
        let midnight = local.date().and_time(chrono::NaiveTime::MIN);
        let end = instant(self.zone, midnight + Duration::seconds(i64::from(ends)))?;
        // Never stand still, whatever the zone's history does.
        Some(end.max(Timestamp(at.0 + 60_000_000)))
    }

    /// The band in force at `at`, as an index into [`TimeBands::name`].
    pub fn band_index(&self, at: Timestamp) -> Result<usize, RatingError> {
        self.band_of_day(at).map(|(band, _, _)| band)
    }

    pub fn name(&self, band: usize) -> &str {
        &self.names[band]
    }

    /// The index of a declared band.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Cuts `seconds` starting at `from` where the band changes; the parts'
    /// seconds add up to `seconds` exactly.
    pub fn split(
        &self,
        from: Timestamp,
        seconds: Decimal,
    ) -> Result<Vec<BandPart<'_>>, RatingError> {
        let mut parts: Vec<BandPart> = Vec::new();
        let (mut at, mut left) = (from, seconds);
        while left > Decimal::ZERO {
            if parts.len() > MAX_BAND_CHANGES {
                return Err(RatingError::TooManyBandChanges(seconds));
            }
            let (band, end) = self.band_at(at)?;
            let stretch = Decimal::new(end.0 - at.0, 6);
            let taken = left.min(stretch);
            match parts.last_mut() {
                Some(last) if last.index == band => last.seconds += taken,
                _ => parts.push(BandPart {
                    band: self.name(band),
                    index: band,
                    starts: at,
                    seconds: taken,
                }),
            }
            left -= taken;
            at = end;
        }
        Ok(parts)
    }
}

/// The index of `band` in `names`, added if new.
fn intern(names: &mut Vec<String>, band: &str) -> usize {
    names.iter().position(|n| n == band).unwrap_or_else(|| {
        names.push(band.to_string());
        names.len() - 1
    })
}

/// The day's intervals, sorted, must run from 00:00 to 24:00 without a gap
/// or an overlap.
fn check_day_is_covered_once(
    day: &'static str,
    intervals: &[(u32, u32, usize)],
    names: &[String],
) -> Result<(), TariffError> {
    let mut covered_to = 0;
    let mut last_band: Option<usize> = None;
    for &(starts, ends, band) in intervals {
        if starts > covered_to {
            return Err(TariffError::BandGap {
                day,
                from: clock(covered_to),
                to: clock(starts),
            });
        }
        if starts < covered_to {
            return Err(TariffError::BandOverlap {
                day,
                at: clock(starts),
                bands: (
                    names[last_band.unwrap_or(band)].clone(),
                    names[band].clone(),
                ),
            });
        }
        covered_to = ends;
        last_band = Some(band);
    }
    if covered_to < SECONDS_PER_DAY {
        return Err(TariffError::BandGap {
            day,
            from: clock(covered_to),
            to: clock(SECONDS_PER_DAY),
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::calendar::postgres_epoch;
    use super::*;
    use chrono::NaiveDateTime;

    /// Seconds after local midnight of "HH:MM".
    fn at(clock: &str) -> u32 {
        let (h, m) = clock.split_once(':').unwrap();
        h.parse::<u32>().unwrap() * 3600 + m.parse::<u32>().unwrap() * 60
    }

    fn hours(band: &str, days: &[u32], starts: &str, ends: &str) -> BandHours {
        BandHours {
            band: band.into(),
            days: days.to_vec(),
            starts: at(starts),
            ends: if ends == "24:00" {
                SECONDS_PER_DAY
            } else {
                at(ends)
            },
        }
    }

    /// UTC "YYYY-MM-DD HH:MM" as a Timestamp.
    pub(crate) fn utc(text: &str) -> Timestamp {
        let t = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
        Timestamp((t - postgres_epoch()).num_microseconds().unwrap())
    }

    /// Peak Monday to Friday 08:00-20:00 in Berlin, off-peak otherwise, and
    /// Christmas Day off-peak.
    pub(crate) fn berlin_peak_offpeak() -> TimeBands {
        TimeBands::compile(
            "Europe/Berlin",
            vec!["peak".into(), "offpeak".into()],
            vec![
                hours("offpeak", &[1, 2, 3, 4, 5], "00:00", "08:00"),
                hours("peak", &[1, 2, 3, 4, 5], "08:00", "20:00"),
                hours("offpeak", &[1, 2, 3, 4, 5], "20:00", "24:00"),
                hours("offpeak", &[6, 7], "00:00", "24:00"),
            ],
            vec![(
                NaiveDate::from_ymd_opt(2026, 12, 25).unwrap(),
                "offpeak".into(),
            )],
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn the_band_follows_the_local_wall_clock() {
        let bands = berlin_peak_offpeak();
        let cases = [
            ("2026-03-02 06:59", "offpeak"), // Monday 07:59 CET
            ("2026-03-02 07:00", "peak"),    // 08:00 CET
            ("2026-03-02 18:59", "peak"),    // 19:59 CET
            ("2026-03-02 19:00", "offpeak"), // 20:00 CET
            ("2026-03-07 12:00", "offpeak"), // Saturday
            ("2026-03-30 06:00", "peak"),    // Monday 08:00 CEST, after the change
            ("2026-03-30 05:59", "offpeak"), // 07:59 CEST
            ("2026-12-25 10:00", "offpeak"), // Christmas, a Friday
            ("2026-12-24 10:00", "peak"),
        ];
        for (instant, band) in cases {
            let index = bands.band_index(utc(instant)).unwrap();
            assert_eq!(bands.name(index), band, "{instant} UTC");
        }
    }

    #[test]
    fn a_call_is_cut_where_the_band_changes() {
        let bands = berlin_peak_offpeak();
        // Monday 19:55 CET for ten minutes: five in peak, five off-peak.
        let parts = bands
            .split(utc("2026-03-02 18:55"), Decimal::from(600))
            .unwrap();
        let summary: Vec<_> = parts.iter().map(|p| (p.band, p.seconds)).collect();
        assert_eq!(
            summary,
            [
                ("peak", Decimal::from(300)),
                ("offpeak", Decimal::from(300))
            ]
        );
        assert_eq!(parts[1].starts, utc("2026-03-02 19:00"));
        // Friday 19:00 CET to Monday 09:00 CET: off-peak all weekend is one part.
        let weekend = bands
            .split(utc("2026-03-06 18:00"), Decimal::from(62 * 3600))
            .unwrap();
        let summary: Vec<_> = weekend.iter().map(|p| (p.band, p.seconds)).collect();
        assert_eq!(
            summary,
            [
                ("peak", Decimal::from(3600)),
                ("offpeak", Decimal::from(60 * 3600)),
                ("peak", Decimal::from(3600))
            ]
        );
        // Fractions of a second stay exact.
        let odd = bands
            .split(utc("2026-03-02 18:59"), Decimal::new(605, 1))
            .unwrap();
        assert_eq!(
            odd.iter().map(|p| p.seconds).sum::<Decimal>(),
            Decimal::new(605, 1)
        );
        assert_eq!(odd[0].seconds, Decimal::from(60));
    }

    #[test]
    fn an_endless_duration_is_refused_not_looped_over() {
        let bands = berlin_peak_offpeak();
        let endless = Decimal::from(1_000_000_000_000_000i64);
        assert_eq!(
            bands.split(utc("2026-03-02 10:00"), endless),
            Err(RatingError::TooManyBandChanges(endless))
        );
    }

    #[test]
    fn schedules_with_gaps_overlaps_or_unknown_zones_are_refused() {
        let week = [1, 2, 3, 4, 5, 6, 7];
        let compile = |zone: &str, rows: Vec<BandHours>| {
            TimeBands::compile(zone, vec!["peak".into(), "offpeak".into()], rows, vec![])
                .map(|_| ())
        };
        assert_eq!(
            compile(
                "Europe/Berlin",
                vec![
                    hours("peak", &week, "00:00", "07:00"),
                    hours("offpeak", &week, "08:00", "24:00")
                ]
            ),
            Err(TariffError::BandGap {
                day: "Monday",
                from: "07:00".into(),
                to: "08:00".into()
            })
        );
        assert_eq!(
            compile(
                "Europe/Berlin",
                vec![
                    hours("peak", &week, "00:00", "09:00"),
                    hours("offpeak", &week, "08:00", "24:00")
                ]
            ),
            Err(TariffError::BandOverlap {
                day: "Monday",
                at: "08:00".into(),
                bands: ("peak".into(), "offpeak".into())
            })
        );
        assert_eq!(
            compile(
                "Europe/Berlin",
                vec![hours("peak", &[1, 2, 3, 4, 5, 6], "00:00", "24:00")]
            ),
            Err(TariffError::BandGap {
                day: "Sunday",
                from: "00:00".into(),
                to: "24:00".into()
            })
        );
        assert_eq!(
            compile(
                "Europe/Berlinn",
                vec![hours("peak", &week, "00:00", "24:00")]
            ),
            Err(TariffError::UnknownTimeZone("Europe/Berlinn".into()))
        );
        // Bands declared with no hours at all are a gap, not "no bands".
        assert_eq!(
            compile("UTC", vec![]),
            Err(TariffError::BandGap {
                day: "Monday",
                from: "00:00".into(),
                to: "24:00".into()
            })
        );
        assert!(TimeBands::compile("UTC", vec![], vec![], vec![])
            .unwrap()
            .is_none());
    }
}
