//! A serde `Serializer` that writes JSON the way fastjson 1.2.x does for RocketMQ bodies.
//!
//! Both styles: struct members sorted alphabetically by their (Java) name, no whitespace, null
//! members and null map values omitted, map entries in the map's own iteration order, map keys
//! that are structs written as object literals (`{{"brokerName":"b",...}:v}`).
//! - [`Style::Legacy`] (`RemotingSerializable.encode`): integer map keys unquoted (`{0:"a"}`),
//!   non-ASCII written raw.
//! - [`Style::Standard`] (the NameServer's route encoding for clients >= V4_9_4): integer map
//!   keys quoted (`{"0":"a"}`), non-ASCII escaped as `\uXXXX`, integers beyond ±2^53 as strings.

use std::fmt;
use std::io::Write as _;

use serde::ser::{self, Serialize};

use super::format::{push_digits, write_escaped};

/// Which fastjson output style to produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Legacy,
    Standard,
}

/// A value the fastjson writer cannot express (bytes, tuple variants, null or boolean-free keys).
#[derive(Debug)]
pub struct WriteError(String);

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WriteError {}

impl ser::Error for WriteError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        WriteError(msg.to_string())
    }
}

/// Serializes `value` in the given style.
pub fn to_vec<T: Serialize + ?Sized>(value: &T, style: Style) -> Result<Vec<u8>, WriteError> {
    let mut w = Writer {
        out: Vec::with_capacity(256),
        style,
        fields: Vec::new(),
    };
    value.serialize(&mut w)?;
    Ok(w.out)
}

struct Writer {
    out: Vec<u8>,
    style: Style,
    /// Struct members written so far, as (name, start, end) of `"name":value` in `out`: a stack
    /// shared by nested structs (each struct owns the entries above its base) so that writing
    /// does not allocate per struct.
    fields: Vec<(&'static str, usize, usize)>,
}

/// Largest integer a JavaScript double holds exactly; fastjson's BrowserCompatible quotes longs
/// beyond it.
const JS_SAFE_INT: i64 = 9_007_199_254_740_991;

impl Writer {
    fn write_i64(&mut self, v: i64) {
        let quoted = self.style == Style::Standard && !(-JS_SAFE_INT..=JS_SAFE_INT).contains(&v);
        if quoted {
            self.out.push(b'"');
        }
        if v < 0 {
            self.out.push(b'-');
        }
        push_digits(&mut self.out, v.unsigned_abs());
        if quoted {
            self.out.push(b'"');
        }
    }

    fn write_u64(&mut self, v: u64) {
        let quoted = self.style == Style::Standard && v > JS_SAFE_INT as u64;
        if quoted {
            self.out.push(b'"');
        }
        push_digits(&mut self.out, v);
        if quoted {
            self.out.push(b'"');
        }
    }

    fn write_f64(&mut self, v: f64) {
        if v.is_finite() {
            // `{:?}` keeps a fractional part ("0.0", "12.5") as Java's Double.toString does.
            let _ = write!(self.out, "{v:?}");
        } else {
            self.out.extend_from_slice(b"null");
        }
    }

    fn write_str(&mut self, s: &str) {
        write_escaped(&mut self.out, s, self.style == Style::Standard);
    }
}

impl<'a> ser::Serializer for &'a mut Writer {
    type Ok = ();
    type Error = WriteError;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = ser::Impossible<(), WriteError>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = ser::Impossible<(), WriteError>;

    fn serialize_bool(self, v: bool) -> Result<(), WriteError> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), WriteError> {
        self.write_i64(v.into());
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), WriteError> {
        self.write_i64(v.into());
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), WriteError> {
        self.write_i64(v.into());
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), WriteError> {
        self.write_i64(v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), WriteError> {
        self.write_u64(v.into());
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), WriteError> {
        self.write_u64(v.into());
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), WriteError> {
        self.write_u64(v.into());
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), WriteError> {
        self.write_u64(v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), WriteError> {
        self.write_f64(v.into());
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), WriteError> {
        self.write_f64(v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), WriteError> {
        let mut buf = [0u8; 4];
        self.write_str(v.encode_utf8(&mut buf));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), WriteError> {
        self.write_str(v);
        Ok(())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), WriteError> {
        Err(WriteError(
            "byte arrays are not supported in JSON bodies".into(),
        ))
    }
    fn serialize_none(self) -> Result<(), WriteError> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), WriteError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), WriteError> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), WriteError> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), WriteError> {
        self.write_str(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        self.out.push(b'{');
        self.write_str(variant);
        self.out.push(b':');
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, WriteError> {
        self.out.push(b'[');
        Ok(Compound::new(self))
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, WriteError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, WriteError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, WriteError> {
        Err(WriteError(format!(
            "tuple variant {name}::{variant} is not supported in JSON bodies"
        )))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, WriteError> {
        self.out.push(b'{');
        Ok(Compound::new(self))
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a>, WriteError> {
        self.out.push(b'{');
        let _ = len;
        Ok(Compound::new(self))
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, WriteError> {
        Err(WriteError(format!(
            "struct variant {name}::{variant} is not supported in JSON bodies"
        )))
    }
}

/// State of one array, map or struct being written.
pub struct Compound<'a> {
    w: &'a mut Writer,
    /// Elements or entries written so far (removed null entries not counted).
    count: usize,
    /// Start of the current map entry (before its comma), to drop it if its value is null.
    entry_start: usize,
    /// Index in `w.fields` where this struct's members start.
    fields_base: usize,
    sorted: bool,
}

impl<'a> Compound<'a> {
    fn new(w: &'a mut Writer) -> Self {
        let fields_base = w.fields.len();
        Compound {
            w,
            count: 0,
            entry_start: 0,
            fields_base,
            sorted: true,
        }
    }

    fn comma(&mut self) {
        if self.count > 0 {
            self.w.out.push(b',');
        }
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        self.comma();
        value.serialize(&mut *self.w)?;
        self.count += 1;
        Ok(())
    }
    fn end(self) -> Result<(), WriteError> {
        self.w.out.push(b']');
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), WriteError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), WriteError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), WriteError> {
        self.entry_start = self.w.out.len();
        self.comma();
        let key_start = self.w.out.len();
        key.serialize(&mut *self.w)?;
        match self.w.out.get(key_start).copied() {
            // Strings stay strings; structs become object literals (fastjson's object keys).
            Some(b'"') | Some(b'{') | Some(b'[') => {}
            Some(b) if b == b'-' || b.is_ascii_digit() => {
                if self.w.style == Style::Standard {
                    self.w.out.insert(key_start, b'"');
                    self.w.out.push(b'"');
                }
            }
            Some(b't') | Some(b'f') => {
                self.w.out.insert(key_start, b'"');
                self.w.out.push(b'"');
            }
            _ => return Err(WriteError("a map key must not be null".into())),
        }
        self.w.out.push(b':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        let value_start = self.w.out.len();
        value.serialize(&mut *self.w)?;
        if &self.w.out[value_start..] == b"null" {
            self.w.out.truncate(self.entry_start);
        } else {
            self.count += 1;
        }
        Ok(())
    }
    fn end(self) -> Result<(), WriteError> {
        self.w.out.push(b'}');
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        let entry_start = self.w.out.len();
        self.comma();
        let field_start = self.w.out.len();
        // Member names are Java identifiers: nothing to escape.
        self.w.out.push(b'"');
        self.w.out.extend_from_slice(name.as_bytes());
        self.w.out.extend_from_slice(b"\":");
        let value_start = self.w.out.len();
        value.serialize(&mut *self.w)?;
        if &self.w.out[value_start..] == b"null" {
            self.w.out.truncate(entry_start);
            return Ok(());
        }
        if self.w.fields.len() > self.fields_base {
            if let Some(&(prev, _, _)) = self.w.fields.last() {
                if prev > name {
                    self.sorted = false;
                }
            }
        }
        self.w.fields.push((name, field_start, self.w.out.len()));
        self.count += 1;
        Ok(())
    }
    fn end(self) -> Result<(), WriteError> {
        let w = self.w;
        if !self.sorted {
            // Members arrived out of alphabetical order: lay them out again, sorted.
            let fields = &mut w.fields[self.fields_base..];
            let region_start = fields.first().map_or(w.out.len(), |f| f.1);
            let region = w.out.split_off(region_start);
            fields.sort_by(|a, b| a.0.cmp(b.0));
            for (i, &(_, start, end)) in fields.iter().enumerate() {
                if i > 0 {
                    w.out.push(b',');
                }
                w.out
                    .extend_from_slice(&region[start - region_start..end - region_start]);
            }
        }
        w.fields.truncate(self.fields_base);
        w.out.push(b'}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Mq {
        topic: String,
        broker_name: String,
        queue_id: i32,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Holder {
        zeta: Option<String>,
        broker_addrs: BTreeMap<i64, String>,
        alpha: Option<i32>,
        name: String,
    }

    fn text(v: &impl Serialize, style: Style) -> String {
        String::from_utf8(to_vec(v, style).unwrap()).unwrap()
    }

    #[test]
    fn members_sorted_nulls_omitted_numeric_keys_by_style() {
        let h = Holder {
            zeta: None,
            broker_addrs: [(0, "10.0.0.1:10911".to_string()), (1, "b".into())].into(),
            alpha: Some(3),
            name: "n\"é".into(),
        };
        assert_eq!(
            text(&h, Style::Legacy),
            r#"{"alpha":3,"brokerAddrs":{0:"10.0.0.1:10911",1:"b"},"name":"n\"é"}"#
        );
        assert_eq!(
            text(&h, Style::Standard),
            r#"{"alpha":3,"brokerAddrs":{"0":"10.0.0.1:10911","1":"b"},"name":"n\"\u00E9"}"#
        );
    }

    #[test]
    fn struct_keys_are_object_literals_and_null_values_dropped() {
        let mut m = BTreeMap::new();
        m.insert(
            "k1".to_string(),
            Some(Mq {
                topic: "T".into(),
                broker_name: "b".into(),
                queue_id: 0,
            }),
        );
        m.insert("k0".to_string(), None);
        assert_eq!(
            text(&m, Style::Legacy),
            r#"{"k1":{"brokerName":"b","queueId":0,"topic":"T"}}"#
        );
        let keyed: Vec<(Mq, i64)> = vec![(
            Mq {
                topic: "T".into(),
                broker_name: "b".into(),
                queue_id: 1,
            },
            5,
        )];
        struct AsMap<'a>(&'a [(Mq, i64)]);
        impl Serialize for AsMap<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
            }
        }
        assert_eq!(
            text(&AsMap(&keyed), Style::Legacy),
            r#"{{"brokerName":"b","queueId":1,"topic":"T"}:5}"#
        );
    }

    #[test]
    fn standard_style_quotes_big_longs_and_escapes_astral_chars() {
        assert_eq!(
            text(&(1i64 << 60), Style::Standard),
            "\"1152921504606846976\""
        );
        assert_eq!(text(&(1i64 << 60), Style::Legacy), "1152921504606846976");
        assert_eq!(text(&"😀\n", Style::Standard), r#""\uD83D\uDE00\n""#);
        assert_eq!(text(&0.0f64, Style::Legacy), "0.0");
    }

    #[test]
    fn nested_unsorted_structs_share_the_field_stack() {
        #[derive(Serialize)]
        struct Outer {
            z: Mq,
            a: Vec<Mq>,
            m: Option<Mq>,
        }
        let mq = |q| Mq {
            topic: "T".into(),
            broker_name: "b".into(),
            queue_id: q,
        };
        let o = Outer {
            z: mq(1),
            a: vec![mq(2), mq(3)],
            m: None,
        };
        let one = r#"{"brokerName":"b","queueId":1,"topic":"T"}"#;
        assert_eq!(
            text(&o, Style::Legacy),
            format!(
                r#"{{"a":[{},{}],"z":{one}}}"#,
                one.replace('1', "2"),
                one.replace('1', "3")
            )
        );
    }
}
