//! JSON header (serialize type 0): decoding every client dialect, encoding like Java fastjson.
//!
//! Dialects read (reference §1.4): Java (alphabetical, `serializeTypeCurrentRPC`), C++/jsoncpp
//! (trailing newline, `remark:""`, numbers and booleans inside `extFields`), Go (struct order, all
//! strings), Rust (`remark:null`). Written: fastjson's form, keys alphabetical, no whitespace,
//! null members omitted, every `extFields` value a JSON string.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};

use super::json_cursor::JsonCursor;
use crate::code::LanguageCode;
use crate::command::{ExtFields, RemotingCommand, SerializeType};
use crate::error::{RemotingError, Result};

/// Decodes a JSON header into a command with an empty body.
///
/// Members absent from the header keep Java's defaults: language JAVA, every number 0, no remark,
/// no extFields. Unknown members are skipped; an unknown language becomes `Other`.
pub fn decode_json_header(header: &[u8]) -> Result<RemotingCommand> {
    let mut cmd = RemotingCommand {
        language: LanguageCode::Java,
        version: 0,
        serialize_type: SerializeType::Json,
        ..RemotingCommand::default()
    };
    let mut cur = JsonCursor::new(header);
    let found = cur.object(|cur, key| {
        match key.as_ref() {
            "code" => set_int(&mut cmd.code, cur.int("code")?),
            "opaque" => set_int(&mut cmd.opaque, cur.int("opaque")?),
            "flag" => set_int(&mut cmd.flag, cur.int("flag")?),
            "version" => set_int(&mut cmd.version, cur.int("version")?),
            "language" => {
                if let Some(lang) = read_language(cur)? {
                    cmd.language = lang;
                }
            }
            "remark" => cmd.remark = cur.value_text()?.into_string(),
            "extFields" => read_ext_fields(cur, &mut cmd.ext_fields)?,
            _ => cur.skip_value()?,
        }
        Ok(())
    })?;
    if !found {
        return Err(RemotingError::Header("JSON header is null".to_string()));
    }
    cur.finish()?;
    Ok(cmd)
}

fn set_int(slot: &mut i32, value: Option<i32>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// `language` as its name (`"CPP"`) or ordinal (`1`, what fastjson also accepts). `None` for null.
fn read_language(cur: &mut JsonCursor<'_>) -> Result<Option<LanguageCode>> {
    let Some(text) = cur.value_text()?.into_string() else {
        return Ok(None);
    };
    let lang = LanguageCode::from_name(&text)
        .or_else(|| text.parse::<u8>().ok().and_then(LanguageCode::from_u8))
        .unwrap_or(LanguageCode::Other);
    Ok(Some(lang))
}

/// `extFields`: an object or null. Values that are numbers or booleans (C++) keep their text, as
/// fastjson does when filling a `HashMap<String, String>`; null values are dropped.
fn read_ext_fields(cur: &mut JsonCursor<'_>, ext: &mut ExtFields) -> Result<()> {
    if !matches!(cur.peek(), Some(b'{' | b'n')) {
        return Err(cur.error("`extFields` must be an object"));
    }
    let mut members: Vec<(Cow<'static, str>, Option<String>)> = Vec::with_capacity(16);
    cur.object(|cur, key| {
        let value = cur.value_text()?.into_string();
        members.push((crate::header::keys::intern(key), value));
        Ok(())
    })?;
    // Member by member, the last occurrence of a key decides (a null removes it). The map is
    // built in one go from the sorted survivors: cheaper than a search and a shift per insert.
    members.sort_by(|a, b| a.0.cmp(&b.0));
    let mut last: Vec<(Cow<'static, str>, Option<String>)> = Vec::with_capacity(members.len());
    for member in members {
        match last.last_mut() {
            Some(prev) if prev.0 == member.0 => *prev = member,
            _ => last.push(member),
        }
    }
    if ext.is_empty() {
        *ext = last
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
    } else {
        // A second `extFields` member (no real client sends one): applied over the first.
        for (k, v) in last {
            match v {
                Some(v) => {
                    ext.insert(k, v);
                }
                None => {
                    ext.remove(k.as_ref());
                }
            }
        }
    }
    Ok(())
}

/// Appends the JSON header of `cmd` as Java's fastjson writes it.
pub fn encode_json_header(cmd: &RemotingCommand, dst: &mut BytesMut) {
    dst.reserve(json_header_size_hint(cmd));
    dst.put_slice(b"{\"code\":");
    put_i32(dst, cmd.code);
    if !cmd.ext_fields.is_empty() {
        dst.put_slice(b",\"extFields\":{");
        let mut first = true;
        for (k, v) in &cmd.ext_fields {
            if !first {
                dst.put_u8(b',');
            }
            first = false;
            put_json_string(dst, k);
            dst.put_u8(b':');
            put_json_string(dst, v);
        }
        dst.put_u8(b'}');
    }
    dst.put_slice(b",\"flag\":");
    put_i32(dst, cmd.flag);
    dst.put_slice(b",\"language\":\"");
    dst.put_slice(cmd.language.name().as_bytes());
    dst.put_slice(b"\",\"opaque\":");
    put_i32(dst, cmd.opaque);
    if let Some(remark) = &cmd.remark {
        dst.put_slice(b",\"remark\":");
        put_json_string(dst, remark);
    }
    // Whatever the command's own setting, a header written as JSON says JSON.
    dst.put_slice(b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    put_i32(dst, cmd.version);
    dst.put_u8(b'}');
}

/// A close upper bound when nothing needs escaping, so the header is written with one allocation.
fn json_header_size_hint(cmd: &RemotingCommand) -> usize {
    let ext: usize = cmd
        .ext_fields
        .iter()
        .map(|(k, v)| k.len() + v.len() + 6)
        .sum();
    let remark = cmd.remark.as_ref().map_or(0, |r| r.len() + 12);
    128 + ext + remark
}

/// Decimal text of `v` without going through `core::fmt`.
pub(super) fn put_i32(dst: &mut BytesMut, v: i32) {
    let mut buf = [0u8; 11];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    dst.put_slice(&buf[i..]);
}

/// A JSON string literal escaped as fastjson 1.x's `SerializeWriter` does by default (the
/// legacy style shared with the body writer).
pub(super) fn put_json_string(dst: &mut BytesMut, s: &str) {
    crate::json::format::write_escaped(dst, s, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(s: &str) -> RemotingCommand {
        decode_json_header(s.as_bytes()).unwrap()
    }

    #[test]
    fn absent_members_take_java_defaults() {
        let cmd = decode("{}");
        assert_eq!(cmd.code, 0);
        assert_eq!(cmd.language, LanguageCode::Java);
        assert_eq!(cmd.version, 0);
        assert_eq!(cmd.remark, None);
        assert!(cmd.ext_fields.is_empty());
    }

    #[test]
    fn language_by_name_ordinal_or_unknown() {
        assert_eq!(decode(r#"{"language":"GO"}"#).language, LanguageCode::Go);
        assert_eq!(decode(r#"{"language":1}"#).language, LanguageCode::Cpp);
        assert_eq!(decode(r#"{"language":"12"}"#).language, LanguageCode::Rust);
        assert_eq!(
            decode(r#"{"language":"COBOL"}"#).language,
            LanguageCode::Other
        );
        assert_eq!(decode(r#"{"language":99}"#).language, LanguageCode::Other);
        assert_eq!(decode(r#"{"language":null}"#).language, LanguageCode::Java);
    }

    #[test]
    fn numbers_may_be_strings_and_unknown_members_are_skipped() {
        let cmd = decode(
            r#"{"x":{"deep":[1,{"y":"}"}]},"code":"310","opaque":"-5","flag":2,"future":[true,null]}"#,
        );
        assert_eq!((cmd.code, cmd.opaque, cmd.flag), (310, -5, 2));
    }

    #[test]
    fn ext_fields_null_values_numbers_and_duplicates() {
        let cmd = decode(r#"{"extFields":{"a":"1","b":null,"c":32,"d":true,"a":"2"}}"#);
        assert_eq!(cmd.ext("a"), Some("2"));
        assert_eq!(cmd.ext("b"), None);
        assert_eq!(cmd.ext("c"), Some("32"));
        assert_eq!(cmd.ext("d"), Some("true"));
        assert!(decode(r#"{"extFields":null}"#).ext_fields.is_empty());
    }

    #[test]
    fn a_second_ext_fields_member_applies_over_the_first() {
        let cmd =
            decode(r#"{"extFields":{"a":"1","b":"2"},"extFields":{"b":null,"c":"3","a":"4"}}"#);
        assert_eq!(cmd.ext("a"), Some("4"));
        assert_eq!(cmd.ext("b"), None);
        assert_eq!(cmd.ext("c"), Some("3"));
        let cmd = decode(r#"{"extFields":{"k":null,"k":"v","j":"1","j":null}}"#);
        assert_eq!(cmd.ext("k"), Some("v"));
        assert_eq!(cmd.ext("j"), None);
    }

    #[test]
    fn invalid_headers_are_header_errors() {
        let bad: [&[u8]; 9] = [
            b"",
            b"null",
            b"[]",
            b"{\"code\":}",
            b"{\"code\":1} x",
            b"{\"code\":true}",
            b"{\"extFields\":\"a\"}",
            b"{\"code\":99999999999}",
            b"{\"remark\":\"\xff\"}",
        ];
        for bad in bad {
            let err = decode_json_header(bad).unwrap_err();
            assert!(matches!(err, RemotingError::Header(_)), "{bad:?}: {err}");
        }
    }

    #[test]
    fn lenient_fastjson_forms_are_accepted() {
        let cmd = decode("{code:10,'opaque':7,\"extFields\":{topic:'T',},}\n");
        assert_eq!((cmd.code, cmd.opaque), (10, 7));
        assert_eq!(cmd.ext("topic"), Some("T"));
    }

    #[test]
    fn strings_are_escaped_like_fastjson() {
        let mut dst = BytesMut::new();
        put_json_string(&mut dst, "a\"b\\c\n\u{1}\u{1f}é/\u{7f}\u{85}\u{a0}\u{2028}");
        assert_eq!(
            std::str::from_utf8(&dst).unwrap(),
            "\"a\\\"b\\\\c\\n\\u0001\\u001Fé/\\u007F\\u0085\u{a0}\\u2028\""
        );
    }

    #[test]
    fn integers_are_written_in_decimal() {
        for v in [0, 7, -1, 479, i32::MIN, i32::MAX] {
            let mut dst = BytesMut::new();
            put_i32(&mut dst, v);
            assert_eq!(std::str::from_utf8(&dst).unwrap(), v.to_string());
        }
    }

    #[test]
    fn encoding_omits_null_members_and_round_trips() {
        let cmd = RemotingCommand::request(34).with_ext("k", "v\u{0}\"");
        let mut dst = BytesMut::new();
        encode_json_header(&cmd, &mut dst);
        let text = std::str::from_utf8(&dst).unwrap();
        assert!(!text.contains("remark"), "{text}");
        assert_eq!(decode_json_header(&dst).unwrap(), cmd);
    }
}
