//! `rating.reprice()`: an account's rated usage priced again with the
//! tariffs as they now stand, for `rating.rerate()` to post the differences.
//!
//! Rows priced against a count of their billing month's units (tiers,
//! allowances) are replayed in the order they were counted, from the start
//! of the month: a month the window touches is repriced whole, so its
//! charges again add up to the price list's formula on its total, and its
//! counters are set to what the replay counted.

use crate::counters;
use crate::engine::Period;
use crate::errors::{raise, report_internal};
use crate::numeric::NumericAsDecimal;
use crate::plans::{kept, INT8, TIMESTAMPTZ};
use crate::usage::{self, Rated, UsageInput};
use pgrx::datum::{FromDatum, IntoDatum};
use pgrx::prelude::*;
use pgrx::spi::SpiHeapTupleData;
use pgrx::AnyNumeric;
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};

const ACCOUNT_RATED_USAGE: &str = include_str!("../sql/queries/account_rated_usage.sql");

/// A counter of one billing month: its name and the month's start.
type CounterMonth = (String, i64);

struct Repriced {
    usage_id: i64,
    in_window: bool,
    counted_in: Option<CounterMonth>,
    rated: Rated,
}

/// What a month's counter holds after the replay.
struct Count {
    period: Period,
    included: Option<Decimal>,
    units: Decimal,
}

/// A column of a row SPI returned, which the schema says is not NULL.
fn value<T: FromDatum + IntoDatum>(row: &SpiHeapTupleData, column: usize) -> Result<T, String> {
    row.get::<T>(column)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("usage column {column} is NULL"))
}

/// The account's rated usage around the window, in the order it was counted.
fn account_usage(
    account_id: i64,
    from: TimestampWithTimeZone,
    to: TimestampWithTimeZone,
) -> Vec<(i64, UsageInput)> {
    let read = Spi::connect(|client| {
        let types = [INT8, TIMESTAMPTZ, TIMESTAMPTZ];
        let plan = kept(client, ACCOUNT_RATED_USAGE, &types, false).map_err(|e| e.to_string())?;
        let args = [account_id.into(), from.into(), to.into()];
        let mut rows = Vec::new();
        for row in client
            .select(&*plan, None, &args)
            .map_err(|e| e.to_string())?
        {
            let input = UsageInput {
                account_id,
                service: value(&row, 2)?,
                quantity: value::<NumericAsDecimal>(&row, 3)?.0,
                occurred_at: value(&row, 4)?,
                destination: row.get(5).map_err(|e| e.to_string())?,
                currency: None,
            };
            rows.push((value(&row, 1)?, input));
        }
        Ok::<_, String>(rows)
    });
    read.unwrap_or_else(|e| {
        raise(report_internal(format!(
            "reading account {account_id}'s usage: {e}"
        )))
    })
}

/// The new pricing of the account's rated usage that occurred in
/// `[period_start, period_end)`, and of every other row counted in a month
/// that such a row is counted in. Internal: `rating.rerate()` calls it after
/// taking the account's balance lock.
#[pg_extern(volatile, strict, parallel_unsafe)]
fn reprice(
    account_id: i64,
    period_start: TimestampWithTimeZone,
    period_end: TimestampWithTimeZone,
) -> TableIterator<
    'static,
    (
        name!(usage_id, i64),
        name!(charge, AnyNumeric),
        name!(currency, String),
        name!(tariff_id, i64),
        name!(rate_id, i64),
        name!(billed_quantity, AnyNumeric),
        name!(breakdown, String),
    ),
> {
    let window = |at: TimestampWithTimeZone| period_start <= at && at < period_end;
    let mut counts: HashMap<CounterMonth, Count> = HashMap::new();
    let mut repriced = Vec::new();
    for (usage_id, input) in account_usage(account_id, period_start, period_end) {
        let mut counted_in = None;
        let rated = usage::rate_counted(&input, |used| {
            let key = (used.counter.clone(), used.period.from.0);
            let count = counts.entry(key.clone()).or_insert(Count {
                period: used.period,
                included: used.included,
                units: Decimal::ZERO,
            });
            let before = count.units;
            count.units += used.units;
            counted_in = Some(key);
            before
        })
        .unwrap_or_else(|e| raise(e));
        repriced.push(Repriced {
            usage_id,
            in_window: window(input.occurred_at),
            counted_in,
            rated,
        });
    }
    let touched: HashSet<CounterMonth> = repriced
        .iter()
        .filter(|row| row.in_window)
        .filter_map(|row| row.counted_in.clone())
        .collect();
    for key in &touched {
        let count = &counts[key];
        counters::set_units(
            account_id,
            &key.0,
            count.period,
            count.included,
            count.units,
        );
    }
    let rows: Vec<_> = repriced
        .into_iter()
        .filter(|row| {
            row.in_window
                || row
                    .counted_in
                    .as_ref()
                    .is_some_and(|key| touched.contains(key))
        })
        .map(|row| {
            let (charge, currency, tariff, rate, billed, breakdown) = row.rated.into_columns();
            (
                row.usage_id,
                charge,
                currency,
                tariff,
                rate,
                billed,
                breakdown,
            )
        })
        .collect();
    TableIterator::new(rows)
}
