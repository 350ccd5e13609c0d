//! [`MessageExt`]: a message as a client sees it after a pull, and [`decode_messages`] for a
//! PULL (or QUERY_MESSAGE, VIEW_MESSAGE_BY_ID...) response body.

use bytes::Bytes;

use super::compression::decompress;
use super::property::{self, Properties};
use super::{msgid, sysflag, MessageRecord};
use crate::error::Result;

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
    let mut rest = body.clone();
    while !rest.is_empty() {
        let (record, used) = MessageRecord::decode(&rest)?;
        out.push(MessageExt::from_record(record, decompress_body)?);
        rest = rest.slice(used..);
    }
    Ok(out)
}
