//! [`MessageExt`]: a message as a client sees it after a pull, and [`decode_messages`] for a
//! PULL (or QUERY_MESSAGE, VIEW_MESSAGE_BY_ID...) response body.

use bytes::Bytes;

use super::compression::decompress;
use super::property::{self, Properties};
use super::record::why_not_a_message;
use super::{check_record, msgid, sysflag, MessageRecord, RecordCheck};
use crate::error::{RemotingError, Result};

/// A decoded message with its properties parsed and its ids computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageExt {
    /// The record; `record.body` is already inflated when `decompressed` is true (the sysflag
    /// keeps its COMPRESSED bit, as in Java).
    pub record: MessageRecord,
    pub properties: Properties,
    /// The user-visible id: UNIQ_KEY if present, else the offset msgId.
    pub msg_id: String,
    /// STOREHOST + PHYSICALOFFSET as hex (what VIEW_MESSAGE_BY_ID takes).
    pub offset_msg_id: String,
    /// Whether `record.body` was inflated from a compressed stored body.
    pub decompressed: bool,
}

impl MessageExt {
    /// Builds the client view of `record`, inflating a compressed body if `decompress_body`.
    pub fn from_record(mut record: MessageRecord, decompress_body: bool) -> Result<Self> {
        let properties = Properties::decode(&record.properties);
        let offset_msg_id = msgid::create_offset_msg_id(record.store_host, record.physical_offset);
        let msg_id = properties
            .get(property::UNIQ_KEY)
            .map_or_else(|| offset_msg_id.clone(), str::to_owned);
        let decompressed = decompress_body && record.sysflag & sysflag::COMPRESSED != 0;
        if decompressed {
            record.body = decompress(record.sysflag, &record.body)?;
        }
        Ok(Self {
            record,
            properties,
            msg_id,
            offset_msg_id,
            decompressed,
        })
    }

    pub fn topic(&self) -> &str {
        &self.record.topic
    }

    pub fn body(&self) -> &Bytes {
        &self.record.body
    }

    pub fn tags(&self) -> Option<&str> {
        self.properties.get(property::TAGS)
    }

    /// The business keys (KEYS split on spaces).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.properties.keys()
    }

    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name)
    }
}

/// Decodes every record of a response body (records back to back, as stored). Bodies are
/// zero-copy slices of `body` unless inflated. Any malformed or truncated record is an error.
pub fn decode_messages(body: &Bytes, decompress_body: bool) -> Result<Vec<MessageExt>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let record = match check_record(&body[pos..], false) {
            RecordCheck::Message(view) => {
                let range = view.body_range();
                let stored = body.slice(pos + range.start..pos + range.end);
                pos += view.total_size();
                view.to_record_with_body(stored)
            }
            other => {
                let why = why_not_a_message(other, body.len() - pos);
                return Err(RemotingError::Record(format!(
                    "record at byte {pos}: {why}"
                )));
            }
        };
        out.push(MessageExt::from_record(record, decompress_body)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::compression::compress_zlib;
    use bytes::BytesMut;

    fn record(props: &str, body: Bytes, flag: i32) -> MessageRecord {
        MessageRecord {
            topic: "T".into(),
            body,
            sysflag: flag,
            properties: props.into(),
            physical_offset: 1234,
            store_host: "10.0.0.5:10911".parse().unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn msg_id_prefers_uniq_key() {
        let mut buf = BytesMut::new();
        record(
            "UNIQ_KEY\u{1}ABC\u{2}TAGS\u{1}t\u{2}KEYS\u{1}a b\u{2}",
            Bytes::new(),
            0,
        )
        .encode(&mut buf);
        record("", Bytes::new(), 0).encode(&mut buf);
        let msgs = decode_messages(&buf.freeze(), true).unwrap();
        assert_eq!(msgs[0].msg_id, "ABC");
        assert_eq!(msgs[0].offset_msg_id, "0A00000500002A9F00000000000004D2");
        assert_eq!(msgs[0].tags(), Some("t"));
        assert_eq!(msgs[0].keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(msgs[1].msg_id, msgs[1].offset_msg_id);
        assert_eq!(msgs[1].tags(), None);
    }

    #[test]
    fn compressed_bodies_are_inflated_on_request() {
        let plain = Bytes::from(vec![b'x'; 5000]);
        let packed = compress_zlib(&plain, 5);
        let flag = sysflag::COMPRESSED | sysflag::COMPRESSION_ZLIB;
        let mut buf = BytesMut::new();
        record("", packed.clone(), flag).encode(&mut buf);
        let body = buf.freeze();
        let inflated = decode_messages(&body, true).unwrap();
        assert_eq!(inflated[0].body(), &plain);
        assert!(inflated[0].decompressed);
        assert_eq!(inflated[0].record.sysflag, flag);
        let raw = decode_messages(&body, false).unwrap();
        assert_eq!(raw[0].body(), &packed);
        assert!(!raw[0].decompressed);
    }

    #[test]
    fn truncated_or_corrupt_bodies_are_errors() {
        let mut buf = BytesMut::new();
        record("", Bytes::from_static(b"abc"), 0).encode(&mut buf);
        let full = buf.freeze();
        assert!(decode_messages(&full.slice(..full.len() - 1), false).is_err());
        let mut two = BytesMut::from(&full[..]);
        two.extend_from_slice(&full[..10]);
        let err = decode_messages(&two.freeze(), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("at byte {}", full.len())), "{err}");
        assert!(err.contains("truncated"), "{err}");
        let mut buf = BytesMut::new();
        record("", Bytes::from_static(b"not zlib"), sysflag::COMPRESSED).encode(&mut buf);
        assert!(decode_messages(&buf.clone().freeze(), true).is_err());
        assert!(decode_messages(&buf.freeze(), false).is_ok());
        assert!(decode_messages(&Bytes::new(), true).unwrap().is_empty());
    }
}
