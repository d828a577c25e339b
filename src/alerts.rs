//! AFTER UPDATE statement trigger on `rating.balances`: spending alerts.
//!
//! Most moves of a balance cross none of its thresholds. For a statement
//! that moved a few balances this trigger asks, with one kept query per
//! balance, whether any threshold was crossed; only then, or for a larger
//! statement, does it run the set-based `rating.raise_spending_alerts()`,
//! which records the alerts and sends them.

use crate::deformed::column_named;
use crate::errors::{raise, report_internal};
use crate::plans::{kept, INT8, NUMERIC};
use crate::transition::{for_each_row, has_at_most, rust_or_plpgsql_trigger};
use pgrx::prelude::*;
use pgrx::AnyNumeric;

const CROSSES_THRESHOLD: &str = include_str!("../sql/queries/crosses_alert_threshold.sql");

/// Up to about this many moved balances, a kept query per balance costs
/// less than one set-based statement (measured: CPU per row of statements
/// moving 1 to 16 balances; even at 8 to 16).
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

fn any_threshold_crossed(data: &pg_sys::TriggerData) -> bool {
    let before = balances(data.tg_oldtable, data.tg_relation);
    let after = balances(data.tg_newtable, data.tg_relation);
    // The old and new tables hold each updated row at the same position.
    if before.len() != after.len() || before.iter().zip(&after).any(|(old, new)| old.0 != new.0) {
        return true;
    }
    Spi::connect(|client| {
        let crosses = kept(client, CROSSES_THRESHOLD, &[INT8, NUMERIC, NUMERIC], false)?;
        for ((account_id, old), (_, new)) in before.into_iter().zip(after) {
            let args = [account_id.into(), old.into(), new.into()];
            if client
                .select(&*crosses, Some(1), &args)?
                .first()
                .get_one::<bool>()?
                == Some(true)
            {
                return Ok(true);
            }
        }
        Ok(false)
    })
    .unwrap_or_else(|e: pgrx::spi::SpiError| {
        raise(report_internal(format!(
            "looking for crossed alert thresholds: {e}"
        )))
    })
}
