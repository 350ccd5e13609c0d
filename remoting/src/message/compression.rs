//! Body compression. Only zlib (compression types 0 = legacy and 3 = ZLIB) is supported: it is
//! what every client uses by default and all of them can read; LZ4/ZSTD bodies are refused.

use std::io::{Read, Write};

use bytes::Bytes;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;

use super::sysflag;
use crate::error::{RemotingError, Result};

/// Java producers compress bodies of at least this many bytes (`compressMsgBodyOverHowmuch`).
pub const DEFAULT_COMPRESS_OVER: usize = 4096;
/// Java's default zlib level (`rocketmq.message.compressLevel`).
pub const DEFAULT_COMPRESS_LEVEL: u32 = 5;
/// The sysflag bits a Java 5.x producer sets on a zlib body (0x301). 4.9 Java, C++ and Go
/// producers set only COMPRESSED; every consumer inflates both as zlib.
pub const ZLIB_SYSFLAG: i32 = sysflag::COMPRESSED | sysflag::COMPRESSION_ZLIB;

/// Largest body [`decompress`] inflates to, so a tiny hostile body cannot exhaust memory.
pub const MAX_DECOMPRESSED_LEN: usize = 64 * 1024 * 1024;

/// A zlib stream (RFC 1950, with its 2-byte header) as `java.util.zip.Deflater` writes it.
/// `level` is clamped to 0..=9 (Java producers use 5).
pub fn compress_zlib(data: &[u8], level: u32) -> Bytes {
    let mut enc = ZlibEncoder::new(
        Vec::with_capacity(data.len() / 2 + 64),
        Compression::new(level.min(9)),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    Bytes::from(enc.finish().unwrap_or_default())
}

/// Inflates a body stored with `sysflag` (COMPRESSED set), picking the algorithm from the
/// compression type bits; at most [`MAX_DECOMPRESSED_LEN`] bytes.
pub fn decompress(sysflag: i32, data: &[u8]) -> Result<Bytes> {
    decompress_limited(sysflag, data, MAX_DECOMPRESSED_LEN)
}

/// [`decompress`] with an explicit output limit.
pub fn decompress_limited(sysflag: i32, data: &[u8], max_len: usize) -> Result<Bytes> {
    match sysflag::compression_type(sysflag) {
        0 | 3 => inflate_zlib(data, max_len),
        1 => Err(RemotingError::Body(
            "LZ4-compressed body is not supported".into(),
        )),
        2 => Err(RemotingError::Body(
            "ZSTD-compressed body is not supported".into(),
        )),
        other => Err(RemotingError::Body(format!(
            "unknown compression type {other}"
        ))),
    }
}

fn inflate_zlib(data: &[u8], max_len: usize) -> Result<Bytes> {
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(max_len));
    let mut dec = ZlibDecoder::new(data).take(max_len as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| RemotingError::Body(format!("corrupt zlib body: {e}")))?;
    if out.len() > max_len {
        return Err(RemotingError::Body(format!(
            "decompressed body exceeds {max_len} bytes"
        )));
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::sysflag::{
        COMPRESSED, COMPRESSION_LZ4, COMPRESSION_ZLIB, COMPRESSION_ZSTD,
    };

    #[test]
    fn zlib_round_trip_legacy_and_typed() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let packed = compress_zlib(&data, 5);
        // RFC 1950 header: CM = 8 (deflate), and the header checksum holds.
        assert_eq!(packed[0] & 0x0F, 8);
        assert_eq!((u16::from(packed[0]) << 8 | u16::from(packed[1])) % 31, 0);
        assert!(packed.len() < data.len());
        assert_eq!(&decompress(COMPRESSED, &packed).unwrap()[..], &data[..]);
        assert_eq!(
            &decompress(COMPRESSED | COMPRESSION_ZLIB, &packed).unwrap()[..],
            &data[..]
        );
    }

    #[test]
    fn known_java_deflater_output_inflates() {
        // java.util.zip.Deflater (default level) output for "hello".
        let java = [
            0x78, 0x9C, 0xCB, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x06, 0x2C, 0x02, 0x15,
        ];
        assert_eq!(&decompress(COMPRESSED, &java).unwrap()[..], b"hello");
    }

    #[test]
    fn refuses_other_types_garbage_and_bombs() {
        let packed = compress_zlib(b"abc", 5);
        assert!(decompress(COMPRESSED | COMPRESSION_LZ4, &packed).is_err());
        assert!(decompress(COMPRESSED | COMPRESSION_ZSTD, &packed).is_err());
        assert!(decompress(COMPRESSED | 0x400, &packed).is_err());
        assert!(decompress(COMPRESSED, b"not zlib").is_err());
        assert!(decompress(COMPRESSED, &packed[..packed.len() - 2]).is_err());
        let zeros = compress_zlib(&vec![0u8; 100_000], 9);
        assert!(decompress_limited(COMPRESSED, &zeros, 99_999).is_err());
        assert_eq!(
            decompress_limited(COMPRESSED, &zeros, 100_000)
                .unwrap()
                .len(),
            100_000
        );
    }
}
