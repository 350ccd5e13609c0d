//! REGISTER_BROKER body: the broker's topic table and filter servers, as JSON or in the zlib
//! compressed layout of `RegisterBrokerBody.encode(true)`.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};

use super::topic::{DataVersion, TopicConfig, TopicConfigSerializeWrapper};
use super::JsonBody;
use crate::code::version;
use crate::error::RemotingError;
use crate::json::{self, lenient};

/// Largest decompressed registration accepted (a zlib bomb must not exhaust memory).
pub const MAX_DECOMPRESSED_LEN: usize = 64 * 1024 * 1024;

/// The `bodyCrc32` header value: CRC32 of the body as sent (compressed or not), masked to a
/// non-negative Java int. 0 means "not checked".
pub fn body_crc32(body: &[u8]) -> i32 {
    (crc32fast::hash(body) & 0x7FFF_FFFF) as i32
}

/// Checks a received body against its `bodyCrc32` header (0 skips the check).
pub fn check_body_crc32(body: &[u8], expected: i32) -> Result<(), RemotingError> {
    if expected == 0 {
        return Ok(());
    }
    let actual = body_crc32(body);
    if actual == expected {
        Ok(())
    } else {
        Err(RemotingError::Body(format!(
            "register body CRC mismatch: header says {expected}, body has {actual}"
        )))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterBrokerBody {
    #[serde(deserialize_with = "lenient::vec_string")]
    pub filter_server_list: Vec<String>,
    #[serde(deserialize_with = "lenient::or_default")]
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
}

impl JsonBody for RegisterBrokerBody {}

impl RegisterBrokerBody {
    /// Reads a registration as the NameServer does: JSON unless the `compressed` header is set,
    /// in which case the static-topic section is present only when `broker_version` >= V5_0_0.
    pub fn decode_from(
        bytes: &[u8],
        compressed: bool,
        broker_version: i32,
    ) -> Result<Self, RemotingError> {
        if compressed {
            Self::decode_compressed(bytes, broker_version)
        } else {
            json::from_slice(bytes)
        }
    }

    /// The zlib form (Deflater level 9): DataVersion JSON, topic count, each TopicConfig in its
    /// text form, the filter server JSON array, then the static-topic mapping infos; every
    /// piece prefixed with a big-endian int32 length or count.
    pub fn encode_compressed(&self) -> Result<Vec<u8>, RemotingError> {
        let wrapper = &self.topic_config_serialize_wrapper;
        let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
        write_chunk(&mut z, &super::encode_legacy(&wrapper.data_version))?;
        write_len(&mut z, wrapper.topic_config_table.len())?;
        for topic in wrapper.topic_config_table.values() {
            write_chunk(&mut z, topic.encode_text().as_bytes())?;
        }
        write_chunk(&mut z, &super::encode_legacy(&self.filter_server_list))?;
        let mappings = wrapper.topic_queue_mapping_info_map.as_ref();
        write_len(&mut z, mappings.map_or(0, BTreeMap::len))?;
        for info in mappings.into_iter().flat_map(BTreeMap::values) {
            write_chunk(&mut z, &super::encode_legacy(info))?;
        }
        Ok(z.finish()?)
    }

    /// Reads the zlib form written by [`encode_compressed`](Self::encode_compressed) or a
    /// Java broker.
    pub fn decode_compressed(bytes: &[u8], broker_version: i32) -> Result<Self, RemotingError> {
        let mut raw = Vec::new();
        ZlibDecoder::new(bytes)
            .take(MAX_DECOMPRESSED_LEN as u64 + 1)
            .read_to_end(&mut raw)
            .map_err(|e| RemotingError::Body(format!("register body: bad zlib stream: {e}")))?;
        if raw.len() > MAX_DECOMPRESSED_LEN {
            return Err(RemotingError::Body(format!(
                "register body inflates beyond {MAX_DECOMPRESSED_LEN} bytes"
            )));
        }
        let mut cur = Cursor { buf: &raw, pos: 0 };
        let data_version: DataVersion = json::from_slice(cur.chunk("dataVersion")?)?;
        let topic_count = cur.count("topic count")?;
        let mut topic_config_table = BTreeMap::new();
        for _ in 0..topic_count {
            let text = std::str::from_utf8(cur.chunk("topic config")?)
                .map_err(|_| RemotingError::Body("register body: topic config not UTF-8".into()))?;
            let topic = TopicConfig::decode_text(text)?;
            topic_config_table.insert(topic.topic_name.clone(), topic);
        }
        // Java logs and ignores a bad filter server list; so do we.
        let filter_server_list = json::from_slice(cur.chunk("filter servers")?).unwrap_or_default();
        let mut wrapper = TopicConfigSerializeWrapper {
            data_version,
            topic_config_table,
            ..Default::default()
        };
        if broker_version >= version::V5_0_0 {
            let mapping_count = cur.count("mapping count")?;
            let mut infos = BTreeMap::new();
            for _ in 0..mapping_count {
                let info: serde_json::Value = json::from_slice(cur.chunk("mapping info")?)?;
                let topic = info
                    .get("topic")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                infos.insert(topic, info);
            }
            wrapper.topic_queue_mapping_info_map = Some(infos);
        }
        Ok(RegisterBrokerBody {
            filter_server_list,
            topic_config_serialize_wrapper: wrapper,
        })
    }
}

fn write_len(w: &mut impl Write, len: usize) -> Result<(), RemotingError> {
    let len = i32::try_from(len)
        .map_err(|_| RemotingError::Body(format!("register body piece of {len} is too large")))?;
    w.write_all(&len.to_be_bytes())?;
    Ok(())
}

fn write_chunk(w: &mut impl Write, bytes: &[u8]) -> Result<(), RemotingError> {
    write_len(w, bytes.len())?;
    w.write_all(bytes)?;
    Ok(())
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn count(&mut self, what: &str) -> Result<usize, RemotingError> {
        let bytes = self
            .buf
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| RemotingError::Body(format!("register body truncated at {what}")))?;
        self.pos += 4;
        let n = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        usize::try_from(n)
            .map_err(|_| RemotingError::Body(format!("register body: negative {what} {n}")))
    }

    fn chunk(&mut self, what: &str) -> Result<&'a [u8], RemotingError> {
        let len = self.count(what)?;
        let end = self.pos.checked_add(len).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| {
            RemotingError::Body(format!("register body: {what} of {len} bytes is truncated"))
        })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RegisterBrokerBody {
        let mut body = RegisterBrokerBody::default();
        let w = &mut body.topic_config_serialize_wrapper;
        w.data_version = DataVersion {
            counter: 3,
            state_version: 0,
            timestamp: 1_700_000_000_000,
        };
        for name in ["TopicTest", "TBW102"] {
            let mut t = TopicConfig::new(name);
            t.read_queue_nums = 4;
            t.write_queue_nums = 4;
            w.topic_config_table.insert(name.into(), t);
        }
        body.filter_server_list.push("10.0.0.9:30000".into());
        body
    }

    #[test]
    fn json_form_round_trips() {
        let body = sample();
        let bytes = body.encode();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.starts_with(r#"{"filterServerList":["10.0.0.9:30000"],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,"#), "{text}");
        assert_eq!(
            RegisterBrokerBody::decode_from(&bytes, false, 0).unwrap(),
            body
        );
    }

    #[test]
    fn bad_compressed_bodies_are_errors() {
        assert!(RegisterBrokerBody::decode_compressed(b"not zlib", version::V5_3_3).is_err());
        let z = sample().encode_compressed().unwrap();
        // Every truncation of the inflated stream is reported, not panicked on.
        let mut raw = Vec::new();
        ZlibDecoder::new(&z[..]).read_to_end(&mut raw).unwrap();
        for cut in 0..raw.len() {
            let mut e = ZlibEncoder::new(Vec::new(), Compression::fast());
            e.write_all(&raw[..cut]).unwrap();
            let short = e.finish().unwrap();
            assert!(RegisterBrokerBody::decode_compressed(&short, version::V5_3_3).is_err());
        }
    }

    #[test]
    fn crc_masks_the_sign_bit_and_zero_skips() {
        let body = b"hello";
        assert_eq!(
            body_crc32(body),
            (crc32fast::hash(body) & 0x7FFF_FFFF) as i32
        );
        assert!(body_crc32(body) >= 0);
        assert!(check_body_crc32(body, body_crc32(body)).is_ok());
        assert!(check_body_crc32(body, 0).is_ok());
        assert!(check_body_crc32(body, body_crc32(body) ^ 1).is_err());
    }
}
