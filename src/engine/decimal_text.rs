//! Decimals written into breakdowns: the same text as rust_decimal's
//! `Display` (and its `normalize()`), without the general formatter's
//! 96-bit division per digit and padding logic, which were a sixth of the
//! engine's time per event.

use rust_decimal::Decimal;
use std::fmt;

/// Enough for a sign, "0.", 27 zeros and 29 digits.
const TEXT_CAPACITY: usize = 64;

/// `value` with every digit of its scale: "0.30", as `Display` writes it.
pub fn exact(value: Decimal) -> impl fmt::Display {
    fmt::from_fn(move |f| write_decimal(f, value, false))
}

/// `value` without trailing fractional zeros: "0.3", as
/// `value.normalize()` is displayed.
pub fn trimmed(value: Decimal) -> impl fmt::Display {
    fmt::from_fn(move |f| write_decimal(f, value, true))
}

fn write_decimal(f: &mut fmt::Formatter<'_>, value: Decimal, trim: bool) -> fmt::Result {
    if f.precision().is_some() || f.width().is_some() {
        // Padding and precision are rust_decimal's to apply.
        let shown = if trim { value.normalize() } else { value };
        return fmt::Display::fmt(&shown, f);
    }
    let mut digits = [0u8; 40];
    let mut start = digits.len();
    let mut mantissa = value.mantissa().unsigned_abs();
    // Wide steps while the mantissa needs more than 64 bits, then u64 ones.
    while mantissa > u128::from(u64::MAX) {
        start -= 1;
        digits[start] = b'0' + (mantissa % 10) as u8;
        mantissa /= 10;
    }
    let mut narrow = mantissa as u64;
    loop {
        start -= 1;
        digits[start] = b'0' + (narrow % 10) as u8;
        narrow /= 10;
        if narrow == 0 {
            break;
        }
    }
    let mut end = digits.len();
    let mut scale = value.scale() as usize;
    if trim && value.is_zero() {
        scale = 0;
    }
    if trim {
        // A non-zero mantissa's leading digit is not a zero: this stops there.
        while scale > 0 && digits[end - 1] == b'0' {
            end -= 1;
            scale -= 1;
        }
    }
    let significant = &digits[start..end];
    // normalize() turns -0 into 0; Display keeps the sign of a zero.
    let negative = value.is_sign_negative() && !(trim && value.is_zero());

    let mut text = [0u8; TEXT_CAPACITY];
    let mut len = 0;
    let mut push = |bytes: &[u8]| {
        text[len..len + bytes.len()].copy_from_slice(bytes);
        len += bytes.len();
    };
    if negative {
        push(b"-");
    }
    if significant.len() > scale {
        let point = significant.len() - scale;
        push(&significant[..point]);
        if scale > 0 {
            push(b".");
            push(&significant[point..]);
        }
    } else {
        push(b"0.");
        for _ in significant.len()..scale {
            push(b"0");
        }
        push(significant);
    }
    // Only ASCII digits, '-' and '.' were written.
    f.write_str(std::str::from_utf8(&text[..len]).map_err(|_| fmt::Error)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn both_ways_agree(value: Decimal) {
        assert_eq!(exact(value).to_string(), value.to_string(), "{value:?}");
        assert_eq!(
            trimmed(value).to_string(),
            value.normalize().to_string(),
            "{value:?}"
        );
    }

    #[test]
    fn edge_values_read_as_rust_decimal_writes_them() {
        let texts = [
            "0",
            "0.00",
            "-0.00",
            "1",
            "-1",
            "0.5",
            "0.05",
            "10",
            "100.100",
            "0.0000001",
            "123456789.987654321",
            "0.30",
            "-0.30",
            "7.5000",
        ];
        for text in texts {
            both_ways_agree(Decimal::from_str(text).unwrap());
        }
        for value in [
            Decimal::MAX,
            Decimal::MIN,
            Decimal::new(1, 28),
            Decimal::new(-1, 28),
        ] {
            both_ways_agree(value);
        }
        let mut negative_zero = Decimal::new(0, 3);
        negative_zero.set_sign_negative(true);
        both_ways_agree(negative_zero);
    }

    #[test]
    fn padding_and_precision_are_rust_decimals() {
        let value = Decimal::from_str("2.50").unwrap();
        assert_eq!(
            format!("{:>8}|{:.1}", exact(value), trimmed(value)),
            "    2.50|2.5"
        );
    }

    proptest! {
        #[test]
        fn any_decimal_reads_as_rust_decimal_writes_it(
            low in any::<u32>(), mid in any::<u32>(), high in any::<u32>(),
            negative in any::<bool>(), scale in 0u32..=28,
        ) {
            both_ways_agree(Decimal::from_parts(low, mid, high, negative, scale));
        }

        #[test]
        fn small_decimals_read_as_rust_decimal_writes_them(
            mantissa in -1_000_000i64..1_000_000, scale in 0u32..=8,
        ) {
            both_ways_agree(Decimal::new(mantissa, scale));
        }
    }
}
