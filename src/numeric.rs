//! Exact conversion between PostgreSQL `numeric` and `rust_decimal::Decimal`.
//!
//! Both sides are decimal, so nothing is lost either way. A `numeric` is
//! read through its canonical text form. A `Decimal` is written straight
//! into `numeric`'s own layout (the insert trigger writes two per row, and
//! through text each cost a formatting, a parse and two copies), the bytes
//! `numeric_in` would have made from its text: pgrx-tests/numeric.rs
//! compares them. The ledger's CHECK reads an amount's sign from the same
//! layout.

use crate::engine::ledger::AmountSign;
use pgrx::prelude::*;
use pgrx::AnyNumeric;
use rust_decimal::Decimal;

/// Why a `numeric` value cannot be used as a quantity or amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumericError {
    /// NaN or ±Infinity.
    NotFinite(String),
    /// More digits than rust_decimal's 96-bit mantissa holds.
    OutOfRange(String),
}

pub fn to_decimal(value: &AnyNumeric) -> Result<Decimal, NumericError> {
    let text = value.to_string();
    if value.is_nan() || text.ends_with("Infinity") {
        return Err(NumericError::NotFinite(text));
    }
    Decimal::from_str_exact(&text).map_err(|_| NumericError::OutOfRange(text))
}

// The first 16 bits of a numeric's data (src/backend/utils/adt/numeric.c):
// both top bits set for NaN and ±Infinity; the top bit alone for the short
// header, which keeps sign, display scale and weight in the rest; neither
// for the long header, whose sign is the next bit and whose weight follows.
const NUMERIC_SPECIAL: u16 = 0xC000;
const NUMERIC_SHORT: u16 = 0x8000;
const NUMERIC_LONG_NEGATIVE: u16 = 0x4000;
const NUMERIC_SHORT_SIGN_MASK: u16 = 0x2000;
const NUMERIC_SHORT_DSCALE_SHIFT: u16 = 7;
const NUMERIC_SHORT_WEIGHT_SIGN_MASK: u16 = 0x0040;
const NUMERIC_SHORT_WEIGHT_MASK: u16 = 0x003F;

/// Base-10000 digits of a 96-bit mantissa scaled up to a whole number of
/// digit groups: at most 29 + 3 decimal digits.
const MAX_GROUPS: usize = 8;

/// A decimal as `numeric` stores it: base-10000 digits, most significant
/// first, with no leading or trailing zero digit; `weight` is the power of
/// 10000 of the first; `dscale` the decimal places shown. Zero has no
/// digits, weight 0 and is never negative.
#[derive(Debug, PartialEq, Eq)]
pub struct NumericDigits {
    pub negative: bool,
    pub weight: i16,
    pub dscale: u16,
    digits: [i16; MAX_GROUPS],
    len: usize,
}

impl From<Decimal> for NumericDigits {
    fn from(value: Decimal) -> Self {
        let scale = value.scale();
        // Pad the fraction to whole groups of four decimal places.
        let padding = (4 - scale % 4) % 4;
        let fraction_groups = ((scale + padding) / 4) as i16;
        let mut rest = value.mantissa().unsigned_abs() * 10u128.pow(padding);
        let mut groups = [0i16; MAX_GROUPS]; // least significant first
        let mut count = 0;
        while rest > 0 {
            groups[count] = (rest % 10_000) as i16;
            rest /= 10_000;
            count += 1;
        }
        let zeros_below = groups[..count].iter().take_while(|&&g| g == 0).count();
        let mut digits = [0i16; MAX_GROUPS];
        for (to, &group) in digits
            .iter_mut()
            .zip(groups[zeros_below..count].iter().rev())
        {
            *to = group;
        }
        NumericDigits {
            negative: count > 0 && value.is_sign_negative(),
            weight: if count == 0 {
                0
            } else {
                count as i16 - 1 - fraction_groups
            },
            dscale: scale as u16,
            digits,
            len: count - zeros_below,
        }
    }
}

impl NumericDigits {
    pub fn digits(&self) -> &[i16] {
        &self.digits[..self.len]
    }

    /// A Decimal always fits numeric's short header: weight within -7..=7,
    /// dscale at most 28.
    fn short_header(&self) -> u16 {
        let sign = if self.negative {
            NUMERIC_SHORT | NUMERIC_SHORT_SIGN_MASK
        } else {
            NUMERIC_SHORT
        };
        let weight_sign = if self.weight < 0 {
            NUMERIC_SHORT_WEIGHT_SIGN_MASK
        } else {
            0
        };
        sign | (self.dscale << NUMERIC_SHORT_DSCALE_SHIFT)
            | weight_sign
            | (self.weight as u16 & NUMERIC_SHORT_WEIGHT_MASK)
    }
}

/// `value` as a `numeric` datum, palloc'd in the current memory context.
pub fn numeric_datum(value: Decimal) -> pg_sys::Datum {
    let parts = NumericDigits::from(value);
    let size = pg_sys::VARHDRSZ + size_of::<u16>() + size_of::<i16>() * parts.len;
    unsafe {
        let numeric = pg_sys::palloc(size).cast::<pg_sys::varlena>();
        pgrx::varlena::set_varsize_4b(numeric, size as i32);
        let data = pgrx::varlena::vardata_4b(numeric).cast_mut().cast::<u16>();
        data.write_unaligned(parts.short_header());
        let digits = data.add(1).cast::<i16>();
        for (i, &digit) in parts.digits().iter().enumerate() {
            digits.add(i).write_unaligned(digit);
        }
        pg_sys::Datum::from(numeric)
    }
}

/// The sign of a numeric datum, from the header of its (possibly packed)
/// varlena, as PostgreSQL's numeric_sign() reads it; a stored numeric has no
/// leading or trailing zero digits, so zero is the one with no digits.
///
/// # Safety
/// `datum` is a non-null numeric.
pub unsafe fn numeric_sign(datum: pg_sys::Datum) -> AmountSign {
    unsafe {
        let value = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
        let data = pgrx::varlena::vardata_any(value).cast::<u8>();
        let size = pgrx::varlena::varsize_any_exhdr(value);
        let header = u16::from_ne_bytes([*data, *data.add(1)]);
        let (negative, header_size) = match header & NUMERIC_SPECIAL {
            NUMERIC_SPECIAL => return AmountSign::NotFinite,
            flags if flags & NUMERIC_SHORT != 0 => (header & NUMERIC_SHORT_SIGN_MASK != 0, 2),
            flags => (flags == NUMERIC_LONG_NEGATIVE, 4),
        };
        match (size > header_size, negative) {
            (false, _) => AmountSign::Zero,
            (true, true) => AmountSign::Negative,
            (true, false) => AmountSign::Positive,
        }
    }
}

pub fn to_numeric(value: Decimal) -> AnyNumeric {
    let datum = numeric_datum(value);
    // AnyNumeric keeps a copy of its own.
    let numeric = unsafe { AnyNumeric::from_datum(datum, false) };
    unsafe { pg_sys::pfree(datum.cast_mut_ptr()) };
    numeric.unwrap_or_else(|| unreachable!("a non-null datum"))
}

#[cfg(test)]
mod tests {
    use super::NumericDigits;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    #[test]
    fn decimals_become_base_10000_digits_as_numeric_stores_them() {
        // (value, negative, weight, dscale, digits)
        let cases: &[(&str, bool, i16, u16, &[i16])] = &[
            ("0", false, 0, 0, &[]),
            ("0.00", false, 0, 2, &[]),
            ("-0.00", false, 0, 2, &[]),
            ("1", false, 0, 0, &[1]),
            ("1.50", false, 0, 2, &[1, 5000]),
            ("-1.50", true, 0, 2, &[1, 5000]),
            ("12345.6789", false, 1, 4, &[1, 2345, 6789]),
            ("10000", false, 1, 0, &[1]),
            ("100000000", false, 2, 0, &[1]),
            ("0.0001", false, -1, 4, &[1]),
            ("0.00001", false, -2, 5, &[1000]),
            ("0.05", false, -1, 2, &[500]),
            ("-59.40", true, 0, 2, &[59, 4000]),
            ("0.0000000000000000000000000001", false, -7, 28, &[1]),
            (
                "79228162514264337593543950335",
                false,
                7,
                0,
                &[7, 9228, 1625, 1426, 4337, 5935, 4395, 335],
            ),
            (
                "-7.9228162514264337593543950335",
                true,
                0,
                28,
                &[7, 9228, 1625, 1426, 4337, 5935, 4395, 335],
            ),
        ];
        for &(text, negative, weight, dscale, digits) in cases {
            let parts = NumericDigits::from(Decimal::from_str(text).unwrap());
            assert_eq!(
                (parts.negative, parts.weight, parts.dscale, parts.digits()),
                (negative, weight, dscale, digits),
                "{text}"
            );
        }
    }
}
