//! The optional whole-record CRC of 5.x brokers (`enabledAppendPropCRC`, off by default): the
//! last 20 bytes of the properties hold `__CRC32#` 0x01, ten ASCII digits, 0x02. The digits are
//! the masked CRC32 of the whole record minus those 20 bytes, least significant digit first.
//! Recovery with `forceVerifyPropCRC` checks it instead of BODYCRC.

use super::property::{self, NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR};
use super::{body_crc, RecordView};
use crate::error::{RemotingError, Result};

/// Bytes reserved at the end of the properties: `__CRC32#` + 0x01 + 10 digits + 0x02.
pub const RESERVED_LEN: usize = property::CRC32.len() + 1 + 10 + 1;

/// Prepares a properties string for a CRC-carrying record: drops any `__CRC32#` pair a producer
/// sent, ends the string with 0x02 and appends the placeholder that [`seal`] fills in.
pub fn reserve(properties: &mut String) {
    if property::find(properties, property::CRC32).is_some() {
        let kept: String = property::pairs(properties)
            .filter(|(n, _)| *n != property::CRC32)
            .fold(
                String::with_capacity(properties.len()),
                |mut out, (n, v)| {
                    property::push_pair(&mut out, n, v);
                    out
                },
            );
        *properties = kept;
    }
    if !properties.is_empty() && !properties.ends_with(PROPERTY_SEPARATOR) {
        properties.push(PROPERTY_SEPARATOR);
    }
    properties.push_str(property::CRC32);
    properties.push(NAME_VALUE_SEPARATOR);
    properties.push_str("0000000000");
    properties.push(PROPERTY_SEPARATOR);
}

/// Writes the CRC digits into an encoded record whose properties end with the placeholder of
/// [`reserve`]. Call it after [`super::patch_record`]: the CRC covers the offsets and store time.
pub fn seal(record: &mut [u8]) -> Result<()> {
    let len = record.len();
    let tail = len
        .checked_sub(RESERVED_LEN)
        .ok_or_else(|| RemotingError::Record("record too short for a CRC property".into()))?;
    let name_end = tail + property::CRC32.len();
    if &record[tail..name_end] != property::CRC32.as_bytes()
        || record[name_end] != NAME_VALUE_SEPARATOR as u8
        || record[len - 1] != PROPERTY_SEPARATOR as u8
    {
        return Err(RemotingError::Record(
            "record does not end with the CRC property placeholder".into(),
        ));
    }
    let mut crc = body_crc(&record[..tail]);
    for digit in &mut record[name_end + 1..len - 1] {
        *digit = b'0' + (crc % 10) as u8;
        crc /= 10;
    }
    Ok(())
}

/// Checks the CRC property of a record: `None` if it has none, else whether it matches.
pub fn verify(view: &RecordView<'_>) -> Option<bool> {
    let digits = property::find(view.properties_str(), property::CRC32)?;
    let mut expected: i64 = 0;
    for d in digits.bytes().rev() {
        if !d.is_ascii_digit() {
            return Some(false);
        }
        expected = expected * 10 + i64::from(d - b'0');
        if expected > i64::from(i32::MAX) {
            return Some(false);
        }
    }
    let bytes = view.as_bytes();
    let covered = bytes.len().checked_sub(RESERVED_LEN)?;
    Some(i64::from(body_crc(&bytes[..covered])) == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{check_record, patch_record, MessageRecord, RecordCheck};
    use bytes::Bytes;

    fn sealed(properties: &str) -> Vec<u8> {
        let mut props = properties.to_string();
        reserve(&mut props);
        let r = MessageRecord {
            topic: "T".into(),
            body: Bytes::from_static(b"body"),
            properties: props,
            ..Default::default()
        };
        let mut bytes = r.to_bytes().to_vec();
        patch_record(&mut bytes, 5, 4096, 1_700_000_000_000);
        seal(&mut bytes).unwrap();
        bytes
    }

    fn view(bytes: &[u8]) -> RecordView<'_> {
        match check_record(bytes, true) {
            RecordCheck::Message(v) => v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reserve_appends_placeholder_with_separator() {
        let mut p = "A\u{1}1".to_string();
        reserve(&mut p);
        assert_eq!(p, "A\u{1}1\u{2}__CRC32#\u{1}0000000000\u{2}");
        let mut p = "__CRC32#\u{1}123\u{2}B\u{1}2\u{2}".to_string();
        reserve(&mut p);
        assert_eq!(p, "B\u{1}2\u{2}__CRC32#\u{1}0000000000\u{2}");
        let mut p = String::new();
        reserve(&mut p);
        assert_eq!(p.len(), RESERVED_LEN);
    }

    #[test]
    fn sealed_record_verifies_with_lsd_first_digits() {
        let bytes = sealed("TAGS\u{1}a\u{2}");
        let v = view(&bytes);
        assert_eq!(verify(&v), Some(true));
        let digits = v.property(property::CRC32).unwrap();
        let crc = body_crc(&bytes[..bytes.len() - RESERVED_LEN]);
        let reversed: String = digits.chars().rev().collect();
        assert_eq!(reversed.trim_start_matches('0'), crc.to_string());
    }

    #[test]
    fn any_change_before_the_tail_is_detected() {
        let mut bytes = sealed("TAGS\u{1}a\u{2}");
        bytes[20] ^= 1; // QUEUEOFFSET
        assert_eq!(verify(&view(&bytes)), Some(false));
        let plain = MessageRecord {
            topic: "T".into(),
            ..Default::default()
        }
        .to_bytes();
        assert_eq!(verify(&view(&plain)), None);
        let mut short = plain.to_vec();
        assert!(seal(&mut short).is_err());
    }
}
