//! How one header field value is read from and written to its `extFields` string.

use crate::command::ExtFields;
use crate::error::{RemotingError, Result};

/// A header field type: Java's `String`, `Integer`, `Long`, `Boolean` and `BoundaryType`.
pub trait WireValue: Sized {
    /// Parses the wire text of field `key`.
    fn parse(key: &'static str, raw: &str) -> Result<Self>;
    /// The wire text Java's `String.valueOf` would produce.
    fn render(&self) -> String;
}

impl WireValue for String {
    fn parse(_key: &'static str, raw: &str) -> Result<Self> {
        Ok(raw.to_owned())
    }

    fn render(&self) -> String {
        self.clone()
    }
}

/// `Integer.parseInt`/`Long.parseLong` accept an optional sign and decimal digits, nothing else
/// (no whitespace, no decimal point); Rust's integer `FromStr` accepts exactly the same.
fn bad_number(key: &'static str, raw: &str, kind: &str) -> RemotingError {
    RemotingError::HeaderField {
        field: key,
        problem: format!("{raw:?} is not a valid {kind}"),
    }
}

impl WireValue for i32 {
    fn parse(key: &'static str, raw: &str) -> Result<Self> {
        raw.parse().map_err(|_| bad_number(key, raw, "int32"))
    }

    fn render(&self) -> String {
        self.to_string()
    }
}

impl WireValue for i64 {
    fn parse(key: &'static str, raw: &str) -> Result<Self> {
        raw.parse().map_err(|_| bad_number(key, raw, "int64"))
    }

    fn render(&self) -> String {
        self.to_string()
    }
}

/// `Boolean.parseBoolean`: `true` in any case is true, every other text is false. This leniency
/// matters: the C++ client writes its booleans through an `ostream`, i.e. as `"0"`/`"1"`, and a
/// Java broker reads both as false; rejecting them would break C++ producers.
impl WireValue for bool {
    fn parse(_key: &'static str, raw: &str) -> Result<Self> {
        Ok(raw.eq_ignore_ascii_case("true"))
    }

    fn render(&self) -> String {
        if *self { "true" } else { "false" }.to_owned()
    }
}

/// Which offset SEARCH_OFFSET_BY_TIMESTAMP returns when several messages share the timestamp
/// (J5 `BoundaryType`). Read case-insensitively, anything but `upper` meaning `LOWER`, as Java.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BoundaryType {
    #[default]
    Lower,
    Upper,
}

impl WireValue for BoundaryType {
    fn parse(_key: &'static str, raw: &str) -> Result<Self> {
        Ok(if raw.eq_ignore_ascii_case("upper") {
            Self::Upper
        } else {
            Self::Lower
        })
    }

    /// Java writes the enum constant's name.
    fn render(&self) -> String {
        match self {
            Self::Lower => "LOWER",
            Self::Upper => "UPPER",
        }
        .to_owned()
    }
}

// Helpers the `command_header!` expansion calls; public so the macro works from any module.

#[doc(hidden)]
pub fn read_required<T: WireValue>(key: &'static str, raw: Option<&str>) -> Result<T> {
    match raw {
        Some(raw) => T::parse(key, raw),
        None => Err(RemotingError::HeaderField {
            field: key,
            problem: "required field is missing".to_owned(),
        }),
    }
}

#[doc(hidden)]
pub fn read_optional<T: WireValue>(key: &'static str, raw: Option<&str>) -> Result<Option<T>> {
    raw.map(|raw| T::parse(key, raw)).transpose()
}

#[doc(hidden)]
pub fn write_required<T: WireValue>(ext: &mut ExtFields, key: &'static str, value: &T) {
    ext.insert(std::borrow::Cow::Borrowed(key), value.render());
}

#[doc(hidden)]
pub fn write_optional<T: WireValue>(ext: &mut ExtFields, key: &'static str, value: &Option<T>) {
    if let Some(value) = value {
        ext.insert(std::borrow::Cow::Borrowed(key), value.render());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(err: RemotingError) -> (&'static str, String) {
        match err {
            RemotingError::HeaderField { field, problem } => (field, problem),
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn integers_parse_like_java() {
        assert_eq!(i32::parse("queueId", "7").unwrap(), 7);
        assert_eq!(i32::parse("queueId", "-1").unwrap(), -1);
        assert_eq!(i32::parse("queueId", "+3").unwrap(), 3);
        assert_eq!(
            i64::parse("bornTimestamp", "1700000000000").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(i64::parse("x", &i64::MIN.to_string()).unwrap(), i64::MIN);
        for bad in ["", " 1", "1 ", "1.0", "abc", "0x10", "2147483648"] {
            let (field, text) = problem(i32::parse("queueId", bad).unwrap_err());
            assert_eq!(field, "queueId");
            assert!(text.contains(&format!("{bad:?}")), "{text}");
            assert!(text.contains("int32"), "{text}");
        }
        let (_, text) = problem(i64::parse("g", "9223372036854775808").unwrap_err());
        assert!(text.contains("int64"), "{text}");
    }

    #[test]
    fn booleans_parse_like_java_boolean_parse_boolean() {
        for t in ["true", "TRUE", "True"] {
            assert!(bool::parse("k", t).unwrap());
        }
        for f in ["false", "FALSE", "0", "1", "", "yes"] {
            assert!(!bool::parse("k", f).unwrap(), "{f:?}");
        }
        assert_eq!(true.render(), "true");
        assert_eq!(false.render(), "false");
    }

    #[test]
    fn boundary_type_reads_case_insensitively_and_writes_names() {
        assert_eq!(
            BoundaryType::parse("b", "upper").unwrap(),
            BoundaryType::Upper
        );
        assert_eq!(
            BoundaryType::parse("b", "UPPER").unwrap(),
            BoundaryType::Upper
        );
        assert_eq!(
            BoundaryType::parse("b", "lower").unwrap(),
            BoundaryType::Lower
        );
        assert_eq!(
            BoundaryType::parse("b", "other").unwrap(),
            BoundaryType::Lower
        );
        assert_eq!(BoundaryType::Upper.render(), "UPPER");
        assert_eq!(BoundaryType::Lower.render(), "LOWER");
    }

    #[test]
    fn missing_required_value_names_the_key() {
        let (field, text) = problem(read_required::<i32>("e", None).unwrap_err());
        assert_eq!(field, "e");
        assert!(text.contains("missing"));
        assert_eq!(read_optional::<i32>("j", None).unwrap(), None);
        assert_eq!(read_optional::<i32>("j", Some("4")).unwrap(), Some(4));
    }
}
