//! Text-level pieces of fastjson's output: string escaping, integer digits, and the
//! PrettyFormat layout of the broker's config files.

pub(crate) fn push_digits(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends `s` as a JSON string literal escaped as fastjson 1.x's `SerializeWriter` does.
/// Both styles: `"` `\\` `\b \t \n \f \r` as short escapes, other C0 controls as `\u00XX`
/// (upper-case hex). Legacy additionally escapes DEL, the C1 controls and U+2028/U+2029 and
/// writes all other characters raw; Standard (BrowserCompatible) escapes `/` as `\/` and every
/// character from DEL up as `\uXXXX` (UTF-16 surrogate pairs beyond the BMP).
pub(crate) fn write_escaped(out: &mut Vec<u8>, s: &str, browser_compatible: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let push_unit = |out: &mut Vec<u8>, unit: u16| {
        out.extend_from_slice(b"\\u");
        for shift in [12, 8, 4, 0] {
            out.push(HEX[usize::from((unit >> shift) & 0xF)]);
        }
    };
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run_start = 0;
    for (i, ch) in s.char_indices() {
        let short: &[u8] = match ch {
            '"' => b"\\\"",
            '\\' => b"\\\\",
            '\n' => b"\\n",
            '\r' => b"\\r",
            '\t' => b"\\t",
            '\u{8}' => b"\\b",
            '\u{c}' => b"\\f",
            '/' if browser_compatible => b"\\/",
            _ => b"",
        };
        let unicode = short.is_empty()
            && match ch {
                '\0'..='\u{1f}' => true,
                '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' => true,
                _ => browser_compatible && ch >= '\u{7f}',
            };
        if short.is_empty() && !unicode {
            continue;
        }
        out.extend_from_slice(&bytes[run_start..i]);
        run_start = i + ch.len_utf8();
        if !short.is_empty() {
            out.extend_from_slice(short);
        } else {
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                push_unit(out, *unit);
            }
        }
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

/// Re-indents compact JSON (as produced by [`to_vec`](super::writer::to_vec)) with tabs and newlines, the way fastjson's
/// PrettyFormat lays out the broker's config files. Empty objects and arrays stay `{}` / `[]`.
pub fn pretty(compact: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(compact.len() * 5 / 4 + 16);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b'\t', depth));
    };
    let mut i = 0;
    while i < compact.len() {
        let b = compact[i];
        i += 1;
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                out.push(b);
            }
            b'{' | b'[' => {
                let close = if b == b'{' { b'}' } else { b']' };
                if compact.get(i) == Some(&close) {
                    out.push(b);
                    out.push(close);
                    i += 1;
                } else {
                    out.push(b);
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(b);
            }
            b',' => {
                out.push(b);
                newline(&mut out, depth);
            }
            _ => out.push(b),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str, browser_compatible: bool) -> String {
        let mut out = Vec::new();
        write_escaped(&mut out, s, browser_compatible);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_follow_fastjson() {
        let raw = "a\"b\\c\n\u{1}\u{1f}é/\u{7f}\u{85}\u{a0}\u{2028}";
        assert_eq!(
            escaped(raw, false),
            "\"a\\\"b\\\\c\\n\\u0001\\u001Fé/\\u007F\\u0085\u{a0}\\u2028\""
        );
        assert_eq!(
            escaped(raw, true),
            r#""a\"b\\c\n\u0001\u001F\u00E9\/\u007F\u0085\u00A0\u2028""#
        );
    }

    #[test]
    fn pretty_layout_uses_tabs() {
        let compact = br#"{"a":{0:1,1:2},"b":[],"c":"x,{y}"}"#;
        assert_eq!(
            String::from_utf8(pretty(compact)).unwrap(),
            "{\n\t\"a\":{\n\t\t0:1,\n\t\t1:2\n\t},\n\t\"b\":[],\n\t\"c\":\"x,{y}\"\n}"
        );
    }

    #[test]
    fn digits() {
        for n in [0u64, 7, 10, 1234567890, u64::MAX] {
            let mut out = Vec::new();
            push_digits(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }
    }
}
