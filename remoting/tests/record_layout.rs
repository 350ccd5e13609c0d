//! Byte-for-byte checks of the stored record against the layout of broker-internals §1.2,
//! assembled by hand field by field.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use sluice_remoting::message::{
    body_crc, check_record, patch_record, store_timestamp_pos, sysflag, MessageRecord, RecordCheck,
    MAGIC_V1, MAGIC_V2, PHYSICAL_OFFSET_POS, QUEUE_OFFSET_POS, SYSFLAG_POS,
};

/// Builds the expected bytes in the documented order without using the codec.
struct Expected(Vec<u8>);

impl Expected {
    fn i16(&mut self, v: i16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(v);
        self
    }
}

fn sample(born: &str, store: &str, topic: &str) -> MessageRecord {
    MessageRecord {
        body_crc: 0,
        queue_id: 3,
        flag: 0x0102_0304,
        queue_offset: 0x1122_3344_5566_7788,
        physical_offset: 0x0A0B_0C0D_0E0F_1011,
        sysflag: sysflag::TRANSACTION_COMMIT,
        born_timestamp: 1_700_000_000_123,
        born_host: born.parse().unwrap(),
        store_timestamp: 1_700_000_000_456,
        store_host: store.parse().unwrap(),
        reconsume_times: 2,
        prepared_transaction_offset: 4096,
        body: Bytes::from_static(b"Hello RocketMQ"),
        topic: topic.to_string(),
        properties: "TAGS\u{1}TagA\u{2}KEYS\u{1}k1 k2\u{2}".to_string(),
    }
}

fn encode(r: &MessageRecord) -> Vec<u8> {
    let mut buf = BytesMut::new();
    r.encode(&mut buf);
    assert_eq!(buf.len(), r.encoded_len());
    buf.to_vec()
}

#[test]
fn ipv4_v1_record_matches_layout_byte_for_byte() {
    let r = sample("192.168.0.10:54321", "10.0.0.1:10911", "TopicTest");
    let body = b"Hello RocketMQ";
    let props = b"TAGS\x01TagA\x02KEYS\x01k1 k2\x02";
    let total = 91 + body.len() + 9 + props.len();
    let mut e = Expected(Vec::new());
    e.i32(total as i32) // TOTALSIZE
        .i32(-626_843_481) // MAGICCODE V1 0xDAA320A7
        .i32(body_crc(body)) // BODYCRC
        .i32(3) // QUEUEID
        .i32(0x0102_0304) // FLAG
        .i64(0x1122_3344_5566_7788) // QUEUEOFFSET
        .i64(0x0A0B_0C0D_0E0F_1011) // PHYSICALOFFSET
        .i32(0x8) // SYSFLAG: commit, no v6 bits
        .i64(1_700_000_000_123) // BORNTIMESTAMP
        .raw(&[192, 168, 0, 10])
        .i32(54321) // BORNHOST
        .i64(1_700_000_000_456) // STORETIMESTAMP
        .raw(&[10, 0, 0, 1])
        .i32(10911) // STOREHOSTADDRESS
        .i32(2) // RECONSUMETIMES
        .i64(4096) // PREPARED TRANSACTION OFFSET
        .i32(body.len() as i32)
        .raw(body)
        .raw(&[9])
        .raw(b"TopicTest")
        .i16(props.len() as i16)
        .raw(props);
    let got = encode(&r);
    assert_eq!(got, e.0);
    assert_eq!(got.len(), total);

    // The fixed positions of MessageDecoder.
    assert_eq!(&got[4..8], &MAGIC_V1.to_be_bytes());
    assert_eq!(QUEUE_OFFSET_POS, 20);
    assert_eq!(&got[20..28], &0x1122_3344_5566_7788i64.to_be_bytes());
    assert_eq!(PHYSICAL_OFFSET_POS, 28);
    assert_eq!(&got[28..36], &0x0A0B_0C0D_0E0F_1011i64.to_be_bytes());
    assert_eq!(SYSFLAG_POS, 36);
    assert_eq!(&got[36..40], &8i32.to_be_bytes());
    assert_eq!(store_timestamp_pos(0), 56);
    assert_eq!(&got[56..64], &1_700_000_000_456i64.to_be_bytes());
    assert_eq!(&got[84..88], &(body.len() as i32).to_be_bytes());
}

#[test]
fn ipv6_hosts_widen_fields_and_set_sysflag_bits() {
    let r = sample("[2001:db8::10]:54321", "[fe80::1]:10911", "TopicTest");
    let body = b"Hello RocketMQ";
    let props = b"TAGS\x01TagA\x02KEYS\x01k1 k2\x02";
    let born_ip: std::net::Ipv6Addr = "2001:db8::10".parse().unwrap();
    let store_ip: std::net::Ipv6Addr = "fe80::1".parse().unwrap();
    let total = 91 + 24 + body.len() + 9 + props.len();
    let mut e = Expected(Vec::new());
    e.i32(total as i32)
        .i32(MAGIC_V1)
        .i32(body_crc(body))
        .i32(3)
        .i32(0x0102_0304)
        .i64(0x1122_3344_5566_7788)
        .i64(0x0A0B_0C0D_0E0F_1011)
        .i32(0x8 | 0x10 | 0x20)
        .i64(1_700_000_000_123)
        .raw(&born_ip.octets())
        .i32(54321)
        .i64(1_700_000_000_456) // at 68
        .raw(&store_ip.octets())
        .i32(10911)
        .i32(2)
        .i64(4096)
        .i32(body.len() as i32)
        .raw(body)
        .raw(&[9])
        .raw(b"TopicTest")
        .i16(props.len() as i16)
        .raw(props);
    let got = encode(&r);
    assert_eq!(got, e.0);
    assert_eq!(store_timestamp_pos(sysflag::BORNHOST_V6), 68);
    assert_eq!(&got[68..76], &1_700_000_000_456i64.to_be_bytes());

    // Only the born host v6: the store host stays 8 bytes.
    let mixed = sample("[2001:db8::10]:1", "10.0.0.1:10911", "T");
    let bytes = encode(&mixed);
    assert_eq!(bytes.len(), 91 + 12 + body.len() + 1 + props.len());
    assert_eq!(&bytes[36..40], &(0x8 | 0x10i32).to_be_bytes());
}

#[test]
fn ipv4_mapped_ipv6_hosts_are_stored_as_ipv4() {
    let r = sample(
        "[::ffff:192.168.0.10]:54321",
        "[::ffff:10.0.0.1]:10911",
        "TopicTest",
    );
    let plain = sample("192.168.0.10:54321", "10.0.0.1:10911", "TopicTest");
    assert_eq!(encode(&r), encode(&plain));
}

#[test]
fn long_topic_uses_v2_with_short_length() {
    let topic = "t".repeat(200);
    let r = sample("192.168.0.10:54321", "10.0.0.1:10911", &topic);
    let got = encode(&r);
    let body = b"Hello RocketMQ";
    let props = b"TAGS\x01TagA\x02KEYS\x01k1 k2\x02";
    let total = 92 + body.len() + 200 + props.len();
    assert_eq!(got.len(), total);
    assert_eq!(&got[0..4], &(total as i32).to_be_bytes());
    assert_eq!(&got[4..8], &(-626_843_477i32).to_be_bytes());
    assert_eq!(&got[4..8], &MAGIC_V2.to_be_bytes());
    let topic_at = 88 + body.len();
    assert_eq!(&got[topic_at..topic_at + 2], &200i16.to_be_bytes());
    assert_eq!(&got[topic_at + 2..topic_at + 202], topic.as_bytes());
    assert_eq!(
        &got[topic_at + 202..topic_at + 204],
        &(props.len() as i16).to_be_bytes()
    );
    assert_eq!(&got[topic_at + 204..], props);

    // 127 bytes still fits V1; so does a short non-ASCII topic, but not one over 127 bytes.
    let edge = sample("1.2.3.4:1", "1.2.3.4:2", &"a".repeat(127));
    assert_eq!(&encode(&edge)[4..8], &MAGIC_V1.to_be_bytes());
    let wide = sample("1.2.3.4:1", "1.2.3.4:2", &"é".repeat(64)); // 64 chars, 128 bytes
    assert_eq!(&encode(&wide)[4..8], &MAGIC_V2.to_be_bytes());

    let (back, used) = MessageRecord::decode(&Bytes::from(got)).unwrap();
    assert_eq!(used, total);
    assert_eq!(back.topic, topic);
}

#[test]
fn decode_returns_every_field_and_patch_rewrites_offsets() {
    let r = sample("[2001:db8::10]:54321", "10.0.0.1:10911", "TopicTest");
    let mut bytes = encode(&r);
    patch_record(&mut bytes, 77, 1 << 40, 1_800_000_000_000);
    let buf = Bytes::from(bytes);
    let (back, used) = MessageRecord::decode(&buf).unwrap();
    assert_eq!(used, buf.len());
    let mut want = r.clone();
    want.queue_offset = 77;
    want.physical_offset = 1 << 40;
    want.store_timestamp = 1_800_000_000_000;
    want.sysflag = r.encoded_sysflag();
    want.body_crc = body_crc(&r.body);
    assert_eq!(back, want);
    // The body is a slice of the buffer, not a copy.
    let start = buf.as_ptr() as usize;
    let body = back.body.as_ptr() as usize;
    assert!(body > start && body < start + buf.len());

    match check_record(&buf, true) {
        RecordCheck::Message(view) => {
            assert_eq!(view.queue_offset(), 77);
            assert_eq!(view.store_timestamp(), 1_800_000_000_000);
            assert_eq!(
                view.born_host(),
                "[2001:db8::10]:54321".parse::<SocketAddr>().unwrap()
            );
            assert_eq!(
                view.store_host(),
                "10.0.0.1:10911".parse::<SocketAddr>().unwrap()
            );
            assert_eq!(view.tags(), Some("TagA"));
            assert_eq!(view.keys(), Some("k1 k2"));
            assert_eq!(view.uniq_key(), None);
            assert_eq!(view.tags_code(), 2_598_919);
            assert_eq!(view.to_record(), want);
        }
        other => panic!("expected a message, got {other:?}"),
    }
}
