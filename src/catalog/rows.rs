//! The rows of an SPI result, each taken apart once (see
//! [`crate::deformed`]): a tariff of 20,000 rates of 16 columns spent a
//! third of its loading time in pgrx's row wrapper.

use super::CatalogError;
use crate::deformed::Deformed;
use pgrx::pg_sys;
use pgrx::spi::SpiTupleTable;

/// The rows of `table`, which must be the result of the connection's latest
/// query (pgrx keeps the tuple table it wraps to itself; SPI's global
/// `SPI_tuptable` is the same one until the next query).
pub fn rows(table: SpiTupleTable<'_>) -> Result<Rows<'_>, CatalogError> {
    let count = table.len();
    // SAFETY: SPI_tuptable is either null or the latest result, which lives
    // as long as `table` does.
    let tuptable = match unsafe { pg_sys::SPI_tuptable.as_ref() } {
        None if count == 0 => None,
        Some(tuptable) if tuptable.numvals as usize == count => Some(tuptable),
        _ => {
            return Err(CatalogError::Internal(
                "SPI's tuple table is not the query's result".into(),
            ))
        }
    };
    Ok(Rows {
        _table: table,
        tuptable,
        next: 0,
        count,
    })
}

/// Iterates the rows of one SPI result (see [`rows`]).
pub struct Rows<'conn> {
    // Holds the result alive (and SPI at this query) while rows are read.
    _table: SpiTupleTable<'conn>,
    tuptable: Option<&'conn pg_sys::SPITupleTable>,
    next: usize,
    count: usize,
}

impl<'conn> Iterator for Rows<'conn> {
    type Item = Deformed<'conn>;

    fn next(&mut self) -> Option<Deformed<'conn>> {
        let tuptable = self.tuptable?;
        if self.next >= self.count {
            return None;
        }
        // SAFETY: `next` is below the table's row count; the table and its
        // descriptor live as long as the SPI result.
        let row = unsafe { Deformed::new(*tuptable.vals.add(self.next), tuptable.tupdesc) };
        self.next += 1;
        Some(row)
    }
}
