//! Where each column of `rating.usage` that rating reads or writes sits in
//! the table: found by name once per relation, not on every row, so that a
//! row is read by position from one deform and rewritten with one
//! `heap_form_tuple` ([`Deformed`]).

use crate::deformed::{column_named, Deformed};
use crate::errors::{raise, report_internal};
use crate::usage::UsageError;
use pgrx::datum::{FromDatum, IntoDatum};
use pgrx::prelude::*;
use std::cell::Cell;
use std::num::NonZeroUsize;

#[derive(Clone, Copy)]
pub struct UsageColumns {
    pub account_id: NonZeroUsize,
    pub service: NonZeroUsize,
    pub quantity: NonZeroUsize,
    pub occurred_at: NonZeroUsize,
    pub destination: NonZeroUsize,
    pub currency: NonZeroUsize,
    pub charge: NonZeroUsize,
    pub tariff_id: NonZeroUsize,
    pub rate_id: NonZeroUsize,
    pub billed_quantity: NonZeroUsize,
    pub breakdown: NonZeroUsize,
    pub rated_at: NonZeroUsize,
    pub usage_id: NonZeroUsize,
    pub reservation_id: NonZeroUsize,
    /// Since 0.2.0; a database not yet updated has neither.
    pub status: Option<NonZeroUsize>,
    pub hold_reason: Option<NonZeroUsize>,
}

/// The relation, its tuple descriptor and its column count identify a
/// layout: ALTER TABLE gives the relation a new descriptor.
type LayoutKey = (pg_sys::Oid, usize, i32);

thread_local! {
    static LAYOUT: Cell<Option<(LayoutKey, UsageColumns)>> = const { Cell::new(None) };
}

/// The columns of the usage table the trigger fires on.
pub fn of(relation: pg_sys::Relation) -> UsageColumns {
    let (relid, tupdesc) = unsafe { ((*relation).rd_id, (*relation).rd_att) };
    let key = (relid, tupdesc as usize, unsafe { (*tupdesc).natts });
    if let Some((cached, columns)) = LAYOUT.get() {
        if cached == key {
            return columns;
        }
    }
    let columns = resolve(tupdesc);
    LAYOUT.set(Some((key, columns)));
    columns
}

fn resolve(tupdesc: pg_sys::TupleDesc) -> UsageColumns {
    // SAFETY: the descriptor of the relation the trigger fires on.
    let find = |name: &str| NonZeroUsize::new(unsafe { column_named(tupdesc, name) });
    let required = |name: &str| {
        find(name).unwrap_or_else(|| {
            raise(report_internal(format!(
                "rating.usage has no column {name}"
            )))
        })
    };
    UsageColumns {
        account_id: required("account_id"),
        service: required("service"),
        quantity: required("quantity"),
        occurred_at: required("occurred_at"),
        destination: required("destination"),
        currency: required("currency"),
        charge: required("charge"),
        tariff_id: required("tariff_id"),
        rate_id: required("rate_id"),
        billed_quantity: required("billed_quantity"),
        breakdown: required("breakdown"),
        rated_at: required("rated_at"),
        usage_id: required("usage_id"),
        reservation_id: required("reservation_id"),
        status: find("status"),
        hold_reason: find("hold_reason"),
    }
}

/// A column of the row, by position.
pub fn column<T: FromDatum + IntoDatum>(row: &Deformed<'_>, at: NonZeroUsize) -> Option<T> {
    row.get::<T>(at.get())
        .unwrap_or_else(|e| raise(report_internal(format!("usage column {at}: {e}"))))
}

pub fn required<T: FromDatum + IntoDatum>(
    row: &Deformed<'_>,
    at: NonZeroUsize,
    name: &'static str,
) -> T {
    column(row, at).unwrap_or_else(|| raise(UsageError::NullColumn(name)))
}
