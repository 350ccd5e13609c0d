//! Serde helpers for the loose typing of fastjson / jsoncpp peers: numbers sent as strings,
//! strings sent as numbers, booleans as `0`/`1`/`"true"`, `null` where a value is expected, and
//! enums as names or ordinals (see [`lenient_enum!`](crate::lenient_enum)).
//!
//! Use with `#[serde(deserialize_with = "lenient::i32")]` and friends; each accepts `null` as the
//! type's default, as Java does when it fills a primitive field.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};

/// An integer accepted from a JSON number (integral float too) or a numeric string.
pub struct LenientInt<T>(pub T);

struct IntVisitor<T>(PhantomData<T>);

impl<'de, T: TryFrom<i128> + Default> Visitor<'de> for IntVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer (number or numeric string)")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v.into()).map_err(|_| E::custom(format!("integer {v} out of range")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v.into()).map_err(|_| E::custom(format!("integer {v} out of range")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        if v.fract() == 0.0 && v.abs() < 9.3e18 {
            self.visit_i64(v as i64)
        } else {
            Err(E::custom(format!("expected an integer, found {v}")))
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        self.visit_i64(i64::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        let t = v.trim();
        if t.is_empty() {
            return Ok(T::default());
        }
        if let Ok(n) = t.parse::<i128>() {
            return T::try_from(n).map_err(|_| E::custom(format!("integer {t} out of range")));
        }
        match t.parse::<f64>() {
            Ok(f) => self.visit_f64(f),
            Err(_) => Err(E::custom(format!("expected an integer, found {v:?}"))),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: TryFrom<i128> + Default> Deserialize<'de> for LenientInt<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntVisitor(PhantomData)).map(LenientInt)
    }
}

pub fn i32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    LenientInt::deserialize(d).map(|v| v.0)
}

pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    LenientInt::deserialize(d).map(|v| v.0)
}

pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    LenientInt::deserialize(d).map(|v| v.0)
}

/// A floating-point number from a number or a numeric string (`null` = 0).
pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = f64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
            let t = v.trim();
            if t.is_empty() {
                return Ok(0.0);
            }
            t.parse()
                .map_err(|_| E::custom(format!("expected a number, found {v:?}")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
            Ok(0.0)
        }
    }
    d.deserialize_any(V)
}

/// A boolean from `true`/`false`, `0`/non-zero or the strings `"true"`/`"false"`/`"1"`/`"0"`.
pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a boolean")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
            Ok(v != 0)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
            Ok(v != 0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
            match v.trim() {
                t if t.eq_ignore_ascii_case("true") || t == "1" => Ok(true),
                t if t.eq_ignore_ascii_case("false") || t == "0" || t.is_empty() => Ok(false),
                _ => Err(E::custom(format!("expected a boolean, found {v:?}"))),
            }
        }
        fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
    }
    d.deserialize_any(V)
}

struct StringVisitor;

impl<'de> Visitor<'de> for StringVisitor {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// A string from a string, number or boolean (`null` = empty string).
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(StringVisitor)
        .map(Option::unwrap_or_default)
}

/// An optional string from a string, number or boolean (`null` = `None`).
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(StringVisitor)
}

/// Any `T`, with `null` meaning `T::default()` (Java writes nothing for null, jsoncpp may
/// write `null` for an empty member).
pub fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// An array of integers whose elements may be numbers or numeric strings (Go's `codeSet`);
/// `null` = empty.
pub fn vec_i32<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i32>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<i32>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of integers")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<i32>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            while let Some(LenientInt(v)) = seq.next_element::<LenientInt<i32>>()? {
                out.push(v);
            }
            Ok(out)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<i32>, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(V)
}

/// A string from a string, number or boolean (`null` = empty), usable as a collection element.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct LenientString(pub String);

impl<'de> Deserialize<'de> for LenientString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string(d).map(LenientString)
    }
}

/// A string-to-string map whose values may be numbers or booleans (Java `Properties`,
/// `Map<String, String>` filled by loosely typed peers); `null` = empty.
pub fn string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<std::collections::BTreeMap<String, String>, D::Error> {
    let m: Option<std::collections::BTreeMap<String, LenientString>> = Deserialize::deserialize(d)?;
    Ok(m.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

/// An array of strings whose elements may be numbers too; `null` = empty.
pub fn vec_string<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v: Option<Vec<LenientString>> = Deserialize::deserialize(d)?;
    Ok(v.unwrap_or_default().into_iter().map(|e| e.0).collect())
}

/// `LanguageCode` written as its Java name, read from a name or an ordinal.
pub mod language {
    use serde::{Deserializer, Serializer};

    use crate::code::LanguageCode;

    pub fn serialize<S: Serializer>(v: &LanguageCode, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<LanguageCode, D::Error> {
        let raw = super::string(d)?;
        let raw = raw.trim();
        if let Some(code) = LanguageCode::from_name(raw) {
            return Ok(code);
        }
        raw.parse::<u8>()
            .ok()
            .and_then(LanguageCode::from_u8)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown language code {raw:?}")))
    }
}

/// Declares a Java enum carried in JSON bodies: written as its name, read from its name, its
/// ordinal (C++ clients), or the ordinal as a string. `null` and unknown names read as the
/// declared default (as fastjson reads them as null); an unknown ordinal is an error.
#[macro_export]
macro_rules! lenient_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident (default $default:ident) {
            $( $(#[$vmeta:meta])* $variant:ident = $java:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in Java ordinal order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The Java enum constant name.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $java),+ }
            }

            /// The Java ordinal.
            pub fn ordinal(self) -> usize {
                self as usize
            }

            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($java => Some($name::$variant),)+ _ => None }
            }

            pub fn from_ordinal(ordinal: i64) -> Option<Self> {
                usize::try_from(ordinal).ok().and_then(|i| Self::ALL.get(i).copied())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = $crate::json::lenient::string(d)?;
                let raw = raw.trim();
                if raw.is_empty() {
                    return Ok($name::$default);
                }
                if let Some(v) = $name::from_name(raw) {
                    return Ok(v);
                }
                if let Ok(ordinal) = raw.parse::<i64>() {
                    return $name::from_ordinal(ordinal).ok_or_else(|| {
                        ::serde::de::Error::custom(format!(
                            concat!("no ", stringify!($name), " with ordinal {}"),
                            ordinal
                        ))
                    });
                }
                // Go sends upper-cased Go names ("CLUSTERING"); compare case-insensitively.
                if let Some(v) = $name::ALL.iter().find(|v| v.name().eq_ignore_ascii_case(raw)) {
                    return Ok(*v);
                }
                // fastjson reads an unknown constant name as null, i.e. the default.
                Ok($name::$default)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    crate::lenient_enum! {
        pub enum Color (default Red) { Red = "RED", Green = "GREEN" }
    }

    #[derive(Deserialize, Debug)]
    struct S {
        #[serde(deserialize_with = "super::i32", default)]
        a: i32,
        #[serde(deserialize_with = "super::i64", default)]
        b: i64,
        #[serde(deserialize_with = "super::string", default)]
        c: String,
        #[serde(deserialize_with = "super::bool", default)]
        d: bool,
        #[serde(deserialize_with = "super::vec_i32", default)]
        e: Vec<i32>,
        #[serde(default)]
        color: Color,
    }

    fn parse(s: &str) -> Result<S, serde_json::Error> {
        serde_json::from_str(s)
    }

    #[test]
    fn numbers_strings_and_nulls_are_interchangeable() {
        let s = parse(r#"{"a":"12","b":1.0,"c":5,"d":"true","e":["1",2,"-3"],"color":1}"#).unwrap();
        assert_eq!((s.a, s.b, s.c.as_str(), s.d), (12, 1, "5", true));
        assert_eq!(s.e, vec![1, 2, -3]);
        assert_eq!(s.color, Color::Green);
        let s = parse(r#"{"a":null,"b":null,"c":null,"d":null,"e":null,"color":"GREEN"}"#).unwrap();
        assert_eq!((s.a, s.b, s.c.as_str(), s.d), (0, 0, "", false));
        assert_eq!(s.color, Color::Green);
        assert_eq!(parse(r#"{"color":"1"}"#).unwrap().color, Color::Green);
        assert_eq!(Color::Green.ordinal(), 1);
    }

    #[test]
    fn out_of_range_and_junk_are_errors() {
        assert!(parse(r#"{"a":3000000000}"#).is_err());
        assert!(parse(r#"{"a":"x1"}"#).is_err());
        assert!(parse(r#"{"a":1.5}"#).is_err());
        assert!(parse(r#"{"color":2}"#).is_err());
        // fastjson maps unknown names to null (the default); names match case-insensitively.
        assert_eq!(parse(r#"{"color":"BLUE"}"#).unwrap().color, Color::Red);
        assert_eq!(parse(r#"{"color":"green"}"#).unwrap().color, Color::Green);
        assert!(parse(r#"{"e":[{}]}"#).is_err());
    }
}
