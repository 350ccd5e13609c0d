//! A small pull-style JSON reader over a byte slice, just enough for Remoting headers.
//!
//! Headers are decoded on every request, so this reads members in place instead of building a
//! `serde_json::Value` tree: keys without escapes are borrowed, and values are only turned into
//! owned strings when the caller keeps them. It is lenient the way fastjson is (single-quoted
//! strings, unquoted keys, trailing commas, `\'` and `\xHH` escapes), because the Java server
//! accepts those and some clients rely on what the Java server accepts.

use std::borrow::Cow;

use crate::error::{RemotingError, Result};

/// Nesting limit for values that are skipped or captured whole (headers are flat; this only
/// stops hostile input from exhausting the stack).
const MAX_DEPTH: u32 = 64;

/// One scalar or composite JSON value, seen as the text a Java `String` field would receive.
pub(super) enum ValueText<'a> {
    /// A JSON string, unescaped.
    Str(Cow<'a, str>),
    /// A number, `true`/`false`, or a nested object/array, as written in the source.
    Raw(&'a str),
    Null,
}

impl<'a> ValueText<'a> {
    pub(super) fn into_string(self) -> Option<String> {
        match self {
            Self::Str(s) => Some(s.into_owned()),
            Self::Raw(s) => Some(s.to_owned()),
            Self::Null => None,
        }
    }
}

pub(super) struct JsonCursor<'a> {
    buf: &'a [u8],
    pos: usize,
    depth: u32,
}

impl<'a> JsonCursor<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            depth: 0,
        }
    }

    pub(super) fn error(&self, what: &str) -> RemotingError {
        RemotingError::Header(format!("invalid JSON header at byte {}: {what}", self.pos))
    }

    fn skip_ws(&mut self) {
        while let Some(&b) = self.buf.get(self.pos) {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// The next non-whitespace byte, not consumed.
    pub(super) fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.buf.get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<()> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected `{}`", byte as char)))
        }
    }

    /// Only whitespace may follow the top-level value (jsoncpp adds a newline).
    pub(super) fn finish(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error("unexpected data after the header object")),
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        Ok(())
    }

    /// Reads an object, calling `member` with each key; `member` must consume the value.
    /// Returns `false` (consuming the `null`) when the value is `null` instead of an object.
    pub(super) fn object<F>(&mut self, mut member: F) -> Result<bool>
    where
        F: FnMut(&mut Self, Cow<'a, str>) -> Result<()>,
    {
        if self.peek() == Some(b'n') {
            self.literal("null")?;
            return Ok(false);
        }
        self.expect(b'{')?;
        self.enter()?;
        loop {
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => {}
                None => return Err(self.error("unterminated object")),
            }
            let key = self.key()?;
            self.expect(b':')?;
            member(self, key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.error("expected `,` or `}` in object")),
            }
        }
        self.depth -= 1;
        Ok(true)
    }

    fn key(&mut self) -> Result<Cow<'a, str>> {
        match self.peek() {
            Some(b'"') | Some(b'\'') => self.string(),
            Some(b) if is_bare_key_byte(b) => {
                let start = self.pos;
                while self.buf.get(self.pos).is_some_and(|&b| is_bare_key_byte(b)) {
                    self.pos += 1;
                }
                // Bare keys are ASCII by construction.
                Ok(Cow::Borrowed(self.utf8(start, self.pos)?))
            }
            _ => Err(self.error("expected a member name")),
        }
    }

    fn utf8(&self, start: usize, end: usize) -> Result<&'a str> {
        std::str::from_utf8(&self.buf[start..end]).map_err(|_| {
            RemotingError::Header(format!("invalid UTF-8 in JSON header at byte {start}"))
        })
    }

    /// A quoted string (double or single quotes), unescaped. Borrowed when it has no escapes.
    pub(super) fn string(&mut self) -> Result<Cow<'a, str>> {
        let quote = match self.peek() {
            Some(q @ (b'"' | b'\'')) => q,
            _ => return Err(self.error("expected a string")),
        };
        self.pos += 1;
        let start = self.pos;
        let rest = &self.buf[start..];
        match find_quote_or_backslash(rest, quote) {
            Some(n) if rest[n] == quote => {
                self.pos = start + n + 1;
                Ok(Cow::Borrowed(self.utf8(start, start + n)?))
            }
            Some(n) => {
                let mut out: Vec<u8> = Vec::with_capacity(n + 16);
                out.extend_from_slice(&rest[..n]);
                self.pos = start + n;
                self.escaped_tail(quote, out).map(Cow::Owned)
            }
            None => Err(self.error("unterminated string")),
        }
    }

    /// Continues a string from the first backslash.
    fn escaped_tail(&mut self, quote: u8, mut out: Vec<u8>) -> Result<String> {
        loop {
            // Copy the run of plain bytes up to the next quote or backslash in one go.
            let rest = &self.buf[self.pos..];
            let Some(n) = find_quote_or_backslash(rest, quote) else {
                return Err(self.error("unterminated string"));
            };
            out.extend_from_slice(&rest[..n]);
            self.pos += n + 1;
            if rest[n] == quote {
                break;
            }
            let Some(&e) = self.buf.get(self.pos) else {
                return Err(self.error("unterminated escape"));
            };
            self.pos += 1;
            match e {
                b'"' | b'\\' | b'/' | b'\'' => out.push(e),
                b'b' => out.push(0x08),
                b'f' => out.push(0x0c),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'v' => out.push(0x0b),
                b'0' => out.push(0),
                b'x' => {
                    let v = self.hex(2)?;
                    push_char(&mut out, char::from_u32(v).unwrap_or('\u{fffd}'));
                }
                b'u' => {
                    let c = self.unicode_escape()?;
                    push_char(&mut out, c);
                }
                _ => return Err(self.error("unknown escape")),
            }
        }
        String::from_utf8(out)
            .map_err(|_| RemotingError::Header("invalid UTF-8 in JSON header string".to_string()))
    }

    fn hex(&mut self, digits: usize) -> Result<u32> {
        let end = self.pos + digits;
        let Some(text) = self.buf.get(self.pos..end) else {
            return Err(self.error("truncated hex escape"));
        };
        let mut v = 0u32;
        for &d in text {
            let n = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.error("bad hex digit in escape"))?;
            v = v * 16 + n;
        }
        self.pos = end;
        Ok(v)
    }

    /// `\uXXXX`, joining surrogate pairs; a lone surrogate becomes U+FFFD (what Java's UTF-8
    /// encoder would emit for it as well, modulo the replacement character).
    fn unicode_escape(&mut self) -> Result<char> {
        let hi = self.hex(4)?;
        if (0xD800..0xDC00).contains(&hi) && self.buf.get(self.pos..self.pos + 2) == Some(b"\\u") {
            let save = self.pos;
            self.pos += 2;
            let lo = self.hex(4)?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or('\u{fffd}'));
            }
            self.pos = save;
        }
        Ok(char::from_u32(hi).unwrap_or('\u{fffd}'))
    }

    fn literal(&mut self, word: &'static str) -> Result<&'a str> {
        let start = self.pos;
        let end = start + word.len();
        if self.buf.get(start..end) == Some(word.as_bytes()) {
            self.pos = end;
            Ok(word)
        } else {
            Err(self.error("invalid literal"))
        }
    }

    /// A JSON number, validated, as written.
    fn number(&mut self) -> Result<&'a str> {
        let start = self.pos;
        let b = self.buf;
        let mut p = start;
        if b.get(p) == Some(&b'-') {
            p += 1;
        }
        let digits_start = p;
        while b.get(p).is_some_and(u8::is_ascii_digit) {
            p += 1;
        }
        if p == digits_start {
            return Err(self.error("invalid number"));
        }
        if b.get(p) == Some(&b'.') {
            p += 1;
            let frac = p;
            while b.get(p).is_some_and(u8::is_ascii_digit) {
                p += 1;
            }
            if p == frac {
                return Err(self.error("invalid number"));
            }
        }
        if matches!(b.get(p), Some(b'e' | b'E')) {
            p += 1;
            if matches!(b.get(p), Some(b'+' | b'-')) {
                p += 1;
            }
            let exp = p;
            while b.get(p).is_some_and(u8::is_ascii_digit) {
                p += 1;
            }
            if p == exp {
                return Err(self.error("invalid number"));
            }
        }
        // fastjson's type suffixes (`1L`, `2.0D`) are accepted and dropped from the text.
        let text_end = p;
        if matches!(b.get(p), Some(b'L' | b'S' | b'B' | b'F' | b'D')) {
            p += 1;
        }
        self.pos = p;
        self.utf8(start, text_end)
    }

    /// Any value, as the text a Java `String` would receive.
    pub(super) fn value_text(&mut self) -> Result<ValueText<'a>> {
        match self.peek() {
            Some(b'"') | Some(b'\'') => self.string().map(ValueText::Str),
            Some(b'n') => self.literal("null").map(|_| ValueText::Null),
            Some(b't') => self.literal("true").map(ValueText::Raw),
            Some(b'f') => self.literal("false").map(ValueText::Raw),
            Some(b'{') | Some(b'[') => {
                let start = self.pos;
                self.skip_value()?;
                self.utf8(start, self.pos).map(ValueText::Raw)
            }
            Some(b'-' | b'0'..=b'9') => self.number().map(ValueText::Raw),
            Some(_) => Err(self.error("unexpected character")),
            None => Err(self.error("missing value")),
        }
    }

    /// An `int` member: a number, or a string holding one (fastjson converts). `None` for null.
    pub(super) fn int(&mut self, field: &str) -> Result<Option<i32>> {
        let text: Cow<'a, str> = match self.peek() {
            Some(b'-' | b'0'..=b'9') => Cow::Borrowed(self.number()?),
            Some(b'"') | Some(b'\'') => self.string()?,
            Some(b'n') => {
                self.literal("null")?;
                return Ok(None);
            }
            _ => return Err(self.error(&format!("`{field}` must be an integer"))),
        };
        parse_int(&text).map(Some).ok_or_else(|| {
            RemotingError::Header(format!("`{field}` is not a 32-bit integer: {text:?}"))
        })
    }

    /// Skips one value of any kind, checking its syntax.
    pub(super) fn skip_value(&mut self) -> Result<()> {
        match self.peek() {
            Some(b'{') => self.object(|c, _| c.skip_value()).map(|_| ()),
            Some(b'[') => {
                self.pos += 1;
                self.enter()?;
                loop {
                    match self.peek() {
                        Some(b']') => {
                            self.pos += 1;
                            break;
                        }
                        Some(_) => {}
                        None => return Err(self.error("unterminated array")),
                    }
                    self.skip_value()?;
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            break;
                        }
                        _ => return Err(self.error("expected `,` or `]` in array")),
                    }
                }
                self.depth -= 1;
                Ok(())
            }
            _ => self.value_text().map(|_| ()),
        }
    }
}

/// Index of the first `quote` or `\\` in `hay`, eight bytes at a time: strings are the bulk of a
/// header and most of them are long runs of plain bytes.
fn find_quote_or_backslash(hay: &[u8], quote: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let q = LO * quote as u64;
    let bs = LO * b'\\' as u64;
    let mut i = 0;
    while i + 8 <= hay.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&hay[i..i + 8]);
        let v = u64::from_le_bytes(word);
        if has_zero(v ^ q) | has_zero(v ^ bs) != 0 {
            break;
        }
        i += 8;
    }
    hay[i..]
        .iter()
        .position(|&b| b == quote || b == b'\\')
        .map(|n| i + n)
}

fn is_bare_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut tmp = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
}

/// Integer text as fastjson reads an `int`: optional sign, digits, and a zero fraction (`3.0`)
/// is tolerated; anything else (or out of range) is refused.
fn parse_int(text: &str) -> Option<i32> {
    let t = text.trim();
    let t = match t.split_once('.') {
        Some((int, frac)) if !frac.is_empty() && frac.bytes().all(|b| b == b'0') => int,
        Some(_) => return None,
        None => t,
    };
    t.parse::<i32>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(json: &str) -> Option<String> {
        JsonCursor::new(json.as_bytes())
            .value_text()
            .unwrap()
            .into_string()
    }

    #[test]
    fn strings_unescape_including_surrogate_pairs() {
        assert_eq!(text(r#""a\"b\\c\/d\n""#).unwrap(), "a\"b\\c/d\n");
        assert_eq!(text(r#""\u00e9\ud83d\ude00""#).unwrap(), "é😀");
        assert_eq!(text(r#"'single \' quoted'"#).unwrap(), "single ' quoted");
        assert_eq!(text(r#""\x41""#).unwrap(), "A");
        assert_eq!(
            text(r#""lone \ud800 surrogate""#).unwrap(),
            "lone \u{fffd} surrogate"
        );
    }

    #[test]
    fn quote_search_finds_the_first_match_at_any_offset() {
        for len in 0..40 {
            for at in 0..len {
                for special in [b'"', b'\\'] {
                    let mut hay = vec![b'a'; len];
                    hay[at] = special;
                    if at + 1 < len {
                        hay[len - 1] = b'"';
                    }
                    assert_eq!(find_quote_or_backslash(&hay, b'"'), Some(at));
                }
            }
            assert_eq!(find_quote_or_backslash(&vec![0x80 | b'"'; len], b'"'), None);
        }
    }

    #[test]
    fn scalars_keep_their_source_text() {
        assert_eq!(text("32").unwrap(), "32");
        assert_eq!(text("-1.5e3").unwrap(), "-1.5e3");
        assert_eq!(text("true").unwrap(), "true");
        assert_eq!(text("null"), None);
        assert_eq!(
            text(r#"{"a":[1,{"b":null}]}"#).unwrap(),
            r#"{"a":[1,{"b":null}]}"#
        );
    }

    #[test]
    fn malformed_values_are_errors() {
        for bad in [
            "\"abc",
            "-",
            "1.",
            "1e",
            "tru",
            "{\"a\" 1}",
            "[1 2]",
            "{",
            "\"\\q\"",
            "\"\\u12\"",
        ] {
            let mut c = JsonCursor::new(bad.as_bytes());
            assert!(c.skip_value().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(100_000);
        assert!(JsonCursor::new(deep.as_bytes()).skip_value().is_err());
    }

    #[test]
    fn ints_accept_numbers_and_numeric_strings() {
        let mut c = JsonCursor::new(br#"[105,"310"," 7",3.0,null,1.5,2147483648,true]"#);
        c.pos = 1;
        assert_eq!(c.int("x").unwrap(), Some(105));
        c.pos += 1;
        assert_eq!(c.int("x").unwrap(), Some(310));
        c.pos += 1;
        assert_eq!(c.int("x").unwrap(), Some(7));
        c.pos += 1;
        assert_eq!(c.int("x").unwrap(), Some(3));
        c.pos += 1;
        assert_eq!(c.int("x").unwrap(), None);
        c.pos += 1;
        assert!(c.int("x").is_err());
        c.pos += 1;
        assert!(c.int("x").is_err());
        c.pos += 1;
        assert!(c.int("x").is_err());
    }
}
