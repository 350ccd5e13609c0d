//! `key=value` text bodies of GET_BROKER_CONFIG / UPDATE_BROKER_CONFIG (and the NameServer's
//! config requests). Java writes them with `MixAll.properties2String` (one `key=value\n` per
//! entry, no escaping) and reads them with `java.util.Properties.load`, whose rules
//! [`Properties::parse`] follows: `#`/`!` comments, `=`, `:` or whitespace separators, line
//! continuation with a trailing backslash, and `\t \n \r \f \uXXXX` escapes.

use std::collections::BTreeMap;

use crate::error::RemotingError;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Properties {
    pub entries: BTreeMap<String, String>,
}

impl Properties {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.entries.insert(key.into(), value.into());
    }

    /// The body as Java's broker writes it: `key=value\n` per entry, keys sorted.
    pub fn encode(&self) -> Vec<u8> {
        let len = self
            .entries
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum();
        let mut out = Vec::with_capacity(len);
        for (k, v) in &self.entries {
            out.extend_from_slice(k.as_bytes());
            out.push(b'=');
            out.extend_from_slice(v.as_bytes());
            out.push(b'\n');
        }
        out
    }

    /// Reads a body with `Properties.load` rules. Java's `MixAll.string2Properties` loads the
    /// UTF-8 bytes as ISO-8859-1 (garbling non-ASCII); we read UTF-8 and fall back to
    /// ISO-8859-1 only for bytes that are not UTF-8, so no body is refused for its encoding.
    pub fn decode(bytes: &[u8]) -> Result<Self, RemotingError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::parse(text),
            Err(_) => Self::parse(&bytes.iter().map(|&b| char::from(b)).collect::<String>()),
        }
    }

    /// Parses properties text; later duplicates win, as in Java.
    pub fn parse(text: &str) -> Result<Self, RemotingError> {
        let mut props = Properties::default();
        let mut lines = text.split(['\n', '\r']).peekable();
        while let Some(first) = lines.next() {
            let first = trim_start(first);
            if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
                continue;
            }
            // Join continuation lines: an odd number of trailing backslashes continues.
            let mut logical = String::from(first);
            while ends_with_continuation(&logical) {
                logical.pop();
                // "\r\n" splits into an empty piece between; skip it.
                let mut next = lines.next();
                if next == Some("") && text.contains("\r\n") {
                    next = lines.next();
                }
                match next {
                    Some(n) => logical.push_str(trim_start(n)),
                    None => break,
                }
            }
            let (key, value) = split_key_value(&logical);
            props.entries.insert(unescape(key)?, unescape(value)?);
        }
        Ok(props)
    }
}

fn trim_start(s: &str) -> &str {
    s.trim_start_matches([' ', '\t', '\x0C'])
}

fn ends_with_continuation(s: &str) -> bool {
    s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits at the first unescaped `=`, `:` or whitespace; whitespace then one optional `=`/`:`
/// then whitespace separate key and value.
fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' => return (&line[..i], trim_start(&line[i + 1..])),
            b' ' | b'\t' | b'\x0C' => {
                let rest = trim_start(&line[i..]);
                let rest = match rest.as_bytes().first() {
                    Some(b'=') | Some(b':') => trim_start(&rest[1..]),
                    _ => rest,
                };
                return (&line[..i], rest);
            }
            _ => i += 1,
        }
    }
    (line, "")
}

fn unescape(s: &str) -> Result<String, RemotingError> {
    if !s.contains('\\') {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            None => {}
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0C'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let unit = u16::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .ok_or_else(|| {
                        RemotingError::Body(format!(
                            "malformed \\uXXXX escape in properties: {s:?}"
                        ))
                    })?;
                // Surrogate pairs come as two escapes; decode them together.
                let ch = if (0xD800..0xDC00).contains(&unit) {
                    let rest = chars.as_str();
                    let low = rest
                        .strip_prefix("\\u")
                        .and_then(|r| r.get(..4))
                        .and_then(|h| u16::from_str_radix(h, 16).ok())
                        .filter(|l| (0xDC00..0xE000).contains(l));
                    match low {
                        Some(low) => {
                            chars = rest[6..].chars();
                            char::decode_utf16([unit, low]).next().and_then(Result::ok)
                        }
                        None => None,
                    }
                } else {
                    char::from_u32(u32::from(unit))
                };
                out.push(ch.unwrap_or('\u{FFFD}'));
            }
            Some(other) => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_properties_rules() {
        let text = "# comment\n  ! also comment\nbrokerName=broker-a\nlistenPort : 10911\n\
                    flushDiskType ASYNC_FLUSH\nmessageDelayLevel=1s 5s \\\n    10s\n\
                    path=C\\:\\\\store\nuni=\\u00e9\\uD83D\\uDE00\nempty=\n\r\nkeyOnly\n";
        let p = Properties::parse(text).unwrap();
        assert_eq!(p.get("brokerName"), Some("broker-a"));
        assert_eq!(p.get("listenPort"), Some("10911"));
        assert_eq!(p.get("flushDiskType"), Some("ASYNC_FLUSH"));
        assert_eq!(p.get("messageDelayLevel"), Some("1s 5s 10s"));
        assert_eq!(p.get("path"), Some("C:\\store"));
        assert_eq!(p.get("uni"), Some("é😀"));
        assert_eq!(p.get("empty"), Some(""));
        assert_eq!(p.get("keyOnly"), Some(""));
        assert_eq!(p.entries.len(), 8);
    }

    #[test]
    fn crlf_continuations_and_round_trip() {
        let p = Properties::parse("a=1 \\\r\n  2\r\nb=x=y\r\n").unwrap();
        assert_eq!(p.get("a"), Some("1 2"));
        assert_eq!(p.get("b"), Some("x=y"));
        assert_eq!(String::from_utf8(p.encode()).unwrap(), "a=1 2\nb=x=y\n");
        assert_eq!(Properties::decode(&p.encode()).unwrap(), p);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(Properties::parse("k=\\u12").is_err());
        assert!(Properties::parse("k=\\uzzzz").is_err());
        // Not UTF-8: read as ISO-8859-1, like Java.
        assert_eq!(
            Properties::decode(b"k=\xff").unwrap().get("k"),
            Some("\u{ff}")
        );
    }
}
