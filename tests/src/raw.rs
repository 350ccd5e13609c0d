//! Raw Remoting frames (remoting-protocol.md §1.2): the harness writes header bytes exactly as a
//! given client dialect would and reads back what the server answered, byte for byte.
//!
//! This deliberately does not use `sluice-remoting`'s codec: the point is to check the server
//! against the wire format, not against our own encoder.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{HarnessError, Result};

const READ_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest frame a RocketMQ peer accepts (§1.2).
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// One decoded frame as it arrived.
#[derive(Debug, Clone)]
pub struct RawFrame {
    /// High byte of the header word: 0 = JSON, 1 = ROCKETMQ binary.
    pub serialize_type: u8,
    /// The header bytes exactly as received.
    pub header_bytes: Bytes,
    /// The header parsed as JSON (`Value::Null` when it is not JSON).
    pub header: Value,
    pub body: Bytes,
}

impl RawFrame {
    pub fn code(&self) -> Option<i64> {
        self.header.get("code").and_then(Value::as_i64)
    }

    pub fn opaque(&self) -> Option<i64> {
        self.header.get("opaque").and_then(Value::as_i64)
    }

    pub fn flag(&self) -> Option<i64> {
        self.header.get("flag").and_then(Value::as_i64)
    }

    pub fn remark(&self) -> Option<&str> {
        self.header.get("remark").and_then(Value::as_str)
    }

    /// An `extFields` member, whatever its JSON type.
    pub fn ext(&self, key: &str) -> Option<&Value> {
        self.header.get("extFields").and_then(|ext| ext.get(key))
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A TCP connection speaking raw frames.
#[derive(Debug)]
pub struct RawConnection {
    pub stream: TcpStream,
    pub peer: SocketAddr,
}

impl RawConnection {
    pub async fn connect(addr: SocketAddr) -> Result<Self> {
        let stream = tokio::time::timeout(READ_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| HarnessError::new(format!("connecting to {addr} timed out")))?
            .map_err(|e| HarnessError::io(format!("connecting to {addr}"), e))?;
        Ok(Self { stream, peer: addr })
    }

    /// Writes one frame: length, header word (type byte + header length), header, body.
    pub async fn send(&mut self, serialize_type: u8, header: &[u8], body: &[u8]) -> Result<()> {
        let frame = encode_frame(serialize_type, header, body)?;
        self.stream
            .write_all(&frame)
            .await
            .map_err(|e| HarnessError::io(format!("writing a frame to {}", self.peer), e))
    }

    /// Reads the next frame (bounded wait).
    pub async fn receive(&mut self) -> Result<RawFrame> {
        tokio::time::timeout(READ_TIMEOUT, self.receive_unbounded())
            .await
            .map_err(|_| {
                HarnessError::new(format!(
                    "no frame from {} within {READ_TIMEOUT:?}",
                    self.peer
                ))
            })?
    }

    async fn receive_unbounded(&mut self) -> Result<RawFrame> {
        let length = self.stream.read_u32().await.map_err(|e| {
            HarnessError::io(format!("reading a frame length from {}", self.peer), e)
        })? as usize;
        if !(4..=MAX_FRAME).contains(&length) {
            return Err(HarnessError::new(format!(
                "frame length {length} from {} is invalid",
                self.peer
            )));
        }
        let mut rest = vec![0u8; length];
        self.stream.read_exact(&mut rest).await.map_err(|e| {
            HarnessError::io(
                format!("reading a {length}-byte frame from {}", self.peer),
                e,
            )
        })?;
        decode_after_length(Bytes::from(rest))
    }

    /// Sends a JSON-header request and returns the next frame, which must be the response to it.
    pub async fn request(&mut self, header_json: &str, body: &[u8]) -> Result<RawFrame> {
        self.send(0, header_json.as_bytes(), body).await?;
        self.receive().await
    }
}

/// Encodes a complete frame including the leading length word.
pub fn encode_frame(serialize_type: u8, header: &[u8], body: &[u8]) -> Result<Vec<u8>> {
    if header.len() >= 1 << 24 {
        return Err(HarnessError::new("header longer than 2^24-1 bytes"));
    }
    let length = 4 + header.len() + body.len();
    let length = u32::try_from(length).map_err(|_| HarnessError::new("frame longer than 4 GiB"))?;
    let mut frame = Vec::with_capacity(4 + length as usize);
    frame.extend_from_slice(&length.to_be_bytes());
    let word = (u32::from(serialize_type) << 24) | header.len() as u32;
    frame.extend_from_slice(&word.to_be_bytes());
    frame.extend_from_slice(header);
    frame.extend_from_slice(body);
    Ok(frame)
}

/// Decodes what follows the length word.
pub fn decode_after_length(mut rest: Bytes) -> Result<RawFrame> {
    if rest.len() < 4 {
        return Err(HarnessError::new("frame shorter than its header word"));
    }
    let word = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let serialize_type = (word >> 24) as u8;
    let header_len = (word & 0x00FF_FFFF) as usize;
    if header_len > rest.len() - 4 {
        return Err(HarnessError::new(format!(
            "header length {header_len} exceeds the frame ({} bytes)",
            rest.len() - 4
        )));
    }
    let _ = rest.split_to(4);
    let header_bytes = rest.split_to(header_len);
    let header = if serialize_type == 0 {
        serde_json::from_slice(&header_bytes).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    Ok(RawFrame {
        serialize_type,
        header_bytes,
        header,
        body: rest,
    })
}

/// A request header the way the Java client writes it (fastjson: sorted keys, no whitespace,
/// string extFields, `serializeTypeCurrentRPC`).
pub fn java_header(code: i32, version: i32, opaque: i32, ext: &[(&str, &str)]) -> String {
    let mut fields: Vec<(&str, &str)> = ext.to_vec();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    let ext_json: serde_json::Map<String, Value> = fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    let ext_part = if ext_json.is_empty() {
        String::new()
    } else {
        format!("\"extFields\":{},", Value::Object(ext_json))
    };
    format!(
        "{{\"code\":{code},{ext_part}\"flag\":0,\"language\":\"JAVA\",\"opaque\":{opaque},\"serializeTypeCurrentRPC\":\"JSON\",\"version\":{version}}}"
    )
}

/// Registers a broker at a NameServer the way a broker does (REGISTER_BROKER, code 103, JSON
/// RegisterBrokerBody, §3.1 and §4.4), with `topics` as `(name, queue count)` at perm 6.
pub async fn register_broker(
    conn: &mut RawConnection,
    cluster: &str,
    broker_name: &str,
    broker_addr: &str,
    topics: &[(&str, u32)],
) -> Result<RawFrame> {
    let mut table = serde_json::Map::new();
    for (topic, queues) in topics {
        table.insert(
            topic.to_string(),
            serde_json::json!({
                "topicName": topic, "readQueueNums": queues, "writeQueueNums": queues, "perm": 6,
                "topicFilterType": "SINGLE_TAG", "topicSysFlag": 0, "order": false, "attributes": {}
            }),
        );
    }
    let body = serde_json::json!({
        "topicConfigSerializeWrapper": {
            "topicConfigTable": table,
            "dataVersion": {"counter": 1, "stateVersion": 0, "timestamp": 1_700_000_000_000u64}
        },
        "filterServerList": []
    })
    .to_string();
    let ha = broker_addr.to_string();
    let header = java_header(
        103,
        479,
        1,
        &[
            ("brokerAddr", broker_addr),
            ("brokerId", "0"),
            ("brokerName", broker_name),
            ("clusterName", cluster),
            ("haServerAddr", &ha),
            ("compressed", "false"),
            ("bodyCrc32", "0"),
        ],
    );
    conn.request(&header, body.as_bytes()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_layout_matches_the_worked_example_length_word() {
        // §1.4: a 131-byte J5 header with no body starts 00 00 00 87 00 00 00 83.
        let header = java_header(105, 479, 3, &[("topic", "TopicTest")]);
        assert_eq!(header.len(), 131, "{header}");
        let frame = encode_frame(0, header.as_bytes(), b"").unwrap();
        assert_eq!(&frame[..8], &[0, 0, 0, 0x87, 0, 0, 0, 0x83]);
        let decoded = decode_after_length(Bytes::from(frame[4..].to_vec())).unwrap();
        assert_eq!(decoded.code(), Some(105));
        assert_eq!(
            decoded.ext("topic").and_then(Value::as_str),
            Some("TopicTest")
        );
        assert!(decoded.body.is_empty());
    }

    #[test]
    fn a_header_length_past_the_frame_is_an_error_not_a_panic() {
        let bad = Bytes::from_static(&[0, 0, 0, 50, b'{', b'}']);
        assert!(decode_after_length(bad).is_err());
        assert!(decode_after_length(Bytes::from_static(&[0, 0])).is_err());
    }
}
