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
    // Mantissas of every length and every scale, both signs (xorshift, fixed seed).
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let bits = (u128::from(next()) << 64 | u128::from(next())) & ((1u128 << 96) - 1);
        let mantissa = (bits >> (next() % 96)) as i128;
        let signed = if next() % 2 == 0 { mantissa } else { -mantissa };
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
