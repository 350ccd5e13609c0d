#![no_main]
//! Fuzz target "frame": arbitrary bytes through the stream decoder (whole, then split in two at a
//! point taken from the input) and through `decode_frame`. Both runs must agree, and nothing may
//! panic. Every command decoded is re-encoded and must decode again.

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use sluice_remoting::codec::{decode_frame, RemotingCodec};
use sluice_remoting::RemotingCommand;
use tokio_util::codec::{Decoder, Encoder};

/// Decodes frames from `chunks` fed in order; stops at the first error.
fn decode_all(chunks: &[&[u8]]) -> (Vec<RemotingCommand>, bool) {
    let mut codec = RemotingCodec::with_max_frame(1 << 20);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(cmd)) => out.push(cmd),
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    let (whole, whole_failed) = decode_all(&[data]);
    let split = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
    let (parts, parts_failed) = decode_all(&[&data[..split], &data[split..]]);
    assert_eq!(whole, parts);
    assert_eq!(whole_failed, parts_failed);

    for cmd in &whole {
        let mut buf = BytesMut::new();
        if RemotingCodec::new().encode(cmd, &mut buf).is_ok() {
            let again = RemotingCodec::new().decode(&mut buf);
            assert!(matches!(again, Ok(Some(_))), "re-encoded command must decode");
        }
    }

    let _ = decode_frame(Bytes::copy_from_slice(data));
});
