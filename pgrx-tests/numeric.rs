// src/numeric.rs writes a Decimal straight into numeric's layout: it must
// be byte for byte what numeric_in makes of the Decimal's text, or indexes,
// hashes and comparisons could tell the two apart.

fn numeric_in_of(text: &str) -> pg_sys::Datum {
    let text = std::ffi::CString::new(text).unwrap();
    let args = [
        Some(pg_sys::Datum::from(text.as_ptr())),
        Some(pg_sys::Datum::from(pg_sys::InvalidOid)),
        Some(pg_sys::Datum::from(-1i32)),
    ];
    unsafe { pgrx::direct_function_call_as_datum(pg_sys::numeric_in, &args) }.unwrap()
}

/// Pseudo-random numbers from a fixed seed, the same on every run.
fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

fn varlena_bytes<'a>(datum: pg_sys::Datum) -> &'a [u8] {
    unsafe {
        let size = pgrx::varsize_any(datum.cast_mut_ptr());
        std::slice::from_raw_parts(datum.cast_mut_ptr::<u8>(), size)
    }
}

#[pg_test]
fn decimals_are_written_as_the_bytes_numeric_in_makes_of_their_text() {
    use rust_decimal::Decimal;
    use std::str::FromStr;
    let mut values: Vec<Decimal> = [
        "0", "0.00", "-0.00", "1", "-1", "1.50", "0.05", "-59.40", "12345.6789", "10000",
        "0.0001", "0.00001", "0.0000000000000000000000000001", "79228162514264337593543950335",
        "-79228162514264337593543950335", "-7.9228162514264337593543950335", "99990000", "0.9999",
    ]
    .iter()
    .map(|text| Decimal::from_str(text).unwrap())
    .collect();
    // Mantissas of every length and every scale, both signs.
    let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let bits = (u128::from(next()) << 64 | u128::from(next())) & ((1u128 << 96) - 1);
        let mantissa = (bits >> (next() % 96)) as i128;
        let signed = if next().is_multiple_of(2) { mantissa } else { -mantissa };
        values.push(Decimal::from_i128_with_scale(signed, (next() % 29) as u32));
    }
    for value in values {
        let written = crate::numeric::numeric_datum(value);
        assert_eq!(
            varlena_bytes(written),
            varlena_bytes(numeric_in_of(&value.to_string())),
            "{value}"
        );
    }
}

// Tariff loading reads numeric columns as Decimals from numeric's layout,
// falling back to their text for what the layout reader leaves out; anything
// else reads them through their text. Whatever a Decimal holds must come
// from the layout, equal to the text's, with the same scale; the rest is
// refused both ways.
#[pg_test]
fn numerics_read_from_their_layout_equal_those_read_through_text() {
    use crate::numeric::{decimal_from_layout, to_decimal, NumericAsDecimal};
    let mut texts: Vec<String> = [
        "0", "0.00", "-0.000", "1", "-1", "1.50", "0.05", "-59.40", "12345.6789", "10000", "99990000",
        "0.0001", "0.00001", "0.9999", "1e-28", "1e-29", "1.0000000000000000000000000000",
        "1.00000000000000000000000000000", "79228162514264337593543950335",
        "-79228162514264337593543950335", "79228162514264337593543950336", "7.9228162514264337593543950335",
        "1e28", "1e40", "1e300", "-1e-300", "0.000000000000000000000000000000000000000000000000000000000000000000001",
        "NaN", "Infinity", "-Infinity",
    ]
    .iter()
    .map(|text| text.to_string())
    .collect();
    // Random digits, points and signs.
    let mut next = xorshift(0x2545_F491_4F6C_DD1D);
    for _ in 0..3_000 {
        let digits: String = (0..1 + next() % 34).map(|_| char::from(b'0' + (next() % 10) as u8)).collect();
        let point = (next() as usize) % (digits.len() + 1);
        let sign = if next().is_multiple_of(2) { "" } else { "-" };
        texts.push(match digits.split_at(point) {
            (whole, "") => format!("{sign}{whole}"),
            ("", fraction) => format!("{sign}0.{fraction}"),
            (whole, fraction) => format!("{sign}{whole}.{fraction}"),
        });
    }
    for text in &texts {
        let datum = numeric_in_of(text);
        let through_text = to_decimal(&unsafe { pgrx::AnyNumeric::from_datum(datum, false) }.unwrap());
        let from_layout = unsafe { decimal_from_layout(datum) };
        assert_eq!(
            from_layout.map(|value| value.to_string()),
            through_text.as_ref().ok().map(|value| value.to_string()),
            "{text}"
        );
    }
    // And as a column, through SPI, with the fallback.
    for text in texts.iter().step_by(50) {
        let query = format!("SELECT '{text}'::numeric");
        let column = Spi::get_one::<NumericAsDecimal>(&query).unwrap().unwrap().0;
        let through_text = to_decimal(&Spi::get_one::<pgrx::AnyNumeric>(&query).unwrap().unwrap());
        assert_eq!(column.map(|value| value.to_string()), through_text.map(|value| value.to_string()), "{text}");
    }
}
