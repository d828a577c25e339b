//! Per-backend maps of compiled tariffs, account plans and the tenants of
//! roles.
//!
//! Entries are tagged with the invalidation generation they were loaded in;
//! a bump of the generation (a committed or own change to the catalog tables)
//! empties the maps on next use, and a change to roles or memberships empties
//! the roles' tenants. No `RefCell` borrow is held across a load,
//! because a load runs SPI, and SPI can deliver invalidations re-entrantly.
//! An entry loaded from a possibly stale transaction snapshot serves only its
//! own transaction (see [`invalidation::keep_for`]).

use super::invalidation::{self, Keep};
use super::{AccountPlan, RoleTenants};
use crate::engine::Tariff;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

#[derive(Default)]
pub(super) struct Maps {
    generation: u64,
    roles_epoch: u64,
    accounts: HashMap<i64, Entry<AccountPlan>>,
    tariffs: HashMap<i64, Entry<Tariff>>,
    /// By role oid.
    role_tenants: HashMap<i64, Entry<RoleTenants>>,
}

pub(super) struct Entry<T> {
    value: Rc<T>,
    keep: Keep,
}

impl<T> Entry<T> {
    fn usable(&self) -> Option<Rc<T>> {
        let usable = match self.keep {
            Keep::ForSession => true,
            Keep::ForTransaction(transaction) => transaction == invalidation::current_transaction(),
        };
        usable.then(|| Rc::clone(&self.value))
    }
}

/// Any kind of cached value, so one lookup routine serves every map.
pub(super) trait Cached: Sized {
    fn map(maps: &mut Maps) -> &mut HashMap<i64, Entry<Self>>;
}

impl Cached for AccountPlan {
    fn map(maps: &mut Maps) -> &mut HashMap<i64, Entry<Self>> {
        &mut maps.accounts
    }
}

impl Cached for Tariff {
    fn map(maps: &mut Maps) -> &mut HashMap<i64, Entry<Self>> {
        &mut maps.tariffs
    }
}

impl Cached for RoleTenants {
    fn map(maps: &mut Maps) -> &mut HashMap<i64, Entry<Self>> {
        &mut maps.role_tenants
    }
}

thread_local! {
    static MAPS: RefCell<Maps> = RefCell::new(Maps::default());
}

/// What entries are loaded under: the catalog's generation and the count of
/// role invalidations.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Version {
    generation: u64,
    roles_epoch: u64,
}

impl Version {
    /// Reading the generation first takes in pending invalidations.
    fn now() -> Self {
        let generation = invalidation::current_generation();
        Version {
            generation,
            roles_epoch: invalidation::roles_epoch(),
        }
    }
}

impl Maps {
    fn current(&mut self, version: Version) -> &mut Self {
        if self.generation != version.generation {
            self.accounts.clear();
            self.tariffs.clear();
            self.role_tenants.clear();
            self.generation = version.generation;
        }
        if self.roles_epoch != version.roles_epoch {
            self.role_tenants.clear();
            self.roles_epoch = version.roles_epoch;
        }
        self
    }
}

pub(super) fn get_or_load<T: Cached, E>(
    key: i64,
    load: impl FnOnce() -> Result<T, E>,
) -> Result<Rc<T>, E> {
    let version = Version::now();
    let hit = MAPS.with_borrow_mut(|maps| {
        T::map(maps.current(version))
            .get(&key)
            .and_then(Entry::usable)
    });
    if let Some(value) = hit {
        return Ok(value);
    }
    let value = Rc::new(load()?);
    // An invalidation that arrived during the load may make it stale: use it
    // for this call, but do not keep it.
    let keep = invalidation::keep_for(version.generation);
    if Version::now() == version {
        let entry = Entry {
            value: Rc::clone(&value),
            keep,
        };
        MAPS.with_borrow_mut(|maps| T::map(maps.current(version)).insert(key, entry));
    }
    Ok(value)
}
