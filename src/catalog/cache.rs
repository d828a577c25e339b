//! Per-backend maps of compiled tariffs and account plans.
//!
//! Entries are tagged with the invalidation generation they were loaded in;
//! a bump of the generation (a committed or own change to the catalog tables)
//! empties the maps on next use. No `RefCell` borrow is held across a load,
//! because a load runs SPI, and SPI can deliver invalidations re-entrantly.
//! An entry loaded from a possibly stale transaction snapshot serves only its
//! own transaction (see [`invalidation::keep_for`]).

use super::invalidation::{self, Keep};
use super::AccountPlan;
use crate::engine::Tariff;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

#[derive(Default)]
pub(super) struct Maps {
    generation: u64,
    accounts: HashMap<i64, Entry<AccountPlan>>,
    tariffs: HashMap<i64, Entry<Tariff>>,
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

/// Either kind of cached value, so one lookup routine serves both maps.
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

thread_local! {
    static MAPS: RefCell<Maps> = RefCell::new(Maps::default());
}

impl Maps {
    fn current(&mut self, generation: u64) -> &mut Self {
        if self.generation != generation {
            self.accounts.clear();
            self.tariffs.clear();
            self.generation = generation;
        }
        self
    }
}

pub(super) fn get_or_load<T: Cached, E>(
    key: i64,
    load: impl FnOnce() -> Result<T, E>,
) -> Result<Rc<T>, E> {
    let generation = invalidation::current_generation();
    let hit = MAPS.with_borrow_mut(|maps| {
        T::map(maps.current(generation))
            .get(&key)
            .and_then(Entry::usable)
    });
    if let Some(value) = hit {
        return Ok(value);
    }
    let loaded = Rc::new(load()?);
    // An invalidation that arrived during the load may make it stale: use it
    // for this call, but do not keep it.
    let keep = invalidation::keep_for(generation);
    if invalidation::current_generation() == generation {
        let entry = Entry {
            value: Rc::clone(&loaded),
            keep,
        };
        MAPS.with_borrow_mut(|maps| T::map(maps.current(generation)).insert(key, entry));
    }
    Ok(loaded)
}
