//! criterion benchmark: encode and decode of a SEND_MESSAGE_V2 request (1 KiB body), with a JSON
//! and a binary header, plus a `serde_json::Value` baseline for the JSON header decoder.
//!
//! `cargo bench -p sluice-remoting --bench codec`

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice_remoting::codec::{decode_frame, decode_json_header, encode_head, RemotingCodec};
use sluice_remoting::command::SerializeType;
use sluice_remoting::{LanguageCode, RemotingCommand, RequestCode};
use tokio_util::codec::{Decoder, Encoder};

fn send_message_v2(serialize_type: SerializeType) -> RemotingCommand {
    let properties = "UNIQ_KEY\u{1}7F0000010B2C18B4AAC2770D5E9A0000\u{2}\
                      KEYS\u{1}order-20240521-000123\u{2}TAGS\u{1}TagA\u{2}WAIT\u{1}true\u{2}";
    let mut cmd = RemotingCommand {
        code: RequestCode::SendMessageV2.as_i32(),
        language: LanguageCode::Java,
        version: 479,
        opaque: 123_456,
        serialize_type,
        ..RemotingCommand::default()
    };
    for (k, v) in [
        ("a", "please_rename_unique_group_name"),
        ("b", "TopicTest"),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "3"),
        ("f", "0"),
        ("g", "1716280000123"),
        ("h", "0"),
        ("i", properties),
        ("j", "0"),
        ("k", "false"),
        ("l", "16"),
        ("m", "false"),
        ("n", "broker-a"),
    ] {
        cmd.ext_fields.insert(k.to_string().into(), v.to_string());
    }
    cmd.with_body(Bytes::from(vec![b'x'; 1024]))
}

/// The frame as `decode_frame` receives it (everything after the length field).
fn frame_after_length(cmd: &RemotingCommand) -> Bytes {
    let mut buf = BytesMut::new();
    RemotingCodec::new().encode(cmd, &mut buf).unwrap();
    buf.freeze().slice(4..)
}

/// A straightforward alternative: parse into a `serde_json::Value` tree, then pick the fields.
fn decode_via_serde_value(header: &[u8]) -> RemotingCommand {
    let v: serde_json::Value = serde_json::from_slice(header).unwrap();
    let int = |k: &str| v.get(k).and_then(serde_json::Value::as_i64).unwrap_or(0) as i32;
    let mut cmd = RemotingCommand {
        code: int("code"),
        version: int("version"),
        opaque: int("opaque"),
        flag: int("flag"),
        language: v
            .get("language")
            .and_then(serde_json::Value::as_str)
            .and_then(LanguageCode::from_name)
            .unwrap_or(LanguageCode::Other),
        remark: v.get("remark").and_then(|r| r.as_str()).map(str::to_owned),
        ..RemotingCommand::default()
    };
    if let Some(ext) = v.get("extFields").and_then(serde_json::Value::as_object) {
        for (k, val) in ext {
            let text = match val {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            cmd.ext_fields.insert(k.clone().into(), text);
        }
    }
    cmd
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("send_message_v2");
    group.throughput(Throughput::Elements(1));
    for (name, st) in [
        ("json", SerializeType::Json),
        ("binary", SerializeType::RocketMq),
    ] {
        let cmd = send_message_v2(st);
        let frame = frame_after_length(&cmd);
        println!(
            "{name}: header {} bytes, frame {} bytes",
            frame.len() - 4 - cmd.body.len(),
            frame.len() + 4
        );

        let mut buf = BytesMut::with_capacity(4096);
        group.bench_function(format!("encode_head/{name}"), |b| {
            b.iter(|| {
                buf.clear();
                encode_head(black_box(&cmd), &mut buf).unwrap();
                black_box(buf.len())
            })
        });
        let mut codec = RemotingCodec::new();
        group.bench_function(format!("encode_full/{name}"), |b| {
            b.iter(|| {
                buf.clear();
                codec.encode(black_box(&cmd), &mut buf).unwrap();
                black_box(buf.len())
            })
        });
        group.bench_function(format!("decode_frame/{name}"), |b| {
            b.iter(|| decode_frame(black_box(frame.clone())).unwrap())
        });
        let mut wire = BytesMut::new();
        codec.encode(&cmd, &mut wire).unwrap();
        let wire = wire.freeze();
        group.bench_function(format!("decoder_from_stream/{name}"), |b| {
            b.iter_batched_ref(
                || BytesMut::from(&wire[..]),
                |src| codec.decode(src).unwrap(),
                criterion::BatchSize::SmallInput,
            )
        });
    }

    let json = send_message_v2(SerializeType::Json);
    let frame = frame_after_length(&json);
    let header = frame.slice(4..frame.len() - json.body.len());
    assert_eq!(decode_via_serde_value(&header).ext_fields, json.ext_fields);
    group.bench_function("json_header/direct", |b| {
        b.iter(|| decode_json_header(black_box(&header)).unwrap())
    });
    group.bench_function("json_header/serde_value_baseline", |b| {
        b.iter(|| decode_via_serde_value(black_box(&header)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
