//! The frame codec: length, header word, header (JSON or ROCKETMQ binary), body.
//!
//! ```text
//! length i32 (= 4 + headerLen + bodyLen) | serializeType u8 | headerLen u24 | header | body
//! ```
//! [`RemotingCodec`] plugs into `tokio_util::codec::Framed`; [`encode_head`] and [`decode_frame`]
//! are the pieces the transport uses directly (writing a body without copying it, decoding a
//! frame it has already cut out).

mod binary_header;
mod frame;
mod json_cursor;
mod json_header;

pub use binary_header::{decode_binary_header, encode_binary_header, fits_binary_header};
pub use frame::{decode_frame, encode_head, header_encoding, RemotingCodec};
pub use json_header::{decode_json_header, encode_json_header};

/// Largest value of the 4-byte length field accepted (Netty's 16 MiB limit counts the length bytes).
pub const MAX_FRAME_LENGTH: usize = 16 * 1024 * 1024 - 4;

/// Largest header length the 24-bit field of the header word can carry.
pub const MAX_HEADER_LENGTH: usize = (1 << 24) - 1;
