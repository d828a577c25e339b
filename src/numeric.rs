//! Exact conversion between PostgreSQL `numeric` and `rust_decimal::Decimal`.
//! Both sides are decimal, so going through the canonical text form loses nothing.

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

pub fn to_numeric(value: Decimal) -> AnyNumeric {
    // A Decimal's text form is always valid numeric input.
    AnyNumeric::try_from(value.to_string().as_str())
        .unwrap_or_else(|_| unreachable!("decimal text is numeric"))
}
