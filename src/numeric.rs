//! Exact conversion between PostgreSQL `numeric` and `rust_decimal::Decimal`.
//!
//! Both sides are decimal, so nothing is lost either way. A `Decimal` is
//! written straight into `numeric`'s own layout (the insert trigger writes
//! two per row, and through text each cost a formatting, a parse and two
//! copies), the bytes `numeric_in` would have made from its text:
//! pgrx-tests/numeric.rs compares them. A `numeric` column is read back from
//! the same layout ([`NumericAsDecimal`]: loading a tariff of 20,000 rates
//! reads 140,000), and any other `numeric` through its canonical text form,
//! which is also the fallback for what the layout reader leaves out. The
//! ledger's CHECK reads an amount's sign from the same layout.

use crate::engine::ledger::AmountSign;
use pgrx::datum::{FromDatum, IntoDatum};
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
const NUMERIC_SHORT_DSCALE_MASK: u16 = 0x1F80;
const NUMERIC_SHORT_DSCALE_SHIFT: u16 = 7;
const NUMERIC_LONG_SIGN_MASK: u16 = 0xC000;
const NUMERIC_LONG_DSCALE_MASK: u16 = 0x3FFF;
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

    /// The Decimal these digits stand for, with `dscale` decimal places as
    /// `numeric_out` shows them; `None` beyond 28 places or 96 bits.
    pub fn to_decimal(&self) -> Option<Decimal> {
        if self.dscale > 28 {
            return None;
        }
        // At most 8 groups: below 10^32, well inside u128.
        let whole = self
            .digits()
            .iter()
            .fold(0u128, |whole, &group| whole * 10_000 + group as u128);
        // whole * 10000^(weight + 1 - len) is the value; times 10^dscale,
        // the mantissa.
        let exponent = 4 * (i32::from(self.weight) + 1 - self.len as i32) + i32::from(self.dscale);
        let mantissa = if exponent >= 0 {
            whole.checked_mul(10u128.checked_pow(exponent as u32)?)?
        } else {
            let divisor = 10u128.checked_pow(exponent.unsigned_abs())?;
            // A stored numeric has no digit beyond its display scale.
            (whole % divisor == 0).then_some(whole / divisor)?
        };
        let magnitude = i128::try_from(mantissa).ok()?;
        let signed = if self.negative { -magnitude } else { magnitude };
        Decimal::try_from_i128_with_scale(signed, u32::from(self.dscale)).ok()
    }

    /// The parts of a stored numeric; `None` for NaN and ±Infinity, and for
    /// more digits than a Decimal can have.
    ///
    /// # Safety
    /// `datum` is a non-null numeric.
    unsafe fn of_datum(datum: pg_sys::Datum) -> Option<Self> {
        let parts = |header: StoredHeader, digit_bytes: &[u8]| {
            let len = digit_bytes.len() / size_of::<i16>();
            if len > MAX_GROUPS {
                return None;
            }
            let mut digits = [0i16; MAX_GROUPS];
            for (digit, bytes) in digits.iter_mut().zip(digit_bytes.chunks_exact(2)) {
                *digit = i16::from_ne_bytes([bytes[0], bytes[1]]);
            }
            Some(NumericDigits {
                negative: header.negative,
                weight: header.weight,
                dscale: header.dscale,
                digits,
                len,
            })
        };
        unsafe { read_stored(datum, parts) }.flatten()
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

/// A stored numeric's sign, weight and display scale, as numeric.c's
/// NUMERIC_SIGN, NUMERIC_WEIGHT and NUMERIC_DSCALE read them from its short
/// or long header.
struct StoredHeader {
    negative: bool,
    weight: i16,
    dscale: u16,
}

/// Calls `read` with the header of a stored numeric and the bytes of its
/// base-10000 digits (none for zero), from its (possibly packed) varlena;
/// `None` for NaN and ±Infinity.
///
/// # Safety
/// `datum` is a non-null numeric.
unsafe fn read_stored<R>(
    datum: pg_sys::Datum,
    read: impl FnOnce(StoredHeader, &[u8]) -> R,
) -> Option<R> {
    unsafe {
        let value = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
        let data = pgrx::varlena::vardata_any(value).cast::<u8>();
        let size = pgrx::varlena::varsize_any_exhdr(value);
        let word = |at: usize| [*data.add(at), *data.add(at + 1)];
        let header = u16::from_ne_bytes(word(0));
        let parsed = match header & NUMERIC_SPECIAL {
            NUMERIC_SPECIAL => None,
            flags if flags & NUMERIC_SHORT != 0 => {
                let magnitude = (header & NUMERIC_SHORT_WEIGHT_MASK) as i16;
                let weight = if header & NUMERIC_SHORT_WEIGHT_SIGN_MASK != 0 {
                    magnitude | !(NUMERIC_SHORT_WEIGHT_MASK as i16)
                } else {
                    magnitude
                };
                let stored = StoredHeader {
                    negative: header & NUMERIC_SHORT_SIGN_MASK != 0,
                    weight,
                    dscale: (header & NUMERIC_SHORT_DSCALE_MASK) >> NUMERIC_SHORT_DSCALE_SHIFT,
                };
                Some((stored, 2))
            }
            _ => {
                let stored = StoredHeader {
                    negative: header & NUMERIC_LONG_SIGN_MASK == NUMERIC_LONG_NEGATIVE,
                    weight: i16::from_ne_bytes(word(2)),
                    dscale: header & NUMERIC_LONG_DSCALE_MASK,
                };
                Some((stored, 4))
            }
        };
        let outcome = parsed.map(|(stored, header_size)| {
            let digit_bytes = std::slice::from_raw_parts(data.add(header_size), size - header_size);
            read(stored, digit_bytes)
        });
        if value != datum.cast_mut_ptr() {
            pg_sys::pfree(value.cast());
        }
        outcome
    }
}

/// The sign of a numeric datum, from its header, as PostgreSQL's
/// numeric_sign() reads it; a stored numeric has no leading or trailing
/// zero digits, so zero is the one with no digits.
///
/// # Safety
/// `datum` is a non-null numeric.
pub unsafe fn numeric_sign(datum: pg_sys::Datum) -> AmountSign {
    let sign = |header: StoredHeader, digit_bytes: &[u8]| match (
        digit_bytes.is_empty(),
        header.negative,
    ) {
        (true, _) => AmountSign::Zero,
        (false, true) => AmountSign::Negative,
        (false, false) => AmountSign::Positive,
    };
    unsafe { read_stored(datum, sign) }.unwrap_or(AmountSign::NotFinite)
}

/// The Decimal of a stored numeric, read from its layout; `None` for what
/// the layout reader leaves to the text path (NaN, ±Infinity, more than 28
/// decimal places or 96 bits).
///
/// # Safety
/// `datum` is a non-null numeric.
pub unsafe fn decimal_from_layout(datum: pg_sys::Datum) -> Option<Decimal> {
    unsafe { NumericDigits::of_datum(datum) }.and_then(|parts| parts.to_decimal())
}

/// A `numeric` column read as a Decimal from its stored digits, without the
/// copy and text round trip of `AnyNumeric` and [`to_decimal`] (which it
/// falls back on only for what the layout reader leaves out).
pub struct NumericAsDecimal(pub Result<Decimal, NumericError>);

impl FromDatum for NumericAsDecimal {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            return None;
        }
        let read = unsafe { decimal_from_layout(datum) };
        Some(NumericAsDecimal(read.map(Ok).unwrap_or_else(|| {
            let value =
                unsafe { AnyNumeric::from_polymorphic_datum(datum, false, pg_sys::NUMERICOID) };
            to_decimal(&value.unwrap_or_else(|| unreachable!("a non-null datum")))
        })))
    }
}

impl IntoDatum for NumericAsDecimal {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        self.0.ok().map(numeric_datum)
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::NUMERICOID
    }
}

/// A `numeric` column's datum as stored (possibly packed), without the
/// copy `AnyNumeric` makes, for numeric functions to read.
pub struct NumericDatum(pub pg_sys::Datum);

impl FromDatum for NumericDatum {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<Self> {
        (!is_null).then_some(NumericDatum(datum))
    }
}

impl IntoDatum for NumericDatum {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        Some(self.0)
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::NUMERICOID
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
            let value = Decimal::from_str(text).unwrap();
            let parts = NumericDigits::from(value);
            assert_eq!(
                (parts.negative, parts.weight, parts.dscale, parts.digits()),
                (negative, weight, dscale, digits),
                "{text}"
            );
            // And back, with the same scale.
            let back = parts.to_decimal().unwrap();
            assert_eq!(
                (back, back.to_string()),
                (value, value.to_string()),
                "{text}"
            );
        }
    }

    #[test]
    fn digits_beyond_a_decimal_are_left_to_the_text_path() {
        let digits = |negative, weight, dscale, groups: &[i16]| {
            let mut digits = [0i16; super::MAX_GROUPS];
            digits[..groups.len()].copy_from_slice(groups);
            NumericDigits {
                negative,
                weight,
                dscale,
                digits,
                len: groups.len(),
            }
        };
        // 29 decimal places; 2^96 (one past the largest mantissa); 10^40.
        assert_eq!(digits(false, -8, 29, &[1000]).to_decimal(), None);
        let two_to_96 = [7, 9228, 1625, 1426, 4337, 5935, 4395, 336];
        assert_eq!(digits(true, 7, 0, &two_to_96).to_decimal(), None);
        assert_eq!(digits(false, 10, 0, &[1]).to_decimal(), None);
        // A digit beyond the display scale is not a stored numeric's.
        assert_eq!(digits(false, 0, 1, &[1, 5001]).to_decimal(), None);
        assert_eq!(
            digits(false, 0, 1, &[1, 5000]).to_decimal(),
            Decimal::from_str("1.5").ok()
        );
    }

    proptest::proptest! {
        #[test]
        fn every_decimal_comes_back_from_its_digits(mantissa in -(1i128 << 96) + 1..(1i128 << 96), scale in 0u32..=28) {
            let value = Decimal::from_i128_with_scale(mantissa, scale);
            let back = NumericDigits::from(value).to_decimal().unwrap();
            proptest::prop_assert_eq!(back.to_string(), value.to_string());
        }
    }
}
