//! criterion benchmarks of the stored-record codec's hot paths: encoding on send, checking with
//! CRC on recovery, and decoding a pull response of 32 records on the client.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice_remoting::message::property::{self, Properties};
use sluice_remoting::message::{
    check_record, decode_messages, patch_record, MessageRecord, RecordCheck,
};

/// A 1 KiB-body record with the properties a Java producer and the broker typically set.
fn typical_record() -> MessageRecord {
    let mut props = Properties::new();
    props.insert(property::KEYS, "order-20261121-000042");
    props.insert(property::TAGS, "TagA");
    props.insert(property::WAIT, "true");
    props.insert(property::UNIQ_KEY, "7F0000010C9418B4AAC24F0B3E8A0000");
    props.insert(property::CLUSTER, "DefaultCluster");
    MessageRecord {
        queue_id: 2,
        sysflag: 0,
        born_timestamp: 1_795_255_350_000,
        born_host: "192.168.1.20:53012".parse().expect("valid address"),
        store_timestamp: 1_795_255_350_004,
        store_host: "192.168.1.10:10911".parse().expect("valid address"),
        body: Bytes::from(
            (0..1024u32)
                .map(|i| (i * 7 % 251) as u8)
                .collect::<Vec<_>>(),
        ),
        topic: "BenchmarkTopic".into(),
        properties: props.encode(),
        ..Default::default()
    }
}

fn bench_record(c: &mut Criterion) {
    let record = typical_record();
    let len = record.encoded_len();

    let mut group = c.benchmark_group("record");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode_1k_body", |b| {
        let mut buf = BytesMut::with_capacity(len * 2);
        b.iter(|| {
            buf.clear();
            black_box(&record).encode(&mut buf);
            patch_record(&mut buf, 42, 1 << 30, 1_795_255_350_005);
            black_box(buf.len())
        })
    });

    let encoded = record.to_bytes();
    group.bench_function("check_record_crc_1k_body", |b| {
        b.iter(|| match check_record(black_box(&encoded), true) {
            RecordCheck::Message(v) => black_box(v.tags_code()),
            _ => unreachable!("benchmark record is valid"),
        })
    });
    group.bench_function("check_record_no_crc_1k_body", |b| {
        b.iter(|| match check_record(black_box(&encoded), false) {
            RecordCheck::Message(v) => black_box(v.tags_code()),
            _ => unreachable!("benchmark record is valid"),
        })
    });
    group.finish();

    let mut pull = BytesMut::with_capacity(len * 32);
    for i in 0..32 {
        let mut r = record.clone();
        r.queue_offset = i;
        r.physical_offset = i * len as i64;
        r.encode(&mut pull);
    }
    let pull = pull.freeze();
    let mut group = c.benchmark_group("pull_body");
    group.throughput(Throughput::Elements(32));
    group.bench_function("decode_messages_32", |b| {
        b.iter(|| {
            let msgs = decode_messages(black_box(&pull), true).expect("valid body");
            black_box(msgs.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_record);
criterion_main!(benches);
