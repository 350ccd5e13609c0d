//! criterion benchmark: typed header decode/encode on the send path.
//!
//! `decode_v2_java` is what the broker does for every SEND_MESSAGE_V2 from a Java producer;
//! `decode_v2_cpp` adds the three ACL keys a C++ producer always sends.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sluice_remoting::header::{
    CommandHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader,
};
use sluice_remoting::ExtFields;

fn java_v2_ext() -> ExtFields {
    [
        ("a", "please_rename_unique_group_name"),
        ("b", "TopicTest"),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "3"),
        ("f", "0"),
        ("g", "1700000000123"),
        ("h", "0"),
        (
            "i",
            "UNIQ_KEY\u{1}7F0000010B4C18B4AAC27A8B0E5A0000\u{2}WAIT\u{1}true\u{2}TAGS\u{1}TagA\u{2}",
        ),
        ("j", "0"),
        ("k", "false"),
        ("m", "false"),
        ("n", "broker-a"),
        ("bname", "broker-a"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string().into(), v.to_string()))
    .collect()
}

fn bench(c: &mut Criterion) {
    let java = java_v2_ext();
    let mut cpp = java.clone();
    cpp.remove("n");
    cpp.remove("bname");
    for k in ["AccessKey", "OnsChannel", "Signature"] {
        cpp.insert(k.to_string().into(), String::new());
    }

    c.bench_function("header/decode_v2_java", |b| {
        b.iter(|| SendMessageRequestHeaderV2::read_from(black_box(&java)).unwrap())
    });
    // The floor: copying out just the strings a decoded header must own (a, b, c, i, n, bname).
    c.bench_function("header/baseline_copy_owned_strings", |b| {
        b.iter(|| {
            let e = black_box(&java);
            ["a", "b", "c", "i", "n", "bname"].map(|k| e.get(k).cloned())
        })
    });
    c.bench_function("header/decode_v2_cpp", |b| {
        b.iter(|| SendMessageRequestHeaderV2::read_from(black_box(&cpp)).unwrap())
    });
    c.bench_function("header/decode_v2_to_v1", |b| {
        b.iter(|| {
            SendMessageRequestHeader::from(
                SendMessageRequestHeaderV2::read_from(black_box(&java)).unwrap(),
            )
        })
    });

    let response = SendMessageResponseHeader {
        msg_id: "7F00000100002A9F0000000000001234".into(),
        queue_id: 3,
        queue_offset: 123_456,
        transaction_id: Some("7F0000010B4C18B4AAC27A8B0E5A0000".into()),
        batch_uniq_id: None,
        recall_handle: None,
        msg_region: "DefaultRegion".into(),
        trace_on: true,
    };
    c.bench_function("header/encode_send_response", |b| {
        b.iter(|| {
            let mut ext = ExtFields::new();
            black_box(&response).write_to(&mut ext);
            ext
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
