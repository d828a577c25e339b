//! Per-backend maps of compiled tariffs, account plans and the tenants of
//! roles.
//!
//! Entries are tagged with the invalidation generations they were loaded in.
//! A committed or own change to tariff data empties every map on next use;
//! to accounts, subscriptions or tenants, the accounts and the roles'
//! tenants; to roles or memberships, the roles' tenants.
//!
//! No `RefCell` borrow is held across a load, because a load runs SPI, and
//! SPI can deliver invalidations re-entrantly.
//! An entry loaded from a possibly stale transaction snapshot serves only its
//! own transaction (see [`invalidation::keep_for`]).

use super::invalidation::{self, Generations, Keep};
use super::{AccountPlan, RoleTenants};
use crate::engine::Tariff;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

#[derive(Default)]
pub(super) struct Maps {
    version: Version,
    accounts: HashMap<i64, Entry<AccountPlan>>,
    tariffs: HashMap<i64, Entry<Tariff>>,
    /// By role oid.
    role_tenants: HashMap<i64, Entry<RoleTenants>>,
    /// How many of each kind this session has loaded, by [`Kind`].
    loads: [u64; 3],
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

/// The kinds of cached value.
#[derive(Clone, Copy)]
pub enum Kind {
    Tariffs,
    Accounts,
    RoleTenants,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Tariffs => "tariffs",
            Kind::Accounts => "accounts",
            Kind::RoleTenants => "role tenants",
        }
    }
}

/// Any kind of cached value, so one lookup routine serves every map.
pub(super) trait Cached: Sized {
    const KIND: Kind;
    fn map(maps: &mut Maps) -> &mut HashMap<i64, Entry<Self>>;
}

impl Cached for AccountPlan {
    const KIND: Kind = Kind::Accounts;
    fn map(maps: &mut Maps) -> &mut HashMap<i64, Entry<Self>> {
        &mut maps.accounts
    }
}

impl Cached for Tariff {
    const KIND: Kind = Kind::Tariffs;
    fn map(maps: &mut Maps) -> &mut HashMap<i64, Entry<Self>> {
        &mut maps.tariffs
    }
}

impl Cached for RoleTenants {
    const KIND: Kind = Kind::RoleTenants;
    fn map(maps: &mut Maps) -> &mut HashMap<i64, Entry<Self>> {
        &mut maps.role_tenants
    }
}

thread_local! {
    static MAPS: RefCell<Maps> = RefCell::new(Maps::default());
}

/// What entries are loaded under: the catalog's generations and the count of
/// role invalidations.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct Version {
    generations: Generations,
    roles_epoch: u64,
}

impl Version {
    /// Reading the generations first takes in pending invalidations.
    fn now() -> Self {
        let generations = invalidation::current_generations();
        Version {
            generations,
            roles_epoch: invalidation::roles_epoch(),
        }
    }
}

impl Maps {
    fn current(&mut self, version: Version) -> &mut Self {
        let was = self.version;
        if was.generations.catalog != version.generations.catalog {
            self.tariffs.clear();
        }
        if was.generations != version.generations {
            self.accounts.clear();
        }
        if was != version {
            self.role_tenants.clear();
        }
        self.version = version;
        self
    }
}

/// For each kind: how many entries are cached now, and how many this session
/// has loaded (compiled, for tariffs) so far.
pub fn statistics() -> Vec<(Kind, usize, u64)> {
    fn of<T: Cached>(maps: &mut Maps) -> (Kind, usize, u64) {
        (T::KIND, T::map(maps).len(), maps.loads[T::KIND as usize])
    }
    MAPS.with_borrow_mut(|maps| {
        let maps = maps.current(Version::now());
        vec![
            of::<Tariff>(maps),
            of::<AccountPlan>(maps),
            of::<RoleTenants>(maps),
        ]
    })
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
    MAPS.with_borrow_mut(|maps| maps.loads[T::KIND as usize] += 1);
    // An invalidation that arrived during the load may make it stale: use it
    // for this call, but do not keep it.
    let keep = invalidation::keep_for(version.generations);
    if Version::now() == version {
        let entry = Entry {
            value: Rc::clone(&value),
            keep,
        };
        MAPS.with_borrow_mut(|maps| T::map(maps.current(version)).insert(key, entry));
    }
    Ok(value)
}
