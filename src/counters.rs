//! The per-account, per-period counts of units (`rating.usage_counters`)
//! that tiered rates and allowances price against: grown by the insert
//! trigger, only read by quotes.

use crate::engine::{CounterUse, Period, Timestamp};
use crate::errors::{raise, report_internal};
use crate::numeric::{to_decimal, to_numeric};
use crate::plans::{kept, INT8, NUMERIC, TEXT, TIMESTAMPTZ};
use pgrx::prelude::*;
use pgrx::AnyNumeric;
use rust_decimal::Decimal;

const RECORD: &str = include_str!("../sql/queries/record_counter.sql");
const PEEK: &str = include_str!("../sql/queries/peek_counter.sql");
const SET: &str = include_str!("../sql/queries/set_counter.sql");

/// Whether pricing an event adds its units to the count.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    /// An inserted usage row: the count grows, under its row lock.
    Record,
    /// A quote: what the next event would cost; nothing changes.
    Peek,
}

fn instant(at: Timestamp, what: &str) -> TimestampWithTimeZone {
    TimestampWithTimeZone::try_from(at.0)
        .unwrap_or_else(|e| raise(report_internal(format!("{what} {}: {e}", at.0))))
}

/// The units the account's counter held for the period before this event.
pub fn units_before(account_id: i64, count: &CounterUse, counting: Counting) -> Decimal {
    let held = match counting {
        Counting::Record => upsert(
            RECORD,
            account_id,
            &count.counter,
            count.period,
            count.included,
            count.units,
        ),
        Counting::Peek => Spi::connect(|client| {
            let start = instant(count.period.from, "period start");
            let plan = kept(client, PEEK, &[INT8, TEXT, TIMESTAMPTZ], false)?;
            let args = [
                account_id.into(),
                count.counter.as_str().into(),
                start.into(),
            ];
            client
                .select(&*plan, Some(1), &args)?
                .first()
                .get_one::<AnyNumeric>()
        }),
    };
    let held = held.unwrap_or_else(|e| {
        raise(report_internal(format!(
            "counter \"{}\" of account {account_id}: {e}",
            count.counter
        )))
    });
    held.map_or(Decimal::ZERO, |units| {
        to_decimal(&units)
            .unwrap_or_else(|e| raise(report_internal(format!("counter units: {e:?}"))))
    })
}

/// Sets the account's counter for a period to `units`: what rerating, which
/// counts a period's rows again, found it holds.
pub fn set_units(
    account_id: i64,
    counter: &str,
    period: Period,
    included: Option<Decimal>,
    units: Decimal,
) {
    upsert(SET, account_id, counter, period, included, units).unwrap_or_else(|e| {
        raise(report_internal(format!(
            "setting counter \"{counter}\" of account {account_id}: {e}"
        )))
    });
}

/// Runs `query`, an upsert of the account's counter row for a period taking
/// (account, counter, start, end, units, included), and returns the one
/// value it returns.
fn upsert(
    query: &'static str,
    account_id: i64,
    counter: &str,
    period: Period,
    included: Option<Decimal>,
    units: Decimal,
) -> Result<Option<AnyNumeric>, pgrx::spi::SpiError> {
    let start = instant(period.from, "period start");
    let end = period.to.map(|to| instant(to, "period end"));
    Spi::connect_mut(|client| {
        let types = [INT8, TEXT, TIMESTAMPTZ, TIMESTAMPTZ, NUMERIC, NUMERIC];
        let plan = kept(client, query, &types, true)?;
        let args = [
            account_id.into(),
            counter.into(),
            start.into(),
            end.into(),
            to_numeric(units).into(),
            included.map(to_numeric).into(),
        ];
        // No row limit on a statement that writes: see posting.rs.
        client
            .update(&*plan, None, &args)?
            .first()
            .get_one::<AnyNumeric>()
    })
}
