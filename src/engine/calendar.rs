//! Wall-clock time in a tariff's time zone: local time of an instant, the
//! instant of a local time, and the billing month an instant falls in.

use super::{Period, RatingError, TariffError, Timestamp};
use chrono::offset::LocalResult;
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

/// PostgreSQL's epoch, 2000-01-01 00:00 UTC, in chrono's terms.
pub(super) fn postgres_epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .expect("a valid date")
}

pub fn zone(name: &str) -> Result<Tz, TariffError> {
    name.parse::<Tz>()
        .map_err(|_| TariffError::UnknownTimeZone(name.to_string()))
}

/// The wall-clock time of `at` in `zone`.
pub(super) fn local(zone: Tz, at: Timestamp) -> Result<NaiveDateTime, RatingError> {
    let utc = postgres_epoch()
        .checked_add_signed(Duration::microseconds(at.0))
        .ok_or(RatingError::BeyondTimeZone(at))?;
    Ok(zone.from_utc_datetime(&utc).naive_local())
}

/// The first instant at which the wall clock of `zone` shows `local` or
/// later: a time skipped by a daylight-saving change begins when the clock
/// jumps; a repeated one, at its first occurrence.
pub(super) fn instant(zone: Tz, local: NaiveDateTime) -> Option<Timestamp> {
    let mut probe = local;
    for _ in 0..=4 * 24 {
        match zone.from_local_datetime(&probe) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                let since_epoch = t.naive_utc() - postgres_epoch();
                return since_epoch.num_microseconds().map(Timestamp);
            }
            LocalResult::None => probe += Duration::minutes(15),
        }
    }
    None
}

/// The calendar month of `zone` that `at` falls in: a billing period.
pub fn month_of(zone: Tz, at: Timestamp) -> Result<Period, RatingError> {
    let date = local(zone, at)?.date();
    let first = date.with_day(1).expect("every month has a first day");
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    };
    let midnight = |day: NaiveDate| instant(zone, day.and_time(chrono::NaiveTime::MIN));
    match (midnight(first), next.and_then(midnight)) {
        (Some(from), Some(to)) => Ok(Period::new(from, Some(to))),
        _ => Err(RatingError::BeyondTimeZone(at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::bands::tests::utc;

    #[test]
    fn a_billing_month_runs_from_local_midnight_to_local_midnight() {
        let berlin = zone("Europe/Berlin").unwrap();
        // 31 March 2026 23:30 UTC is already 1 April in Berlin (CEST, UTC+2).
        let april = month_of(berlin, utc("2026-03-31 23:30")).unwrap();
        assert_eq!(
            april,
            Period::new(utc("2026-03-31 22:00"), Some(utc("2026-04-30 22:00")))
        );
        // March holds the change to summer time: 31 days less one hour.
        let march = month_of(berlin, utc("2026-03-15 12:00")).unwrap();
        assert_eq!(
            march,
            Period::new(utc("2026-02-28 23:00"), Some(utc("2026-03-31 22:00")))
        );
        let december = month_of(zone("UTC").unwrap(), utc("2026-12-31 23:59")).unwrap();
        assert_eq!(
            december,
            Period::new(utc("2026-12-01 00:00"), Some(utc("2027-01-01 00:00")))
        );
    }
}
