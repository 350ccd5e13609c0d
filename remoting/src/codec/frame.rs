//! Framing: the 4-byte length, the header word, and the `tokio_util` codec around them.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::binary_header::{decode_binary_header, encode_binary_header, fits_binary_header};
use super::json_header::{decode_json_header, encode_json_header};
use super::{MAX_FRAME_LENGTH, MAX_HEADER_LENGTH};
use crate::command::{Body, RemotingCommand, SerializeType};
use crate::error::{RemotingError, Result};

/// Length-prefixed Remoting frames <-> [`RemotingCommand`]s.
///
/// Decoding rejects a frame as soon as its first 8 bytes show it is bad (negative or oversized
/// length, unknown serialize type, header longer than the frame), without waiting for the rest,
/// and never reserves memory for a declared length: the buffer grows only as bytes arrive.
#[derive(Clone, Debug)]
pub struct RemotingCodec {
    /// Largest accepted value of the length field (both directions).
    pub max_frame: usize,
}

impl RemotingCodec {
    pub fn new() -> Self {
        Self::with_max_frame(MAX_FRAME_LENGTH)
    }

    /// A codec accepting length fields up to `max_frame` (capped at `i32::MAX`).
    pub fn with_max_frame(max_frame: usize) -> Self {
        Self {
            max_frame: max_frame.min(i32::MAX as usize),
        }
    }
}

impl Default for RemotingCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for RemotingCodec {
    type Item = RemotingCommand;
    type Error = RemotingError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RemotingCommand>> {
        let Some(length) = src.get(..4) else {
            return Ok(None);
        };
        let length = check_length(read_i32(length), self.max_frame)?;
        if let Some(word) = src.get(4..8) {
            split_header_word(read_i32(word) as u32, length)?;
        }
        if src.len() - 4 < length {
            return Ok(None);
        }
        let mut frame = src.split_to(4 + length);
        frame.advance(4);
        decode_frame(frame.freeze()).map(Some)
    }
}

impl Encoder<RemotingCommand> for RemotingCodec {
    type Error = RemotingError;

    fn encode(&mut self, cmd: RemotingCommand, dst: &mut BytesMut) -> Result<()> {
        self.encode(&cmd, dst)
    }
}

impl Encoder<&RemotingCommand> for RemotingCodec {
    type Error = RemotingError;

    fn encode(&mut self, cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<()> {
        encode_head_limited(cmd, dst, self.max_frame)?;
        dst.reserve(cmd.body.len());
        for part in cmd.body.parts() {
            dst.put_slice(part);
        }
        Ok(())
    }
}

/// The header encoding `cmd` is written with: JSON for every response (C++ and Python clients
/// cannot read anything else), the command's own choice for requests, and JSON when a binary
/// header cannot represent it (codes beyond int16 such as POP_MESSAGE 200050).
pub fn header_encoding(cmd: &RemotingCommand) -> SerializeType {
    match cmd.serialize_type {
        SerializeType::RocketMq if !cmd.is_response() && fits_binary_header(cmd) => {
            SerializeType::RocketMq
        }
        _ => SerializeType::Json,
    }
}

/// Writes the 4-byte length (which counts the body), the header word and the header, but NOT the
/// body: the writer task sends `cmd.body.parts()` after it without copying them (zero-copy pull
/// responses). On error `dst` is left as it was.
pub fn encode_head(cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<()> {
    encode_head_limited(cmd, dst, MAX_FRAME_LENGTH)
}

fn encode_head_limited(cmd: &RemotingCommand, dst: &mut BytesMut, max_frame: usize) -> Result<()> {
    let start = dst.len();
    dst.put_slice(&[0; 8]);
    let serialize_type = header_encoding(cmd);
    let written = match serialize_type {
        SerializeType::Json => {
            encode_json_header(cmd, dst);
            Ok(())
        }
        SerializeType::RocketMq => encode_binary_header(cmd, dst),
    };
    let header_len = dst.len() - start - 8;
    let length = 4 + header_len + cmd.body.len();
    let checked = written.and_then(|()| {
        if header_len > MAX_HEADER_LENGTH {
            Err(RemotingError::Frame(format!(
                "header of {header_len} bytes exceeds the 24-bit limit"
            )))
        } else if length > max_frame {
            Err(RemotingError::FrameTooLarge {
                len: length,
                max: max_frame,
            })
        } else {
            Ok(())
        }
    });
    if let Err(e) = checked {
        dst.truncate(start);
        return Err(e);
    }
    let word = (serialize_type as u32) << 24 | header_len as u32;
    dst[start..start + 4].copy_from_slice(&(length as i32).to_be_bytes());
    dst[start + 4..start + 8].copy_from_slice(&word.to_be_bytes());
    Ok(())
}

/// Decodes one frame given everything after the 4-byte length field; the body is a zero-copy
/// slice of `frame`.
pub fn decode_frame(frame: Bytes) -> Result<RemotingCommand> {
    let Some(word) = frame.get(..4) else {
        return Err(RemotingError::Frame(format!(
            "frame of {} bytes has no header word",
            frame.len()
        )));
    };
    let (serialize_type, header_len) = split_header_word(read_i32(word) as u32, frame.len())?;
    let header = &frame[4..4 + header_len];
    let mut cmd = match serialize_type {
        SerializeType::Json => decode_json_header(header)?,
        SerializeType::RocketMq => decode_binary_header(header)?,
    };
    cmd.body = Body::from(frame.slice(4 + header_len..));
    Ok(cmd)
}

fn read_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Validates the length field; returns it as the number of bytes that follow it.
fn check_length(length: i32, max_frame: usize) -> Result<usize> {
    let Ok(length) = usize::try_from(length) else {
        return Err(RemotingError::Frame(format!(
            "negative frame length {length}"
        )));
    };
    if length > max_frame {
        return Err(RemotingError::FrameTooLarge {
            len: length,
            max: max_frame,
        });
    }
    if length < 4 {
        return Err(RemotingError::Frame(format!(
            "frame length {length} is shorter than the 4-byte header word"
        )));
    }
    Ok(length)
}

/// Splits the header word of a frame whose length field is `length`.
fn split_header_word(word: u32, length: usize) -> Result<(SerializeType, usize)> {
    let type_byte = (word >> 24) as u8;
    let Some(serialize_type) = SerializeType::from_u8(type_byte) else {
        return Err(RemotingError::Frame(format!(
            "unknown header serialize type {type_byte}"
        )));
    };
    let header_len = (word & 0x00ff_ffff) as usize;
    if header_len > length - 4 {
        return Err(RemotingError::Frame(format!(
            "header length {header_len} exceeds the frame's {} bytes after the header word",
            length - 4
        )));
    }
    Ok((serialize_type, header_len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::LanguageCode;

    fn request() -> RemotingCommand {
        RemotingCommand {
            code: 105,
            language: LanguageCode::Java,
            version: 479,
            opaque: 3,
            ..RemotingCommand::default()
        }
        .with_ext("topic", "TopicTest")
    }

    fn encode(cmd: &RemotingCommand) -> BytesMut {
        let mut dst = BytesMut::new();
        RemotingCodec::new().encode(cmd, &mut dst).unwrap();
        dst
    }

    #[test]
    fn frames_round_trip_with_body() {
        for st in [SerializeType::Json, SerializeType::RocketMq] {
            let mut cmd = request().with_body(Bytes::from_static(b"hello"));
            cmd.serialize_type = st;
            let mut buf = encode(&cmd);
            let back = RemotingCodec::new().decode(&mut buf).unwrap().unwrap();
            assert_eq!(back, cmd);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn partial_frames_wait_for_more_bytes() {
        let full = encode(&request().with_body(Bytes::from_static(b"body")));
        let mut codec = RemotingCodec::new();
        let mut buf = BytesMut::new();
        for (i, &b) in full.iter().enumerate() {
            assert!(
                codec.decode(&mut buf).unwrap().is_none(),
                "early frame at {i}"
            );
            buf.put_u8(b);
        }
        assert_eq!(
            codec.decode(&mut buf).unwrap().unwrap().body.to_bytes(),
            "body"
        );
    }

    #[test]
    fn bad_lengths_fail_as_soon_as_they_are_seen() {
        let mut codec = RemotingCodec::with_max_frame(1024);
        let mut buf = BytesMut::from(&1025i32.to_be_bytes()[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(RemotingError::FrameTooLarge {
                len: 1025,
                max: 1024
            })
        ));
        let mut buf = BytesMut::from(&(-1i32).to_be_bytes()[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(RemotingError::Frame(_))
        ));
        let mut buf = BytesMut::from(&3i32.to_be_bytes()[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(RemotingError::Frame(_))
        ));
        // Header longer than the frame, seen from the first 8 bytes.
        let mut buf = BytesMut::from(&[0, 0, 0, 10, 0, 0, 0, 7][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(RemotingError::Frame(_))
        ));
        // Unknown serialize type.
        let mut buf = BytesMut::from(&[0, 0, 0, 10, 2, 0, 0, 0][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(RemotingError::Frame(_))
        ));
    }

    #[test]
    fn default_limit_matches_netty_16_mib_including_the_length_bytes() {
        let mut codec = RemotingCodec::new();
        let mut at_limit = BytesMut::from(&16_777_212i32.to_be_bytes()[..]);
        assert!(codec.decode(&mut at_limit).unwrap().is_none());
        let mut over = BytesMut::from(&16_777_213i32.to_be_bytes()[..]);
        assert!(matches!(
            codec.decode(&mut over),
            Err(RemotingError::FrameTooLarge {
                len: 16_777_213,
                max: 16_777_212
            })
        ));
    }

    #[test]
    fn huge_declared_length_does_not_reserve_memory() {
        let mut codec = RemotingCodec::new();
        let mut buf = BytesMut::new();
        buf.put_i32(MAX_FRAME_LENGTH as i32);
        buf.put_u32(100);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() < 1024 * 1024, "capacity {}", buf.capacity());
    }

    #[test]
    fn responses_are_always_json_and_pop_falls_back_to_json() {
        let mut req = request();
        req.serialize_type = SerializeType::RocketMq;
        let mut resp = RemotingCommand::response_to(&req, 0);
        resp.serialize_type = SerializeType::RocketMq;
        assert_eq!(encode(&resp)[4], 0);
        assert_eq!(encode(&req)[4], 1);
        let mut pop = RemotingCommand::request(200050);
        pop.serialize_type = SerializeType::RocketMq;
        let mut buf = encode(&pop);
        assert_eq!(buf[4], 0);
        assert_eq!(
            RemotingCodec::new().decode(&mut buf).unwrap().unwrap().code,
            200050
        );
    }

    #[test]
    fn encode_head_leaves_the_body_out_and_counts_it() {
        let cmd = request().with_body(Body::from_parts(vec![
            Bytes::from_static(b"ab"),
            Bytes::from_static(b"cde"),
        ]));
        let mut head = BytesMut::new();
        encode_head(&cmd, &mut head).unwrap();
        let length = read_i32(&head[..4]) as usize;
        assert_eq!(length, head.len() - 4 + 5);
        for p in cmd.body.parts() {
            head.put_slice(p);
        }
        let back = RemotingCodec::new().decode(&mut head).unwrap().unwrap();
        assert_eq!(back.body.to_bytes(), "abcde");
    }

    #[test]
    fn oversized_encoding_is_refused_and_leaves_dst_untouched() {
        let cmd = request().with_body(vec![0u8; 2000]);
        let mut dst = BytesMut::from(&b"prefix"[..]);
        let mut codec = RemotingCodec::with_max_frame(1000);
        assert!(matches!(
            codec.encode(&cmd, &mut dst),
            Err(RemotingError::FrameTooLarge { .. })
        ));
        assert_eq!(&dst[..], b"prefix");
    }

    #[test]
    fn decode_frame_rejects_short_frames() {
        assert!(decode_frame(Bytes::from_static(b"\0\0")).is_err());
        assert!(decode_frame(Bytes::from_static(b"\0\0\0\x05{}")).is_err());
    }
}
