//! Text-level pieces of fastjson's output: string escaping, integer digits, and the
//! PrettyFormat layout of the broker's config files.

use bytes::BufMut;

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
///
/// Shared by the header codec (hot path: runs of plain ASCII are copied eight bytes per step) and
/// the body writer.
pub(crate) fn write_escaped<B: BufMut>(out: &mut B, s: &str, browser_compatible: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let push_unit = |out: &mut B, unit: u16| {
        out.put_slice(&[
            b'\\',
            b'u',
            HEX[usize::from((unit >> 12) & 0xF)],
            HEX[usize::from((unit >> 8) & 0xF)],
            HEX[usize::from((unit >> 4) & 0xF)],
            HEX[usize::from(unit & 0xF)],
        ]);
    };
    out.put_u8(b'"');
    let bytes = s.as_bytes();
    let mut run_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(word) = bytes.get(i..i + 8) {
            if is_plain_ascii8(word) && !(browser_compatible && word.contains(&b'/')) {
                i += 8;
                continue;
            }
        }
        // `i` is always on a char boundary: the fast path only skips plain ASCII.
        let Some(ch) = s[i..].chars().next() else {
            break;
        };
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
        let next = i + ch.len_utf8();
        if short.is_empty() && !unicode {
            i = next;
            continue;
        }
        out.put_slice(&bytes[run_start..i]);
        run_start = next;
        if !short.is_empty() {
            out.put_slice(short);
        } else {
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                push_unit(out, *unit);
            }
        }
        i = next;
    }
    out.put_slice(&bytes[run_start..]);
    out.put_u8(b'"');
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
    fn fast_path_agrees_with_char_by_char_escaping_at_every_alignment() {
        // Long strings take the 8-byte path; the same text split into short pieces never does.
        let specials = [
            "\"",
            "\\",
            "/",
            "\u{1}",
            "é",
            "\u{2028}",
            "\u{1F600}",
            "\u{7f}",
        ];
        for special in specials {
            for pad in 0..17 {
                let s = format!("{}{special}{}", "x".repeat(pad), "y".repeat(17 - pad));
                for browser in [false, true] {
                    let whole = escaped(&s, browser);
                    let pieces: String = s
                        .chars()
                        .map(|c| {
                            let e = escaped(&c.to_string(), browser);
                            e[1..e.len() - 1].to_string()
                        })
                        .collect();
                    assert_eq!(whole, format!("\"{pieces}\""), "{s:?} browser={browser}");
                }
            }
        }
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
