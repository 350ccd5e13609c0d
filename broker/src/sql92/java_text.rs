//! String-to-value conversions exactly as strict as the Java calls RocketMQ's
//! comparisons make (`Integer.valueOf`, `Long.valueOf`, `Double.valueOf`,
//! `Boolean.valueOf`), so a property compares the same way it does on a Java broker.
//!
//! Simplification: Java also accepts non-ASCII Unicode digits and hexadecimal float
//! strings (`0x1p3`); those are refused here.

/// `Integer.valueOf`: optional sign, ASCII digits, must fit 32 bits.
pub(crate) fn parse_int(s: &str) -> Option<i32> {
    parse_long(s).and_then(|v| i32::try_from(v).ok())
}

/// `Long.valueOf`: optional sign, ASCII digits, must fit 64 bits.
pub(crate) fn parse_long(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Rust accepts the same shape ('+' or '-' then digits) and checks the range.
    s.parse().ok()
}

/// `Double.valueOf`: surrounding control/space characters trimmed, optional sign,
/// `NaN`, `Infinity`, or digits with an optional fraction and exponent, then an
/// optional `f`/`F`/`d`/`D` type suffix.
pub(crate) fn parse_double(s: &str) -> Option<f64> {
    let s = s.trim_matches(|c: char| c <= ' ');
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = match body {
        "NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        _ => {
            let number = body.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(body);
            if !is_decimal_float(number) {
                return None;
            }
            number.parse().ok()?
        }
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// `digits [. digits] | . digits`, then an optional `e[+-]digits`.
fn is_decimal_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_digits = count_digits(&b[i..]);
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(&b[i..]);
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_digits = count_digits(&b[i..]);
        if exp_digits == 0 {
            return false;
        }
        i += exp_digits;
    }
    i == b.len()
}

fn count_digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

/// `Boolean.valueOf`: true exactly for "true" in any case.
pub(crate) fn parse_bool(s: &str) -> bool {
    s.eq_ignore_ascii_case("true")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_strict_like_java() {
        assert_eq!(parse_int("42"), Some(42));
        assert_eq!(parse_int("+7"), Some(7));
        assert_eq!(parse_int("-2147483648"), Some(i32::MIN));
        assert_eq!(parse_int("2147483648"), None);
        assert_eq!(parse_long("2147483648"), Some(2_147_483_648));
        for bad in ["", "+", "-", " 1", "1 ", "1.0", "0x10", "1e3", "abc"] {
            assert_eq!(parse_long(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn doubles_accept_what_java_accepts() {
        assert_eq!(parse_double(" 3.5 "), Some(3.5));
        assert_eq!(parse_double("5."), Some(5.0));
        assert_eq!(parse_double(".5"), Some(0.5));
        assert_eq!(parse_double("-1e3"), Some(-1000.0));
        assert_eq!(parse_double("2.5f"), Some(2.5));
        assert_eq!(parse_double("7D"), Some(7.0));
        assert_eq!(parse_double("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(parse_double("NaN").is_some_and(f64::is_nan));
        for bad in [
            "", ".", "e5", "1e", "inf", "nan", "infinity", "1_0", "1.2.3", "abc",
        ] {
            assert_eq!(parse_double(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn booleans_are_true_only_for_true() {
        assert!(parse_bool("TRUE"));
        assert!(parse_bool("true"));
        assert!(!parse_bool("yes"));
        assert!(!parse_bool("1"));
    }
}
