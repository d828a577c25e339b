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

thread_local! {
    /// Keyed by the address of the query's text: each is a `&'static str`.
    static PLANS: RefCell<HashMap<usize, Rc<OwnedPreparedStatement>>> = RefCell::new(HashMap::new());
}

/// The kept plan of `query`, prepared with parameters `args` on first use.
/// No borrow is held while the plan runs, which may reach SPI again.
pub fn kept(
    client: &SpiClient<'_>,
    query: &'static str,
    args: &[PgOid],
    mutating: bool,
) -> SpiResult<Rc<OwnedPreparedStatement>> {
    let key = query.as_ptr() as usize;
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
