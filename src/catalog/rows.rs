//! The rows of an SPI result, each taken apart once.
//!
//! pgrx's row wrapper fetches every column of a row on its own, and each
//! fetch after a variable-length or NULL column walks the row from its
//! start; its typed getter then switches memory contexts for every value.
//! Loading a tariff of 20,000 rates of 16 columns spent a third of its time
//! there. Here `heap_deform_tuple` splits each row in one pass, and values
//! are converted straight from the datums.

use super::CatalogError;
use pgrx::datum::{FromDatum, IntoDatum};
use pgrx::pg_sys;
use pgrx::spi::SpiTupleTable;
use std::rc::Rc;

/// One row: its datums, NULL flags and column types, 1-based as in SQL.
pub struct Row {
    values: Vec<pg_sys::Datum>,
    nulls: Vec<bool>,
    types: Rc<[pg_sys::Oid]>,
}

impl Row {
    /// The value of `column`, `None` when NULL; an error when the column's
    /// type is not `T`'s.
    pub fn get<T: FromDatum + IntoDatum>(&self, column: usize) -> Result<Option<T>, CatalogError> {
        let at = column
            .checked_sub(1)
            .filter(|&at| at < self.values.len())
            .ok_or_else(|| CatalogError::Internal(format!("no column {column}")))?;
        if self.nulls[at] {
            return Ok(None);
        }
        // SAFETY: a datum of the row, not NULL, with its column's type (which
        // try_from_datum checks against T).
        unsafe { T::try_from_datum(self.values[at], false, self.types[at]) }
            .map_err(|error| CatalogError::Internal(format!("column {column}: {error}")))
    }
}

/// The rows of `table`, which must be the result of the connection's latest
/// query (pgrx keeps the tuple table it wraps to itself; SPI's global
/// `SPI_tuptable` is the same one until the next query).
pub fn rows(table: SpiTupleTable<'_>) -> Result<Rows<'_>, CatalogError> {
    let count = table.len();
    // SAFETY: SPI_tuptable is either null or the latest result, which lives
    // as long as `table` does.
    let tuptable = unsafe { pg_sys::SPI_tuptable.as_ref() };
    let tuptable = match tuptable {
        None if count == 0 => None,
        Some(tuptable) if tuptable.numvals as usize == count => Some(tuptable),
        _ => {
            return Err(CatalogError::Internal(
                "SPI's tuple table is not the query's result".into(),
            ))
        }
    };
    let types = tuptable
        .map(|tuptable| unsafe {
            let tupdesc = tuptable.tupdesc;
            let natts = (*tupdesc).natts as usize;
            (*tupdesc)
                .attrs
                .as_slice(natts)
                .iter()
                .map(|attribute| attribute.atttypid)
                .collect()
        })
        .unwrap_or_else(|| Rc::from([]));
    Ok(Rows {
        _table: table,
        tuptable,
        types,
        next: 0,
        count,
    })
}

/// Iterates the rows of one SPI result (see [`rows`]).
pub struct Rows<'conn> {
    // Holds the result alive (and SPI at this query) while rows are read.
    _table: SpiTupleTable<'conn>,
    tuptable: Option<&'conn pg_sys::SPITupleTable>,
    types: Rc<[pg_sys::Oid]>,
    next: usize,
    count: usize,
}

impl Iterator for Rows<'_> {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        let tuptable = self.tuptable?;
        if self.next >= self.count {
            return None;
        }
        let columns = self.types.len();
        let mut row = Row {
            values: vec![pg_sys::Datum::from(0); columns],
            nulls: vec![true; columns],
            types: self.types.clone(),
        };
        // SAFETY: `next` is below the table's row count, and the arrays have
        // one slot per column of its descriptor.
        unsafe {
            let tuple = *tuptable.vals.add(self.next);
            pg_sys::heap_deform_tuple(
                tuple,
                tuptable.tupdesc,
                row.values.as_mut_ptr(),
                row.nulls.as_mut_ptr(),
            );
        }
        self.next += 1;
        Some(row)
    }
}
