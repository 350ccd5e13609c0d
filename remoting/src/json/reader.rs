//! Rewrites fastjson text into strict JSON so that serde_json can read it.
//!
//! fastjson (and jsoncpp with `allowNumericKeys`) accept and produce things strict JSON forbids:
//! unquoted number keys (`{0:"addr"}`), object literals as keys (`{{"topic":"T",...}:5}`),
//! unquoted identifier keys, single-quoted strings and trailing commas. The rewrite turns
//! - a number key into the same number quoted (`{"0":"addr"}`),
//! - an object or array key into a string holding its strict JSON text,
//! - an identifier key into a quoted string, a single-quoted string into a double-quoted one,
//! - and drops trailing commas.
//!
//! Everything else is copied through unchanged; serde_json validates strings and numbers
//! afterwards. Nesting is bounded by [`MAX_DEPTH`] so hostile input cannot overflow the stack.

use crate::error::RemotingError;

/// Deepest nesting of objects/arrays accepted (serde_json's own default limit is 128).
pub const MAX_DEPTH: usize = 100;

/// Rewrites one fastjson document (optionally surrounded by whitespace, a trailing `\n` from
/// C++ clients, a UTF-8 BOM or trailing NUL bytes) into strict JSON.
pub fn to_strict(input: &[u8]) -> Result<Vec<u8>, RemotingError> {
    let mut r = Rewriter { src: input, pos: 0 };
    if r.src.starts_with(b"\xEF\xBB\xBF") {
        r.pos = 3;
    }
    let mut out = Vec::with_capacity(input.len() + input.len() / 8 + 8);
    r.skip_ws();
    if r.pos >= r.src.len() {
        return Err(body_err("empty JSON document"));
    }
    r.value(&mut out, 0)?;
    r.skip_ws();
    while r.pos < r.src.len() && r.src[r.pos] == 0 {
        r.pos += 1;
    }
    if r.pos < r.src.len() {
        return Err(r.err("trailing characters after the JSON document"));
    }
    Ok(out)
}

fn body_err(msg: impl Into<String>) -> RemotingError {
    RemotingError::Body(msg.into())
}

struct Rewriter<'a> {
    src: &'a [u8],
    pos: usize,
}

impl Rewriter<'_> {
    fn err(&self, what: &str) -> RemotingError {
        body_err(format!("{what} at byte {}", self.pos))
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0C') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn value(&mut self, out: &mut Vec<u8>, depth: usize) -> Result<(), RemotingError> {
        match self.peek() {
            None => Err(self.err("unexpected end of JSON")),
            Some(b'{') => self.object(out, depth + 1),
            Some(b'[') => self.array(out, depth + 1),
            Some(b'"') => self.dq_string(out),
            Some(b'\'') => self.sq_string(out),
            Some(b) if b == b'-' || b == b'+' || b.is_ascii_digit() || b == b'.' => {
                let tok = self.number_token();
                // fastjson accepts a leading '+'; strict JSON does not.
                out.extend_from_slice(tok.strip_prefix(b"+").unwrap_or(tok));
                Ok(())
            }
            Some(b) if is_ident_start(b) => {
                let tok = self.ident_token();
                out.extend_from_slice(tok);
                Ok(())
            }
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn object(&mut self, out: &mut Vec<u8>, depth: usize) -> Result<(), RemotingError> {
        if depth > MAX_DEPTH {
            return Err(self.err("JSON nested too deeply"));
        }
        self.pos += 1; // '{'
        out.push(b'{');
        let mut first = true;
        loop {
            self.skip_ws();
            match self.peek() {
                None => return Err(self.err("unterminated object")),
                Some(b'}') => {
                    self.pos += 1;
                    out.push(b'}');
                    return Ok(());
                }
                Some(b',') if !first => {
                    // A trailing comma before '}' (tolerated by fastjson).
                    self.pos += 1;
                    self.skip_ws();
                    if self.peek() == Some(b'}') {
                        continue;
                    }
                    out.push(b',');
                }
                Some(_) if first => {}
                Some(_) => return Err(self.err("expected ',' or '}' in object")),
            }
            first = false;
            self.skip_ws();
            self.key(out, depth)?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':' after object key"));
            }
            self.pos += 1;
            out.push(b':');
            self.skip_ws();
            self.value(out, depth)?;
        }
    }

    fn key(&mut self, out: &mut Vec<u8>, depth: usize) -> Result<(), RemotingError> {
        match self.peek() {
            None => Err(self.err("unterminated object")),
            Some(b'"') => self.dq_string(out),
            Some(b'\'') => self.sq_string(out),
            Some(b'{') | Some(b'[') => {
                // An object used as a map key: keep its strict text as a string key.
                let mut inner = Vec::new();
                self.value(&mut inner, depth)?;
                push_escaped_string(out, &inner);
                Ok(())
            }
            Some(b) if b == b'-' || b == b'+' || b.is_ascii_digit() => {
                let tok = self.number_token();
                out.push(b'"');
                out.extend_from_slice(tok.strip_prefix(b"+").unwrap_or(tok));
                out.push(b'"');
                Ok(())
            }
            Some(b) if is_ident_start(b) => {
                let tok = self.ident_token();
                out.push(b'"');
                out.extend_from_slice(tok);
                out.push(b'"');
                Ok(())
            }
            Some(_) => Err(self.err("invalid object key")),
        }
    }

    fn array(&mut self, out: &mut Vec<u8>, depth: usize) -> Result<(), RemotingError> {
        if depth > MAX_DEPTH {
            return Err(self.err("JSON nested too deeply"));
        }
        self.pos += 1; // '['
        out.push(b'[');
        let mut first = true;
        loop {
            self.skip_ws();
            match self.peek() {
                None => return Err(self.err("unterminated array")),
                Some(b']') => {
                    self.pos += 1;
                    out.push(b']');
                    return Ok(());
                }
                Some(b',') if !first => {
                    self.pos += 1;
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        continue;
                    }
                    out.push(b',');
                }
                Some(_) if first => {}
                Some(_) => return Err(self.err("expected ',' or ']' in array")),
            }
            first = false;
            self.skip_ws();
            self.value(out, depth)?;
        }
    }

    /// Copies a double-quoted string (escapes included; serde_json validates them), escaping
    /// raw control characters, which lenient writers may leave in.
    fn dq_string(&mut self, out: &mut Vec<u8>) -> Result<(), RemotingError> {
        let mut run_start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'\\') => {
                    if self.pos + 1 >= self.src.len() {
                        return Err(self.err("unterminated string"));
                    }
                    self.pos += 2;
                }
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b) if b < 0x20 => {
                    out.extend_from_slice(&self.src[run_start..self.pos]);
                    push_control_escape(out, b);
                    self.pos += 1;
                    run_start = self.pos;
                }
                Some(_) => self.pos += 1,
            }
        }
        out.extend_from_slice(&self.src[run_start..self.pos]);
        Ok(())
    }

    /// Converts a single-quoted string into a double-quoted one.
    fn sq_string(&mut self, out: &mut Vec<u8>) -> Result<(), RemotingError> {
        self.pos += 1;
        out.push(b'"');
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'\'') => {
                    self.pos += 1;
                    out.push(b'"');
                    return Ok(());
                }
                Some(b'\\') => match self.src.get(self.pos + 1) {
                    None => return Err(self.err("unterminated string")),
                    Some(b'\'') => {
                        out.push(b'\'');
                        self.pos += 2;
                    }
                    Some(&c) => {
                        out.push(b'\\');
                        out.push(c);
                        self.pos += 2;
                    }
                },
                Some(b'"') => {
                    out.extend_from_slice(b"\\\"");
                    self.pos += 1;
                }
                Some(b) if b < 0x20 => {
                    push_control_escape(out, b);
                    self.pos += 1;
                }
                Some(b) => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    fn number_token(&mut self) -> &[u8] {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E') {
                self.pos += 1;
            } else {
                break;
            }
        }
        let end = self.pos;
        // Java long/float suffixes (`5L`, `1.5F`, `2D`) that fastjson tolerates.
        if let Some(b'L' | b'l' | b'F' | b'f' | b'D' | b'd') = self.peek() {
            self.pos += 1;
        }
        &self.src[start..end]
    }

    fn ident_token(&mut self) -> &[u8] {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if is_ident_start(b) || b.is_ascii_digit() {
                self.pos += 1;
            } else {
                break;
            }
        }
        &self.src[start..self.pos]
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'$'
}

/// Appends `raw` as a JSON string literal. `raw` is strict JSON text produced by the rewriter,
/// so only quotes, backslashes and whitespace control characters need escaping.
fn push_escaped_string(out: &mut Vec<u8>, raw: &[u8]) {
    out.push(b'"');
    for &b in raw {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x00..=0x1F => push_control_escape(out, b),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn push_control_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u00");
    out.push(HEX[usize::from(b >> 4)]);
    out.push(HEX[usize::from(b & 0xF)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(s: &str) -> String {
        String::from_utf8(to_strict(s.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn unquoted_number_keys_are_quoted() {
        assert_eq!(
            strict(r#"{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"}}"#),
            r#"{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"}}"#
        );
    }

    #[test]
    fn object_keys_become_string_keys_holding_their_json() {
        let s = strict(r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:5}}"#);
        assert_eq!(
            s,
            r#"{"offsetTable":{"{\"brokerName\":\"b\",\"queueId\":0,\"topic\":\"T\"}":5}}"#
        );
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        let key = v["offsetTable"].as_object().unwrap().keys().next().unwrap();
        let mq: serde_json::Value = serde_json::from_str(key).unwrap();
        assert_eq!(mq["topic"], "T");
    }

    #[test]
    fn pretty_printed_files_with_tabs_and_trailing_newline() {
        let s = strict("{\n\t\"offsetTable\":{\n\t\t\"T@g\":{0:5,1:7\n\t\t}\n\t}\n}\n");
        assert_eq!(s, r#"{"offsetTable":{"T@g":{"0":5,"1":7}}}"#);
    }

    #[test]
    fn single_quotes_identifier_keys_and_trailing_commas() {
        assert_eq!(
            strict("{topic:'it''s',a:[1,2,],}".replace("''", "\\'").as_str()),
            r#"{"topic":"it's","a":[1,2]}"#
        );
        assert_eq!(strict(r#"{'k':'say "hi"'}"#), r#"{"k":"say \"hi\""}"#);
    }

    #[test]
    fn raw_control_characters_in_strings_are_escaped() {
        assert_eq!(strict("{'a\tb':\"x\ny\"}"), r#"{"a\u0009b":"x\u000ay"}"#);
        let v: serde_json::Value = crate::json::from_str("{\"k\":\"a\u{1}b\"}").unwrap();
        assert_eq!(v["k"], "a\u{1}b");
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [
            "",
            "   ",
            "{",
            "[",
            "{\"a\"",
            "{\"a\":",
            "{\"a\":1",
            "{1}",
            "\"abc",
            "\"abc\\",
            "{,}",
            "[,1]",
            "{\"a\":1}x",
            "}",
            "'abc",
            "{{:1}",
            "{'a",
            "[1 2]",
        ] {
            assert!(to_strict(bad.as_bytes()).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(to_strict(deep.as_bytes()).is_err());
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(to_strict(ok.as_bytes()).is_ok());
        let deep_keys = "{".repeat(MAX_DEPTH + 5);
        assert!(to_strict(deep_keys.as_bytes()).is_err());
    }
}
