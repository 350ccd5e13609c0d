//! JSON header (serialize type 0): decoding every client dialect, encoding like Java fastjson.
//!
//! Dialects read (reference §1.4): Java (alphabetical, `serializeTypeCurrentRPC`), C++/jsoncpp
//! (trailing newline, `remark:""`, numbers and booleans inside `extFields`), Go (struct order, all
//! strings), Rust (`remark:null`). Written: fastjson's form, keys alphabetical, no whitespace,
//! null members omitted, every `extFields` value a JSON string.

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
    cur.object(|cur, key| {
        match cur.value_text()?.into_string() {
            Some(value) => {
                ext.insert(key.into_owned(), value);
            }
            None => {
                ext.remove(key.as_ref());
            }
        }
        Ok(())
    })?;
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

/// A JSON string literal escaped as fastjson 1.x's `SerializeWriter` does by default: `"` `\\`
/// and `\b \t \n \f \r` by their short escapes; the other C0 controls, DEL, the C1 controls
/// (U+0080..U+009F) and U+2028/U+2029 as `\uXXXX` (upper-case hex); everything else, `/` and
/// non-ASCII included, as raw UTF-8.
pub(super) fn put_json_string(dst: &mut BytesMut, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    dst.put_u8(b'"');
    let bytes = s.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(word) = bytes.get(i..i + 8) {
            if is_plain_ascii8(word) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        // (escape text or code point to write as \uXXXX, length of the UTF-8 sequence replaced)
        let (short, unicode, len): (&[u8], u32, usize) = match b {
            b'"' => (b"\\\"", 0, 1),
            b'\\' => (b"\\\\", 0, 1),
            b'\n' => (b"\\n", 0, 1),
            b'\r' => (b"\\r", 0, 1),
            b'\t' => (b"\\t", 0, 1),
            0x08 => (b"\\b", 0, 1),
            0x0c => (b"\\f", 0, 1),
            0x00..=0x1f | 0x7f => (b"", b as u32, 1),
            0xc2 if matches!(bytes.get(i + 1), Some(0x80..=0x9f)) => (b"", bytes[i + 1] as u32, 2),
            0xe2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) =>
            {
                (b"", 0x2000 + bytes[i + 2] as u32 - 0x80, 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        dst.put_slice(&bytes[run..i]);
        if short.is_empty() {
            let u = unicode as usize;
            dst.put_slice(&[
                b'\\',
                b'u',
                HEX[(u >> 12) & 0xf],
                HEX[(u >> 8) & 0xf],
                HEX[(u >> 4) & 0xf],
                HEX[u & 0xf],
            ]);
        } else {
            dst.put_slice(short);
        }
        i += len;
        run = i;
    }
    dst.put_slice(&bytes[run..]);
    dst.put_u8(b'"');
}

/// True when none of these 8 bytes needs escaping or UTF-8 care: all in 0x20..=0x7E and none
/// is `"` or `\\` (most header text is plain ASCII, so it is copied eight bytes per step).
fn is_plain_ascii8(word: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut b = [0u8; 8];
    b.copy_from_slice(word);
    let v = u64::from_le_bytes(b);
    let has_zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let below_space = v.wrapping_sub(LO * 0x20) & !v & HI;
    let del_or_high = (v | v.wrapping_add(LO)) & HI;
    let quote = has_zero(v ^ (LO * b'"' as u64));
    let backslash = has_zero(v ^ (LO * b'\\' as u64));
    below_space | del_or_high | quote | backslash == 0
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
    fn plain_ascii_detection_is_exact_for_every_byte_at_every_position() {
        for at in 0..8 {
            for b in 0..=255u8 {
                let mut word = *b"abcdefgh";
                word[at] = b;
                let plain = (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\';
                assert_eq!(is_plain_ascii8(&word), plain, "byte {b:#x} at {at}");
            }
        }
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
