//! Property tests: the decoder never panics on any input, however it is split, and every command
//! round-trips through both header encodings.
//!
//! Each test prints its seed; rerun one with `SLUICE_SEED=<seed> cargo test --test codec_proptest`.

use std::collections::BTreeMap;

use bytes::{BufMut, BytesMut};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use sluice_remoting::codec::{
    decode_binary_header, decode_json_header, encode_binary_header, encode_json_header,
    fits_binary_header, header_encoding, RemotingCodec,
};
use sluice_remoting::command::SerializeType;
use sluice_remoting::{Body, LanguageCode, RemotingCommand, RemotingError};
use tokio_util::codec::{Decoder, Encoder};

fn runner(test: &str, cases: u32) -> TestRunner {
    let seed: u64 = std::env::var("SLUICE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
    eprintln!("{test}: seed {seed} (rerun with SLUICE_SEED={seed})");
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&seed.wrapping_add(i as u64).to_le_bytes());
    }
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

fn check<S: Strategy>(
    test: &str,
    cases: u32,
    strategy: S,
    body: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let mut runner = runner(test, cases);
    if let Err(e) = runner.run(&strategy, body) {
        panic!("{test} failed (see the seed printed above): {e}");
    }
}

/// What a decoder run produced: the commands, then how it stopped.
#[derive(Debug, PartialEq)]
enum Outcome {
    Command(RemotingCommand),
    /// Error variant name only: messages may mention offsets that differ with splitting.
    Error(&'static str),
}

fn error_kind(e: &RemotingError) -> &'static str {
    match e {
        RemotingError::Frame(_) => "Frame",
        RemotingError::FrameTooLarge { .. } => "FrameTooLarge",
        RemotingError::Header(_) => "Header",
        _ => "other",
    }
}

/// Feeds `chunks` one after another, decoding as much as possible after each, until an error.
fn decode_chunks(chunks: &[&[u8]], max_frame: usize) -> Vec<Outcome> {
    let mut codec = RemotingCodec::with_max_frame(max_frame);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(cmd)) => out.push(Outcome::Command(cmd)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Outcome::Error(error_kind(&e)));
                    return out;
                }
            }
        }
    }
    out
}

fn split_at_points(data: &[u8], mut points: Vec<usize>) -> Vec<&[u8]> {
    points.iter_mut().for_each(|p| *p %= data.len() + 1);
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for p in points {
        chunks.push(&data[start..p]);
        start = p;
    }
    chunks.push(&data[start..]);
    chunks
}

fn language() -> impl Strategy<Value = LanguageCode> {
    (0u8..14).prop_map(|v| LanguageCode::from_u8(v).unwrap_or(LanguageCode::Other))
}

fn command() -> impl Strategy<Value = RemotingCommand> {
    (
        prop_oneof![any::<i32>(), -40000i32..40000],
        language(),
        prop_oneof![any::<i32>(), 0i32..1000],
        any::<i32>(),
        0i32..4,
        option::of(any::<String>()),
        btree_map(any::<String>(), any::<String>(), 0..8),
        vec(any::<u8>(), 0..64),
        any::<bool>(),
    )
        .prop_map(
            |(code, language, version, opaque, flag, remark, ext_fields, body, binary)| {
                RemotingCommand {
                    code,
                    language,
                    version,
                    opaque,
                    flag,
                    remark,
                    ext_fields: ext_fields.into_iter().map(|(k, v)| (k.into(), v)).collect(),
                    body: Body::from(body),
                    serialize_type: if binary {
                        SerializeType::RocketMq
                    } else {
                        SerializeType::Json
                    },
                }
            },
        )
}

/// Valid frames with a few bytes overwritten: gets past the length check far more often than
/// uniformly random bytes do.
fn mutated_frames() -> impl Strategy<Value = Vec<u8>> {
    (
        vec(command(), 1..4),
        vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
    )
        .prop_map(|(cmds, edits)| {
            let mut buf = BytesMut::new();
            let mut codec = RemotingCodec::new();
            for cmd in &cmds {
                codec.encode(cmd, &mut buf).expect("small commands encode");
            }
            let mut data = buf.to_vec();
            for (at, byte) in edits {
                let i = at.index(data.len());
                data[i] = byte;
            }
            data
        })
}

fn input_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..256),
        mutated_frames(),
        // A plausible length prefix in front of random bytes.
        (0i32..300, vec(any::<u8>(), 0..300)).prop_map(|(len, rest)| {
            let mut v = len.to_be_bytes().to_vec();
            v.extend(rest);
            v
        }),
    ]
}

#[test]
fn decoder_never_panics_and_splitting_does_not_change_the_result() {
    check(
        "decoder_never_panics",
        2000,
        (input_bytes(), vec(any::<usize>(), 0..8), 4usize..2048),
        |(data, points, max_frame)| {
            let whole = decode_chunks(&[&data], max_frame);
            let split = decode_chunks(&split_at_points(&data, points), max_frame);
            let bytewise: Vec<&[u8]> = data.chunks(1).collect();
            let one_by_one = decode_chunks(&bytewise, max_frame);
            prop_assert_eq!(&whole, &split);
            prop_assert_eq!(&whole, &one_by_one);
            Ok(())
        },
    );
}

#[test]
fn header_decoders_never_panic_on_arbitrary_bytes() {
    check(
        "header_decoders_never_panic",
        3000,
        vec(any::<u8>(), 0..200),
        |data| {
            let _ = decode_json_header(&data);
            let _ = decode_binary_header(&data);
            Ok(())
        },
    );
}

/// What a decoder should give back for `cmd` written with the header type `header_encoding` picks.
fn expected_after_round_trip(cmd: &RemotingCommand) -> RemotingCommand {
    let mut expected = cmd.clone();
    expected.serialize_type = header_encoding(cmd);
    if expected.serialize_type == SerializeType::RocketMq {
        // Zero-length strings are absent in the binary encoding.
        if expected.remark.as_deref() == Some("") {
            expected.remark = None;
        }
        expected
            .ext_fields
            .retain(|k, v| !k.is_empty() && !v.is_empty());
    }
    expected
}

#[test]
fn commands_round_trip_through_the_codec() {
    check("commands_round_trip", 1000, command(), |cmd| {
        let mut buf = BytesMut::new();
        let mut codec = RemotingCodec::new();
        codec
            .encode(&cmd, &mut buf)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = codec
            .decode(&mut buf)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, Some(expected_after_round_trip(&cmd)));
        prop_assert!(buf.is_empty());
        Ok(())
    });
}

#[test]
fn headers_round_trip_through_json_and_binary() {
    check("headers_round_trip", 1000, command(), |mut cmd| {
        cmd.body = Body::empty();
        let mut json = BytesMut::new();
        encode_json_header(&cmd, &mut json);
        let mut expected = cmd.clone();
        expected.serialize_type = SerializeType::Json;
        prop_assert_eq!(
            decode_json_header(&json).map_err(|e| TestCaseError::fail(e.to_string()))?,
            expected
        );

        let mut binary = BytesMut::new();
        if fits_binary_header(&cmd) {
            encode_binary_header(&cmd, &mut binary)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut expected = cmd.clone();
            expected.serialize_type = SerializeType::RocketMq;
            if expected.remark.as_deref() == Some("") {
                expected.remark = None;
            }
            expected
                .ext_fields
                .retain(|k, v| !k.is_empty() && !v.is_empty());
            prop_assert_eq!(
                decode_binary_header(&binary).map_err(|e| TestCaseError::fail(e.to_string()))?,
                expected
            );
        } else {
            prop_assert!(encode_binary_header(&cmd, &mut binary).is_err());
            prop_assert!(binary.is_empty());
        }
        Ok(())
    });
}

#[test]
fn json_reader_accepts_what_serde_json_writes() {
    // An independent writer: serde_json with arbitrary strings and member order.
    check(
        "json_reader_vs_serde_json",
        500,
        (
            any::<i32>(),
            any::<i32>(),
            btree_map(any::<String>(), any::<String>(), 0..6),
            option::of(any::<String>()),
        ),
        |(code, opaque, ext, remark)| {
            let value = serde_json::json!({
                "opaque": opaque,
                "remark": remark,
                "unknown": {"nested": [1, 2.5, null, {"x": "y"}]},
                "extFields": ext,
                "code": code,
            });
            let mut text = serde_json::to_vec_pretty(&value).unwrap();
            text.put_u8(b'\n');
            let cmd = decode_json_header(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(cmd.code, code);
            prop_assert_eq!(cmd.opaque, opaque);
            prop_assert_eq!(cmd.remark, remark);
            let got: BTreeMap<String, String> = cmd
                .ext_fields
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v))
                .collect();
            prop_assert_eq!(got, ext);
            Ok(())
        },
    );
}
