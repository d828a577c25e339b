//! SPI plans prepared once per backend and kept, so that loading an account
//! or a tariff and growing a counter never parse their SQL again.
//! PostgreSQL's plan cache revalidates a kept plan when the tables beneath
//! it change.

use pgrx::pg_sys::PgBuiltInOids;
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiResult};
use pgrx::PgOid;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// The parameter types the kept queries take.
pub const INT8: PgOid = PgOid::BuiltIn(PgBuiltInOids::INT8OID);
pub const TEXT: PgOid = PgOid::BuiltIn(PgBuiltInOids::TEXTOID);
pub const TIMESTAMPTZ: PgOid = PgOid::BuiltIn(PgBuiltInOids::TIMESTAMPTZOID);
pub const NUMERIC: PgOid = PgOid::BuiltIn(PgBuiltInOids::NUMERICOID);
pub const INT8_ARRAY: PgOid = PgOid::BuiltIn(PgBuiltInOids::INT8ARRAYOID);
pub const TEXT_ARRAY: PgOid = PgOid::BuiltIn(PgBuiltInOids::TEXTARRAYOID);
pub const TIMESTAMPTZ_ARRAY: PgOid = PgOid::BuiltIn(PgBuiltInOids::TIMESTAMPTZARRAYOID);
pub const NUMERIC_ARRAY: PgOid = PgOid::BuiltIn(PgBuiltInOids::NUMERICARRAYOID);

/// Which kept plan: the address of the query's text (each is a `&'static
/// str`) and, for a query over a statement's transition table, the number
/// of decimal digits of the table's row count.
type PlanKey = (usize, u32);

thread_local! {
    static PLANS: RefCell<HashMap<PlanKey, Rc<OwnedPreparedStatement>>> = RefCell::new(HashMap::new());
}

/// The kept plan of `query`, prepared with parameters `args` on first use.
/// No borrow is held while the plan runs, which may reach SPI again.
pub fn kept(
    client: &SpiClient<'_>,
    query: &'static str,
    args: &[PgOid],
    mutating: bool,
) -> SpiResult<Rc<OwnedPreparedStatement>> {
    kept_as(client, (query.as_ptr() as usize, 0), query, args, mutating)
}

/// The kept plan of `query`, which reads a transition table of `rows` rows,
/// for tables of about that size: one plan per order of magnitude. The
/// planner costs a transition table by its rows when it plans; a plan made
/// for 3 rows (nested loops) would be quadratic on 200,000, and one made
/// for 200,000 (hashing everything) wasteful on 3. Within a tenfold range
/// the plan it chose stays sound.
pub fn kept_for_rows(
    client: &SpiClient<'_>,
    query: &'static str,
    rows: i64,
    mutating: bool,
) -> SpiResult<Rc<OwnedPreparedStatement>> {
    let digits = rows.max(1).ilog10() + 1;
    kept_as(
        client,
        (query.as_ptr() as usize, digits),
        query,
        &[],
        mutating,
    )
}

fn kept_as(
    client: &SpiClient<'_>,
    key: PlanKey,
    query: &'static str,
    args: &[PgOid],
    mutating: bool,
) -> SpiResult<Rc<OwnedPreparedStatement>> {
    if let Some(plan) = PLANS.with_borrow(|plans| plans.get(&key).cloned()) {
        return Ok(plan);
    }
    let prepared = if mutating {
        client.prepare_mut(query, args)?
    } else {
        client.prepare(query, args)?
    };
    let plan = Rc::new(prepared.keep());
    PLANS.with_borrow_mut(|plans| plans.insert(key, Rc::clone(&plan)));
    Ok(plan)
}
