//! TEMPORARY stand-in for `crate::codec` (branch `h-codec`), JSON headers only, with the same API.
//! Exists only so the transport can be tested before the real codec lands; delete it then.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::code::LanguageCode;
use crate::command::{Body, ExtFields, RemotingCommand, SerializeType};
use crate::error::{RemotingError, Result};

pub use crate::codec::MAX_FRAME_LENGTH;

pub struct RemotingCodec {
    max_frame: usize,
}

impl Default for RemotingCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl RemotingCodec {
    pub fn new() -> Self {
        Self::with_max_frame(MAX_FRAME_LENGTH)
    }

    pub fn with_max_frame(max_frame: usize) -> Self {
        Self { max_frame }
    }
}

impl Decoder for RemotingCodec {
    type Item = RemotingCommand;
    type Error = RemotingError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RemotingCommand>> {
        if src.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len > self.max_frame {
            return Err(RemotingError::FrameTooLarge {
                len,
                max: self.max_frame,
            });
        }
        if src.len() < 4 + len {
            src.reserve(4 + len - src.len());
            return Ok(None);
        }
        src.advance(4);
        decode_frame(src.split_to(len).freeze()).map(Some)
    }
}

impl Encoder<RemotingCommand> for RemotingCodec {
    type Error = RemotingError;

    fn encode(&mut self, cmd: RemotingCommand, dst: &mut BytesMut) -> Result<()> {
        encode_head(&cmd, dst)?;
        for part in cmd.body.parts() {
            dst.extend_from_slice(part);
        }
        Ok(())
    }
}

pub fn encode_head(cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<()> {
    let mut header = serde_json::Map::new();
    header.insert("code".into(), cmd.code.into());
    if !cmd.ext_fields.is_empty() {
        let ext: serde_json::Map<String, serde_json::Value> = cmd
            .ext_fields
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        header.insert("extFields".into(), ext.into());
    }
    header.insert("flag".into(), cmd.flag.into());
    header.insert("language".into(), cmd.language.name().into());
    header.insert("opaque".into(), cmd.opaque.into());
    if let Some(remark) = &cmd.remark {
        header.insert("remark".into(), remark.clone().into());
    }
    header.insert("serializeTypeCurrentRPC".into(), "JSON".into());
    header.insert("version".into(), cmd.version.into());
    let json = serde_json::to_vec(&header).map_err(|e| RemotingError::Header(e.to_string()))?;
    let len = 4 + json.len() + cmd.body.len();
    dst.reserve(8 + json.len());
    dst.put_u32(len as u32);
    dst.put_u32(json.len() as u32);
    dst.extend_from_slice(&json);
    Ok(())
}

pub fn decode_frame(mut frame: Bytes) -> Result<RemotingCommand> {
    if frame.len() < 4 {
        return Err(RemotingError::Frame(
            "frame shorter than its header word".into(),
        ));
    }
    let word = frame.get_u32();
    let header_len = (word & 0x00ff_ffff) as usize;
    if word >> 24 != 0 {
        return Err(RemotingError::Frame(
            "only JSON headers in the temporary codec".into(),
        ));
    }
    if header_len > frame.len() {
        return Err(RemotingError::Frame(format!(
            "header length {header_len} exceeds the frame"
        )));
    }
    let header = frame.split_to(header_len);
    let value: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| RemotingError::Header(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| RemotingError::Header("header is not a JSON object".into()))?;
    let int = |k: &str| obj.get(k).and_then(|v| v.as_i64()).unwrap_or(0) as i32;
    let mut ext_fields = ExtFields::new();
    if let Some(ext) = obj.get("extFields").and_then(|v| v.as_object()) {
        for (k, v) in ext {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            ext_fields.insert(k.clone(), text);
        }
    }
    Ok(RemotingCommand {
        code: int("code"),
        language: obj
            .get("language")
            .and_then(|v| v.as_str())
            .and_then(LanguageCode::from_name)
            .unwrap_or_default(),
        version: int("version"),
        opaque: int("opaque"),
        flag: int("flag"),
        remark: obj.get("remark").and_then(|v| v.as_str()).map(String::from),
        ext_fields,
        body: Body::from(frame),
        serialize_type: SerializeType::Json,
    })
}
