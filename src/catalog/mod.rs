//! The catalog layer: reads tariffs and accounts from the rating tables into
//! engine structures, and which tenants a role acts for, keeps them in
//! backend memory, and drops them when any session commits a change to
//! those tables, or to roles (see [`invalidation`]): a change to accounts,
//! subscriptions or tenants drops the accounts, not the compiled tariffs.

mod cache;
mod direct;
mod error;
pub mod invalidation;
mod load;
mod rows;

pub use cache::statistics as cache_statistics;
pub use error::CatalogError;

use crate::engine::{Period, Tariff, Timestamp};
use pgrx::pg_sys;
use std::rc::Rc;

/// What rating and posting need to know about an account: its currency, its
/// tenant, whether it has a spending floor and which tariff its
/// subscriptions name over time.
#[derive(Debug)]
pub struct AccountPlan {
    pub currency: String,
    /// None for an account of no tenant (and in a schema from before 0.2.0).
    pub tenant_id: Option<String>,
    /// Whether a posting must check the balance against a spending floor.
    pub has_spending_floor: bool,
    subscriptions: Vec<(Period, i64)>,
}

impl AccountPlan {
    /// The tariff of the subscription in force at `at`, if any.
    pub fn tariff_at(&self, at: Timestamp) -> Option<i64> {
        self.subscriptions
            .iter()
            .find(|(period, _)| period.contains(at))
            .map(|&(_, tariff_id)| tariff_id)
    }
}

/// Which tenants a role acts for, from `rating.restricted_tenants()`.
#[derive(Debug)]
pub struct RoleTenants {
    /// None: the role belongs to no tenant (or is a superuser) and may act
    /// on every account.
    pub restricted_to: Option<Vec<String>>,
}

pub fn account(account_id: i64) -> Result<Rc<AccountPlan>, CatalogError> {
    cache::get_or_load(account_id, || {
        direct::account(account_id).unwrap_or_else(|| load::account(account_id))
    })
}

pub fn tariff(tariff_id: i64) -> Result<Rc<Tariff>, CatalogError> {
    cache::get_or_load(tariff_id, || load::tariff(tariff_id))
}

pub fn role_tenants(role: pg_sys::Oid) -> Result<Rc<RoleTenants>, CatalogError> {
    cache::get_or_load(i64::from(role.to_u32()), load::role_tenants)
}

/// What the deferred checks of time bands and tiers read: as stored now, not cached.
pub use load::{rate_tiers_verdict, time_bands, TiersVerdict};
