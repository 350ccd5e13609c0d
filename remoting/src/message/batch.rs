//! The SEND_BATCH_MESSAGE request body: per-message blobs back to back
//! (`MessageDecoder.encodeMessage`): TOTALSIZE(4) MAGICCODE(4, 0) BODYCRC(4, 0) FLAG(4)
//! body length(4) + body, properties length(int16) + properties.

use bytes::{BufMut, Bytes, BytesMut};

use super::MAX_PROPERTIES_LEN;
use crate::error::{RemotingError, Result};

/// Bytes of a blob besides its body and properties.
const BLOB_OVERHEAD: usize = 4 + 4 + 4 + 4 + 4 + 2;

/// One message of a batch: the per-message parts (topic, queue, sysflag are batch-level).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchItem {
    pub flag: i32,
    pub body: Bytes,
    /// The raw properties string (each inner message carries its own UNIQ_KEY).
    pub properties: String,
}

impl BatchItem {
    pub fn encoded_len(&self) -> usize {
        BLOB_OVERHEAD + self.body.len() + self.properties.len()
    }

    /// Appends this item's blob. Properties longer than 32767 bytes do not fit the int16 length;
    /// [`validate_batch`] checks that first.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        dst.put_i32(self.encoded_len() as i32);
        dst.put_i32(0);
        dst.put_i32(0);
        dst.put_i32(self.flag);
        dst.put_i32(self.body.len() as i32);
        dst.put_slice(&self.body);
        dst.put_i16(self.properties.len() as i16);
        dst.put_slice(self.properties.as_bytes());
    }
}

/// Checks that every item fits the blob layout (properties ≤ 32767 bytes, sizes within int32).
pub fn validate_batch(items: &[BatchItem]) -> Result<()> {
    for (i, item) in items.iter().enumerate() {
        if item.properties.len() > MAX_PROPERTIES_LEN {
            return Err(RemotingError::Body(format!(
                "batch message {i}: properties of {} bytes exceed {MAX_PROPERTIES_LEN}",
                item.properties.len()
            )));
        }
        if item.encoded_len() > i32::MAX as usize {
            return Err(RemotingError::Body(format!(
                "batch message {i}: {} bytes exceed the int32 size",
                item.encoded_len()
            )));
        }
    }
    Ok(())
}

/// The batch body for `items`.
pub fn encode_batch(items: &[BatchItem]) -> Bytes {
    let mut buf = BytesMut::with_capacity(items.iter().map(BatchItem::encoded_len).sum());
    for item in items {
        item.encode(&mut buf);
    }
    buf.freeze()
}

fn read_i32(body: &[u8], at: usize) -> Option<i32> {
    let b = body.get(at..at.checked_add(4)?)?;
    Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn read_i16(body: &[u8], at: usize) -> Option<i16> {
    let b = body.get(at..at.checked_add(2)?)?;
    Some(i16::from_be_bytes([b[0], b[1]]))
}

/// Splits a batch body into its items; bodies are zero-copy slices of `body`. Like the Java
/// broker, the fields are read in sequence and TOTALSIZE/MAGICCODE/BODYCRC are not trusted.
pub fn decode_batch(body: &Bytes) -> Result<Vec<BatchItem>> {
    let mut items = Vec::new();
    let mut pos = 0usize;
    while pos < body.len() {
        let index = items.len();
        let bad = |why: String| {
            RemotingError::Body(format!("batch message {index} at byte {pos}: {why}"))
        };
        // TOTALSIZE, MAGICCODE, BODYCRC are skipped; FLAG and body length follow.
        let flag = read_i32(body, pos + 12).ok_or_else(|| bad("truncated header".into()))?;
        let body_len = read_i32(body, pos + 16).ok_or_else(|| bad("truncated header".into()))?;
        let body_len = usize::try_from(body_len)
            .map_err(|_| bad(format!("negative body length {body_len}")))?;
        let body_start = pos + 20;
        let body_end = body_start
            .checked_add(body_len)
            .filter(|end| *end <= body.len())
            .ok_or_else(|| bad(format!("body of {body_len} bytes runs past the end")))?;
        let props_len =
            read_i16(body, body_end).ok_or_else(|| bad("truncated properties length".into()))?;
        let props_len = usize::try_from(props_len)
            .map_err(|_| bad(format!("negative properties length {props_len}")))?;
        let props_start = body_end + 2;
        let props_end = props_start + props_len;
        let props = body
            .get(props_start..props_end)
            .ok_or_else(|| bad(format!("properties of {props_len} bytes run past the end")))?;
        let properties = std::str::from_utf8(props)
            .map_err(|_| bad("properties are not UTF-8".into()))?
            .to_owned();
        items.push(BatchItem {
            flag,
            body: body.slice(body_start..body_end),
            properties,
        });
        pos = props_end;
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_layout_matches_encode_message() {
        let item = BatchItem {
            flag: 7,
            body: Bytes::from_static(b"hi"),
            properties: "K\u{1}v\u{2}".into(),
        };
        let got = encode_batch(std::slice::from_ref(&item));
        let mut want = Vec::new();
        want.extend_from_slice(&28i32.to_be_bytes()); // 22 + 2 + 4
        want.extend_from_slice(&0i32.to_be_bytes());
        want.extend_from_slice(&0i32.to_be_bytes());
        want.extend_from_slice(&7i32.to_be_bytes());
        want.extend_from_slice(&2i32.to_be_bytes());
        want.extend_from_slice(b"hi");
        want.extend_from_slice(&4i16.to_be_bytes());
        want.extend_from_slice(b"K\x01v\x02");
        assert_eq!(&got[..], &want[..]);
    }

    #[test]
    fn round_trip_and_zero_copy() {
        let items = vec![
            BatchItem {
                flag: 0,
                body: Bytes::from_static(b"first"),
                properties: "UNIQ_KEY\u{1}A\u{2}".into(),
            },
            BatchItem {
                flag: -1,
                body: Bytes::new(),
                properties: String::new(),
            },
        ];
        let body = encode_batch(&items);
        let decoded = decode_batch(&body).unwrap();
        assert_eq!(decoded, items);
        let inner = decoded[0].body.as_ptr() as usize;
        let outer = body.as_ptr() as usize;
        assert!(inner >= outer && inner < outer + body.len());
        assert!(decode_batch(&Bytes::new()).unwrap().is_empty());
        assert!(validate_batch(&items).is_ok());
    }

    #[test]
    fn rejects_truncated_and_negative_lengths() {
        let item = BatchItem {
            flag: 1,
            body: Bytes::from_static(b"abc"),
            properties: "A\u{1}b\u{2}".into(),
        };
        let body = encode_batch(&[item]);
        for cut in 1..body.len() {
            assert!(decode_batch(&body.slice(..cut)).is_err(), "cut at {cut}");
        }
        let mut neg = BytesMut::from(&body[..]);
        neg[16..20].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(decode_batch(&neg.freeze()).is_err());
        let mut neg = BytesMut::from(&body[..]);
        neg[23..25].copy_from_slice(&(-1i16).to_be_bytes());
        assert!(decode_batch(&neg.freeze()).is_err());
    }
}
