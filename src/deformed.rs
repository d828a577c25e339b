//! A heap tuple taken apart once, with `heap_deform_tuple`.
//!
//! Reading columns one at a time (`heap_getattr`, and pgrx's getters built
//! on it) walks the tuple from its start for every column after a NULL or a
//! variable-length one; usage rows and tariff rates have both. pgrx's SPI
//! row wrapper also fetches every column up front and switches memory
//! contexts for every value. Loading a tariff of 20,000 rates and rating a
//! row both spent a large share of their time there.

use pgrx::datum::{FromDatum, IntoDatum, TryFromDatumError};
use pgrx::pg_sys;
use std::marker::PhantomData;
use std::num::NonZeroUsize;

/// The columns of one tuple, 1-based as in SQL. By-reference values point
/// into the tuple, which must outlive this.
pub struct Deformed<'t> {
    tupdesc: pg_sys::TupleDesc,
    values: Vec<pg_sys::Datum>,
    nulls: Vec<bool>,
    tuple: PhantomData<&'t pg_sys::HeapTupleData>,
}

impl<'t> Deformed<'t> {
    /// # Safety
    /// `tuple` is a valid tuple of `tupdesc`, and both live for `'t`.
    pub unsafe fn new(tuple: pg_sys::HeapTuple, tupdesc: pg_sys::TupleDesc) -> Self {
        let columns = unsafe { (*tupdesc).natts } as usize;
        let mut deformed = Deformed {
            tupdesc,
            values: vec![pg_sys::Datum::from(0); columns],
            nulls: vec![true; columns],
            tuple: PhantomData,
        };
        // SAFETY: one slot per column of the descriptor.
        unsafe {
            pg_sys::heap_deform_tuple(
                tuple,
                tupdesc,
                deformed.values.as_mut_ptr(),
                deformed.nulls.as_mut_ptr(),
            );
        }
        deformed
    }

    /// The row a slot holds, taken apart by the slot itself: a minimal
    /// tuple (a transition table's) read with no heap tuple formed from it.
    ///
    /// # Safety
    /// `slot` holds a row, which must outlive this.
    pub unsafe fn of_slot(slot: *mut pg_sys::TupleTableSlot) -> Self {
        unsafe {
            pg_sys::slot_getallattrs(slot);
            let columns = (*(*slot).tts_tupleDescriptor).natts as usize;
            Deformed {
                tupdesc: (*slot).tts_tupleDescriptor,
                values: std::slice::from_raw_parts((*slot).tts_values, columns).to_vec(),
                nulls: std::slice::from_raw_parts((*slot).tts_isnull, columns).to_vec(),
                tuple: PhantomData,
            }
        }
    }

    fn index(&self, column: usize) -> Result<usize, TryFromDatumError> {
        column
            .checked_sub(1)
            .filter(|&at| at < self.values.len())
            .ok_or_else(|| {
                TryFromDatumError::NoSuchAttributeNumber(
                    NonZeroUsize::new(column).unwrap_or(NonZeroUsize::MIN),
                )
            })
    }

    /// The value of `column`, `None` when NULL; an error when there is no
    /// such column or its type is not `T`'s.
    pub fn get<T: FromDatum + IntoDatum>(
        &self,
        column: usize,
    ) -> Result<Option<T>, TryFromDatumError> {
        let at = self.index(column)?;
        if self.nulls[at] {
            return Ok(None);
        }
        // SAFETY: a non-NULL datum of the tuple, with its column's type,
        // which try_from_datum checks against T.
        unsafe {
            let type_oid = (*(*self.tupdesc).attrs.as_ptr().add(at)).atttypid;
            T::try_from_datum(self.values[at], false, type_oid)
        }
    }

    /// Sets `column` to `value` (`None`: NULL) for [`Deformed::formed`].
    pub fn set(
        &mut self,
        column: NonZeroUsize,
        value: Option<pg_sys::Datum>,
    ) -> Result<(), TryFromDatumError> {
        let at = self.index(column.get())?;
        self.values[at] = value.unwrap_or(pg_sys::Datum::from(0));
        self.nulls[at] = value.is_none();
        Ok(())
    }

    /// A new tuple of these values, palloc'd in the current memory context,
    /// with `like`'s identity (as `heap_modify_tuple` gives it).
    ///
    /// # Safety
    /// `like` is the tuple these values were taken from.
    pub unsafe fn formed(&mut self, like: pg_sys::HeapTuple) -> pg_sys::HeapTuple {
        unsafe {
            let tuple = pg_sys::heap_form_tuple(
                self.tupdesc,
                self.values.as_mut_ptr(),
                self.nulls.as_mut_ptr(),
            );
            (*(*tuple).t_data).t_ctid = (*(*like).t_data).t_ctid;
            (*tuple).t_self = (*like).t_self;
            (*tuple).t_tableOid = (*like).t_tableOid;
            tuple
        }
    }
}

/// The position (1-based) of the column of `tupdesc` named `name`, 0 when
/// there is none.
///
/// # Safety
/// `tupdesc` is a valid tuple descriptor.
pub unsafe fn column_named(tupdesc: pg_sys::TupleDesc, name: &str) -> usize {
    let attributes = unsafe { (*tupdesc).attrs.as_slice((*tupdesc).natts as usize) };
    attributes
        .iter()
        .position(|attribute| {
            let attname = unsafe { std::ffi::CStr::from_ptr(attribute.attname.data.as_ptr()) };
            !attribute.attisdropped && attname.to_bytes() == name.as_bytes()
        })
        .map_or(0, |at| at + 1)
}
