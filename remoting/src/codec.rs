//! The frame codec: length, header word, header (JSON or ROCKETMQ binary), body.

/// Largest value of the 4-byte length field accepted (Netty's 16 MiB limit counts the length bytes).
pub const MAX_FRAME_LENGTH: usize = 16 * 1024 * 1024 - 4;
