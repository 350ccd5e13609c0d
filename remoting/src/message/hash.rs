//! The two hashes the protocol fixes: the masked CRC32 of a body and Java's `String.hashCode`.

/// BODYCRC: `java.util.zip.CRC32` (IEEE, as zlib) of the stored body bytes, masked with
/// `0x7FFFFFFF` as `UtilAll.crc32` does, so it is never negative.
pub fn body_crc(body: &[u8]) -> i32 {
    (crc32fast::hash(body) & 0x7FFF_FFFF) as i32
}

/// Java `String.hashCode`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, wrapping.
/// Characters outside the BMP count as their two surrogates, exactly as in Java.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(unit as i32))
}

/// The tags code stored in a ConsumeQueue unit and compared by tag filters: the Java hash of the
/// tags string, sign-extended to 64 bits, or 0 when there are no tags.
pub fn tags_code(tags: &str) -> i64 {
    if tags.is_empty() {
        0
    } else {
        java_string_hash(tags) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_java_crc32_masked() {
        // CRC32("123456789") = 0xCBF43926, the standard check value.
        assert_eq!(
            body_crc(b"123456789"),
            (0xCBF4_3926u32 & 0x7FFF_FFFF) as i32
        );
        assert_eq!(body_crc(b""), 0);
        // CRC32("The quick brown fox jumps over the lazy dog") = 0x414FA339
        assert_eq!(
            body_crc(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn string_hash_matches_java() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash("TagA"), 2_598_919);
        // "é" is U+00E9 = 233; "日本" = 0x65E5, 0x672C.
        assert_eq!(java_string_hash("é"), 233);
        assert_eq!(java_string_hash("日本"), 0x65E5 * 31 + 0x672C);
        // U+1F600 is the surrogate pair D83D DE00 in UTF-16.
        assert_eq!(java_string_hash("😀"), 0xD83D * 31 + 0xDE00);
        // Overflow wraps like Java int arithmetic: "polygenelubricants".hashCode() == Integer.MIN_VALUE.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn tags_code_is_sign_extended_and_zero_for_empty() {
        assert_eq!(tags_code(""), 0);
        assert_eq!(tags_code("hello"), 99_162_322);
        assert_eq!(tags_code("polygenelubricants"), i32::MIN as i64);
    }
}
