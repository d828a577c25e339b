//! AFTER UPDATE statement trigger on `rating.balances`: spending alerts.
//!
//! Most moves of a balance cross none of its thresholds, and most accounts
//! have none. For a statement that moved a few balances this trigger looks
//! each account up in the thresholds' index, and only for an account that
//! has some reads the balances and asks whether any was crossed; only then,
//! or for a larger statement, does it run the set-based
//! `rating.raise_spending_alerts()`, which records the alerts and sends
//! them. (A kept query per balance cost
//! about 40,000 instructions per single-row INSERT, the index read a
//! fraction of that.)

use crate::deformed::column_named;
use crate::errors::{raise, report_internal};
use crate::index_scan::{
    attribute, column, open_settled, rating_relation, valid_index, KeptLayout, KeyLookup, Opened,
    Snapshot,
};
use crate::transition::{for_each_row, has_at_most, rust_or_plpgsql_trigger};
use pgrx::datum::FromDatum;
use pgrx::pg_sys::{AttrNumber, Oid};
use pgrx::prelude::*;
use pgrx::AnyNumeric;
use std::cell::Cell;

/// Where the thresholds are.
#[derive(Clone, Copy)]
struct Layout {
    thresholds: Oid,
    by_account: Oid,
    account_id: AttrNumber,
    threshold: AttrNumber,
}

thread_local! {
    static LAYOUT: KeptLayout<Layout> = const { Cell::new(None) };
}

fn resolve() -> Option<Layout> {
    let thresholds = rating_relation(c"alert_thresholds")?;
    Some(Layout {
        thresholds,
        // The primary key, (account_id, threshold).
        by_account: valid_index(c"alert_thresholds_pkey")?,
        account_id: column(thresholds, c"account_id", pg_sys::INT8OID)?,
        threshold: column(thresholds, c"threshold", pg_sys::NUMERICOID)?,
    })
}

/// Up to about this many moved balances, probing each costs less than one
/// set-based statement (measured with a kept query per balance, dearer than
/// the index read now: CPU per row of statements moving 1 to 16 balances;
/// even at 8 to 16). The bound was not measured again.
const MAX_PROBED_BALANCES: i64 = 8;

rust_or_plpgsql_trigger! {
    symbol: watch_balances_trigger,
    finfo: pg_finfo_watch_balances_trigger,
    name: "rating.watch_balances()",
    take: few_balances_crossed_nothing,
    otherwise: c"rating.raise_spending_alerts()",
}

/// Whether the statement moved few balances and none crossed a threshold;
/// otherwise `rating.raise_spending_alerts()` runs.
fn few_balances_crossed_nothing(data: &pg_sys::TriggerData) -> bool {
    let few = has_at_most(data.tg_oldtable, MAX_PROBED_BALANCES)
        && has_at_most(data.tg_newtable, MAX_PROBED_BALANCES);
    few && !any_threshold_crossed(data)
}

/// (account, balance) of each row of a transition table, in its order.
fn balances(
    store: *mut pg_sys::Tuplestorestate,
    relation: pg_sys::Relation,
) -> Vec<(i64, AnyNumeric)> {
    let column = |name| unsafe { column_named((*relation).rd_att, name) };
    let (account_at, balance_at) = (column("account_id"), column("balance"));
    let mut balances = Vec::new();
    for_each_row(store, relation, |row| {
        let account_id = row.get::<i64>(account_at);
        let balance = row.get::<AnyNumeric>(balance_at);
        match (account_id, balance) {
            (Ok(Some(account_id)), Ok(Some(balance))) => balances.push((account_id, balance)),
            _ => raise(report_internal(
                "a balance row without account or balance".into(),
            )),
        }
        true
    });
    balances
}

/// The thresholds' index, opened once per statement.
fn lookup<'a>(thresholds: &'a Opened, layout: &Layout, snapshot: &'a Snapshot) -> KeyLookup<'a> {
    KeyLookup::open(thresholds, layout.by_account, layout.account_id, snapshot)
}

/// The account's thresholds, or `Err` when one is not a number.
fn thresholds_of(
    by_account: &mut KeyLookup<'_>,
    layout: &Layout,
    account_id: i64,
) -> Result<Vec<AnyNumeric>, ()> {
    let mut found = Vec::new();
    by_account.for_each(account_id, |tuple, tupdesc| {
        attribute(tuple, tupdesc, layout.threshold)
            .and_then(|datum| unsafe { AnyNumeric::from_datum(datum, false) })
            .map(|threshold| found.push(threshold))
            .ok_or(())
    })?;
    Ok(found)
}

/// Whether the thresholds table has no pages (none written since it was
/// created or truncated, or VACUUM cut them off, which it does only to rows
/// no snapshot sees): then no account is probed. Most installations set no
/// thresholds; probing cost a single-row INSERT about 10,000 instructions
/// and a spread batch about 1,600 per row. (The table is a plain one: its
/// index was found as a plain index, which a partitioned table has none of.)
fn has_no_pages(thresholds: &Opened) -> bool {
    let pages = unsafe {
        pg_sys::RelationGetNumberOfBlocksInFork(
            thresholds.relation(),
            pg_sys::ForkNumber::MAIN_FORKNUM,
        )
    };
    pages == 0
}

/// Whether any of the accounts has alert thresholds, as a new query of the
/// transaction reads them; None when they cannot be read by index.
pub fn any_account_watched(accounts: impl IntoIterator<Item = i64>) -> Option<bool> {
    let (layout, thresholds) =
        open_settled(&LAYOUT, resolve, |layout| Opened::table(layout.thresholds))?;
    if has_no_pages(&thresholds) {
        return Some(false);
    }
    let snapshot = Snapshot::take();
    let mut by_account = lookup(&thresholds, &layout, &snapshot);
    for account_id in accounts {
        if !thresholds_of(&mut by_account, &layout, account_id)
            .ok()?
            .is_empty()
        {
            return Some(true);
        }
    }
    Some(false)
}

fn any_threshold_crossed(data: &pg_sys::TriggerData) -> bool {
    // Thresholds that cannot be read by index are left to the set-based
    // function.
    let Some((layout, thresholds)) =
        open_settled(&LAYOUT, resolve, |layout| Opened::table(layout.thresholds))
    else {
        return true;
    };
    if has_no_pages(&thresholds) {
        return false;
    }
    let snapshot = Snapshot::take();
    let mut by_account = lookup(&thresholds, &layout, &snapshot);
    // Most moved balances have no threshold: each account's thresholds are
    // read once, and the balances as numbers only if some account has any.
    let mut watched: Vec<(usize, Vec<AnyNumeric>)> = Vec::new();
    for (at, account_id) in moved_accounts(data).into_iter().enumerate() {
        let Ok(found) = thresholds_of(&mut by_account, &layout, account_id) else {
            return true;
        };
        if !found.is_empty() {
            watched.push((at, found));
        }
    }
    if watched.is_empty() {
        return false;
    }
    let before = balances(data.tg_oldtable, data.tg_relation);
    let after = balances(data.tg_newtable, data.tg_relation);
    // The old and new tables hold each updated row at the same position.
    if before.len() != after.len() || before.iter().zip(&after).any(|(old, new)| old.0 != new.0) {
        return true;
    }
    watched.iter().any(|(at, found)| {
        let (old, new) = (&before[*at].1, &after[*at].1);
        found
            .iter()
            .any(|threshold| (old >= threshold) != (new >= threshold))
    })
}

/// The account of each moved balance.
fn moved_accounts(data: &pg_sys::TriggerData) -> Vec<i64> {
    let account_at = unsafe { column_named((*data.tg_relation).rd_att, "account_id") };
    let mut accounts = Vec::new();
    for_each_row(data.tg_newtable, data.tg_relation, |row| {
        match row.get::<i64>(account_at) {
            Ok(Some(account_id)) => accounts.push(account_id),
            _ => raise(report_internal("a balance row without account".into())),
        }
        true
    });
    accounts
}
