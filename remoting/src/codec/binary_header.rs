//! ROCKETMQ binary header (serialize type 1), reference §1.5.
//!
//! ```text
//! code i16 | language u8 | version i16 | opaque i32 | flag i32
//! remarkLen i32 | remark | extLen i32 | { keyLen i16 | key | valLen i32 | value }*
//! ```
//! A zero-length string decodes as absent (Java reads it as null), so empty remarks and empty
//! extFields values do not survive this encoding. A repeated key keeps its last value.

use bytes::{BufMut, BytesMut};

use crate::code::LanguageCode;
use crate::command::{RemotingCommand, SerializeType};
use crate::error::{RemotingError, Result};

/// Size of the fixed fields before the remark.
const FIXED_LEN: usize = 2 + 1 + 2 + 4 + 4;

/// Whether `cmd` can be written in the binary encoding: `code` and `version` must fit in an
/// int16 and every extFields key in an int16 length. Callers fall back to JSON otherwise.
pub fn fits_binary_header(cmd: &RemotingCommand) -> bool {
    i16::try_from(cmd.code).is_ok()
        && i16::try_from(cmd.version).is_ok()
        && cmd.ext_fields.keys().all(|k| k.len() <= i16::MAX as usize)
        && binary_header_len(cmd) <= i32::MAX as usize
}

/// Exact encoded size of the binary header of `cmd`.
fn binary_header_len(cmd: &RemotingCommand) -> usize {
    let ext: usize = ext_section_len(cmd);
    FIXED_LEN + 4 + cmd.remark.as_ref().map_or(0, String::len) + 4 + ext
}

fn ext_section_len(cmd: &RemotingCommand) -> usize {
    cmd.ext_fields
        .iter()
        .map(|(k, v)| 2 + k.len() + 4 + v.len())
        .sum()
}

/// Appends the binary header of `cmd`. Fails if [`fits_binary_header`] is false.
pub fn encode_binary_header(cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<()> {
    let unrepresentable = || {
        RemotingError::Frame(format!(
            "command (code {}) does not fit a binary header",
            cmd.code
        ))
    };
    let code = i16::try_from(cmd.code).map_err(|_| unrepresentable())?;
    let version = i16::try_from(cmd.version).map_err(|_| unrepresentable())?;
    if !fits_binary_header(cmd) {
        return Err(unrepresentable());
    }
    dst.reserve(binary_header_len(cmd));
    dst.put_i16(code);
    dst.put_u8(cmd.language as u8);
    dst.put_i16(version);
    dst.put_i32(cmd.opaque);
    dst.put_i32(cmd.flag);
    let remark = cmd.remark.as_deref().unwrap_or("");
    dst.put_i32(remark.len() as i32);
    dst.put_slice(remark.as_bytes());
    dst.put_i32(ext_section_len(cmd) as i32);
    for (k, v) in &cmd.ext_fields {
        dst.put_i16(k.len() as i16);
        dst.put_slice(k.as_bytes());
        dst.put_i32(v.len() as i32);
        dst.put_slice(v.as_bytes());
    }
    Ok(())
}

/// Decodes a binary header into a command with an empty body.
pub fn decode_binary_header(header: &[u8]) -> Result<RemotingCommand> {
    let mut r = Reader {
        buf: header,
        pos: 0,
    };
    let code = r.i16("code")? as i32;
    let language_byte = r.u8("language")?;
    let version = r.i16("version")? as i32;
    let opaque = r.i32("opaque")?;
    let flag = r.i32("flag")?;
    let remark_len = r.len_i32("remark length")?;
    let remark = r.string(remark_len, "remark")?;
    let ext_len = r.len_i32("extFields length")?;
    let ext_end = r
        .pos
        .checked_add(ext_len)
        .filter(|&e| e <= header.len())
        .ok_or_else(|| {
            RemotingError::Header(format!(
                "binary header: extFields length {ext_len} exceeds the header ({} bytes left)",
                header.len() - r.pos
            ))
        })?;
    let mut cmd = RemotingCommand {
        code,
        // Java maps an unknown byte to null; keep going with OTHER instead of failing the frame.
        language: LanguageCode::from_u8(language_byte).unwrap_or(LanguageCode::Other),
        version,
        opaque,
        flag,
        remark,
        serialize_type: SerializeType::RocketMq,
        ..RemotingCommand::default()
    };
    let mut ext = Reader {
        buf: &header[..ext_end],
        pos: r.pos,
    };
    while ext.pos < ext_end {
        let key_len = ext.i16("extFields key length")?;
        let key_len = usize::try_from(key_len).map_err(|_| {
            RemotingError::Header(format!("binary header: negative key length {key_len}"))
        })?;
        let key = ext.string(key_len, "extFields key")?;
        let value_len = ext.len_i32("extFields value length")?;
        let value = ext.string(value_len, "extFields value")?;
        match (key, value) {
            (Some(k), Some(v)) => {
                cmd.ext_fields
                    .insert(crate::header::keys::intern(k.into()), v);
            }
            // Java stores a null value, which reads back as absent.
            (Some(k), None) => {
                cmd.ext_fields.remove(k.as_str());
            }
            (None, _) => {}
        }
    }
    Ok(cmd)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(RemotingError::Header(format!(
                "binary header: {what} needs {n} bytes at offset {}, only {} left",
                self.pos,
                self.buf.len() - self.pos
            ))),
        }
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    fn i16(&mut self, what: &str) -> Result<i16> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, what: &str) -> Result<i32> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A non-negative int32 length.
    fn len_i32(&mut self, what: &str) -> Result<usize> {
        let v = self.i32(what)?;
        usize::try_from(v)
            .map_err(|_| RemotingError::Header(format!("binary header: negative {what} {v}")))
    }

    /// `len` bytes of UTF-8; zero length is absent.
    fn string(&mut self, len: usize, what: &str) -> Result<Option<String>> {
        if len == 0 {
            return Ok(None);
        }
        let bytes = self.take(len, what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Some(s.to_owned())),
            Err(_) => Err(RemotingError::Header(format!(
                "binary header: {what} is not valid UTF-8"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RemotingCommand {
        RemotingCommand {
            code: 105,
            language: LanguageCode::Java,
            version: 479,
            opaque: 3,
            serialize_type: SerializeType::RocketMq,
            ..RemotingCommand::default()
        }
        .with_ext("topic", "TopicTest")
    }

    #[test]
    fn round_trips_and_measures_itself() {
        let cmd = sample().with_remark("r").with_ext("k", "é");
        let mut dst = BytesMut::new();
        encode_binary_header(&cmd, &mut dst).unwrap();
        assert_eq!(dst.len(), binary_header_len(&cmd));
        assert_eq!(decode_binary_header(&dst).unwrap(), cmd);
    }

    #[test]
    fn empty_strings_decode_as_absent() {
        let cmd = sample().with_remark("").with_ext("empty", "");
        let mut dst = BytesMut::new();
        encode_binary_header(&cmd, &mut dst).unwrap();
        let back = decode_binary_header(&dst).unwrap();
        assert_eq!(back.remark, None);
        assert_eq!(back.ext("empty"), None);
        assert_eq!(back.ext("topic"), Some("TopicTest"));
    }

    #[test]
    fn repeated_key_keeps_the_last_value() {
        let mut h = BytesMut::new();
        h.put_slice(&[0, 10, 0, 1, 0xdf, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        let entry = |v: &str| {
            let mut e = vec![0, 1, b'a'];
            e.extend_from_slice(&(v.len() as i32).to_be_bytes());
            e.extend_from_slice(v.as_bytes());
            e
        };
        let mut map = entry("first");
        map.extend(entry("second"));
        h.put_i32(map.len() as i32);
        h.put_slice(&map);
        let cmd = decode_binary_header(&h).unwrap();
        assert_eq!(cmd.ext("a"), Some("second"));
        assert_eq!(cmd.code, 10);
        assert_eq!(cmd.version, 479);
    }

    #[test]
    fn lengths_past_the_header_are_errors() {
        let mut dst = BytesMut::new();
        encode_binary_header(&sample(), &mut dst).unwrap();
        for cut in 0..dst.len() {
            assert!(decode_binary_header(&dst[..cut]).is_err(), "cut at {cut}");
        }
        // A remark length of i32::MAX.
        let mut bad = dst.to_vec();
        bad[13..17].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode_binary_header(&bad).is_err());
        // A negative extFields length.
        let mut bad = dst.to_vec();
        bad[17..21].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(decode_binary_header(&bad).is_err());
    }

    #[test]
    fn unknown_language_byte_is_other() {
        let mut dst = BytesMut::new();
        encode_binary_header(&sample(), &mut dst).unwrap();
        dst[2] = 200;
        assert_eq!(
            decode_binary_header(&dst).unwrap().language,
            LanguageCode::Other
        );
    }

    #[test]
    fn codes_beyond_int16_do_not_fit() {
        let pop = RemotingCommand::request(200050);
        assert!(!fits_binary_header(&pop));
        assert!(encode_binary_header(&pop, &mut BytesMut::new()).is_err());
        assert!(fits_binary_header(&sample()));
    }
}
