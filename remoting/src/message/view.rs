//! Allocation-free classification and zero-copy views of encoded records, for recovery and
//! dispatch scans over the CommitLog.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;

use bytes::Bytes;

use super::record::{
    MessageRecord, BODY_CRC_POS, BORN_HOST_POS, BORN_TIMESTAMP_POS, FLAG_POS, PHYSICAL_OFFSET_POS,
    QUEUE_ID_POS, QUEUE_OFFSET_POS, SYSFLAG_POS,
};
use super::{
    body_crc, msgid, property, sysflag, tags_code, BLANK_LEN, BLANK_MAGIC, MAGIC_V1, MAGIC_V2,
};

/// Smallest possible message record: IPv4 hosts, V1, empty body, topic and properties.
pub const MIN_RECORD_LEN: usize = 91;

/// What the bytes at a position hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordCheck<'a> {
    /// A complete, well-formed message record (CRC checked if asked).
    Message(RecordView<'a>),
    /// The end-of-file filler: the rest of the file (`size` bytes from here, TOTALSIZE) is unused.
    Blank { size: usize },
    /// Nothing was written here: the buffer is empty or starts with zeroed TOTALSIZE and
    /// MAGICCODE (the zero-filled tail of a mapped file).
    End,
    /// The buffer ends inside a record (or its 8-byte header): `needed` bytes from here would be
    /// required. At the write position of a log this is a torn write.
    Incomplete { needed: usize },
    /// Bytes that are no record: bad magic, lengths that contradict TOTALSIZE, CRC mismatch...
    Corrupt { reason: String },
}

/// A validated, zero-copy view over one encoded message record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Exactly TOTALSIZE bytes.
    bytes: &'a [u8],
    store_timestamp_pos: usize,
    store_host_pos: usize,
    reconsume_pos: usize,
    body_pos: usize,
    body: &'a [u8],
    topic: &'a str,
    properties: &'a str,
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Reads the host field at `at` (already bounds-checked by `check_record`).
fn host_at(b: &[u8], at: usize, v6: bool) -> SocketAddr {
    let (ip, port_at) = if v6 {
        let mut o = [0u8; 16];
        o.copy_from_slice(&b[at..at + 16]);
        (IpAddr::V6(Ipv6Addr::from(o)), at + 16)
    } else {
        let mut o = [0u8; 4];
        o.copy_from_slice(&b[at..at + 4]);
        (IpAddr::V4(Ipv4Addr::from(o)), at + 4)
    };
    // The port was range-checked by `check_record`.
    SocketAddr::new(ip, be_i32(b, port_at) as u16)
}

/// A bounds-checked sequential reader over one record.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn i16(&mut self) -> Option<i16> {
        self.take(2).map(|b| i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Option<i32> {
        self.take(4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }
}

fn corrupt<'a>(reason: String) -> RecordCheck<'a> {
    RecordCheck::Corrupt { reason }
}

fn overrun<'a>(total: usize, field: &str) -> RecordCheck<'a> {
    corrupt(format!("{field} runs past TOTALSIZE {total}"))
}

/// Reads a host field and rejects ports outside 0..=65535.
fn check_host(c: &mut Cursor<'_>, v6: bool) -> Result<(), String> {
    let ip_len = if v6 { 16 } else { 4 };
    c.skip(ip_len).ok_or("host runs past TOTALSIZE")?;
    let port = c.i32().ok_or("host port runs past TOTALSIZE")?;
    if !(0..=i32::from(u16::MAX)).contains(&port) {
        return Err(format!("host port {port} out of range"));
    }
    Ok(())
}

/// Classifies the bytes at the start of `buf` without allocating (except for the reason of a
/// corruption). `verify_crc` also compares BODYCRC with the body (recovery does, dispatch not).
pub fn check_record(buf: &[u8], verify_crc: bool) -> RecordCheck<'_> {
    let head = &buf[..buf.len().min(BLANK_LEN)];
    if head.iter().all(|b| *b == 0) {
        // Empty, or zeros where a header would be: never written.
        return RecordCheck::End;
    }
    if buf.len() < BLANK_LEN {
        return RecordCheck::Incomplete { needed: BLANK_LEN };
    }
    let total = be_i32(buf, 0);
    let magic = be_i32(buf, 4);
    match magic {
        BLANK_MAGIC => {
            return if total >= BLANK_LEN as i32 {
                RecordCheck::Blank {
                    size: total as usize,
                }
            } else {
                corrupt(format!("end-of-file blank with TOTALSIZE {total}"))
            };
        }
        MAGIC_V1 | MAGIC_V2 => {}
        _ => return corrupt(format!("illegal magic code {:#010x}", magic as u32)),
    }
    if total < MIN_RECORD_LEN as i32 {
        return corrupt(format!(
            "TOTALSIZE {total} below the minimum {MIN_RECORD_LEN}"
        ));
    }
    let total = total as usize;
    if total > buf.len() {
        return RecordCheck::Incomplete { needed: total };
    }
    let rec = &buf[..total];
    let flag = be_i32(rec, SYSFLAG_POS);
    let born_v6 = flag & sysflag::BORNHOST_V6 != 0;
    let store_v6 = flag & sysflag::STOREHOST_V6 != 0;

    let mut c = Cursor {
        buf: rec,
        pos: BORN_HOST_POS,
    };
    if let Err(reason) = check_host(&mut c, born_v6) {
        return corrupt(format!("born {reason}"));
    }
    let store_timestamp_pos = c.pos;
    if c.skip(8).is_none() {
        return overrun(total, "STORETIMESTAMP");
    }
    let store_host_pos = c.pos;
    if let Err(reason) = check_host(&mut c, store_v6) {
        return corrupt(format!("store {reason}"));
    }
    let reconsume_pos = c.pos;
    // RECONSUMETIMES + PREPARED TRANSACTION OFFSET
    if c.skip(12).is_none() {
        return overrun(total, "RECONSUMETIMES");
    }
    let Some(body_len) = c.i32() else {
        return overrun(total, "body length");
    };
    if body_len < 0 {
        return corrupt(format!("negative body length {body_len}"));
    }
    let body_pos = c.pos;
    let Some(body) = c.take(body_len as usize) else {
        return overrun(total, "body");
    };
    let topic_len = if magic == MAGIC_V2 {
        c.i16().map(i32::from)
    } else {
        c.take(1).map(|b| i32::from(b[0] as i8))
    };
    let Some(topic_len) = topic_len else {
        return overrun(total, "topic length");
    };
    if topic_len < 0 {
        return corrupt(format!("negative topic length {topic_len}"));
    }
    let Some(topic) = c.take(topic_len as usize) else {
        return overrun(total, "topic");
    };
    let Some(props_len) = c.i16() else {
        return overrun(total, "properties length");
    };
    if props_len < 0 {
        return corrupt(format!("negative properties length {props_len}"));
    }
    let Some(properties) = c.take(props_len as usize) else {
        return overrun(total, "properties");
    };
    if c.pos != total {
        return corrupt(format!(
            "TOTALSIZE {total} does not match the fields ({} bytes)",
            c.pos
        ));
    }
    let Ok(topic) = std::str::from_utf8(topic) else {
        return corrupt("topic is not UTF-8".into());
    };
    let Ok(properties) = std::str::from_utf8(properties) else {
        return corrupt("properties are not UTF-8".into());
    };
    if verify_crc {
        let stored = be_i32(rec, BODY_CRC_POS);
        let computed = body_crc(body);
        if stored != computed {
            return corrupt(format!(
                "body CRC mismatch: stored {stored}, computed {computed}"
            ));
        }
    }
    RecordCheck::Message(RecordView {
        bytes: rec,
        store_timestamp_pos,
        store_host_pos,
        reconsume_pos,
        body_pos,
        body,
        topic,
        properties,
    })
}

impl<'a> RecordView<'a> {
    /// The whole encoded record (TOTALSIZE bytes).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn total_size(&self) -> usize {
        self.bytes.len()
    }

    pub fn magic(&self) -> i32 {
        be_i32(self.bytes, 4)
    }

    pub fn is_v2(&self) -> bool {
        self.magic() == MAGIC_V2
    }

    pub fn body_crc(&self) -> i32 {
        be_i32(self.bytes, BODY_CRC_POS)
    }

    pub fn queue_id(&self) -> i32 {
        be_i32(self.bytes, QUEUE_ID_POS)
    }

    pub fn flag(&self) -> i32 {
        be_i32(self.bytes, FLAG_POS)
    }

    pub fn queue_offset(&self) -> i64 {
        be_i64(self.bytes, QUEUE_OFFSET_POS)
    }

    pub fn physical_offset(&self) -> i64 {
        be_i64(self.bytes, PHYSICAL_OFFSET_POS)
    }

    pub fn sysflag(&self) -> i32 {
        be_i32(self.bytes, SYSFLAG_POS)
    }

    pub fn born_timestamp(&self) -> i64 {
        be_i64(self.bytes, BORN_TIMESTAMP_POS)
    }

    pub fn born_host(&self) -> SocketAddr {
        host_at(
            self.bytes,
            BORN_HOST_POS,
            self.sysflag() & sysflag::BORNHOST_V6 != 0,
        )
    }

    pub fn store_timestamp(&self) -> i64 {
        be_i64(self.bytes, self.store_timestamp_pos)
    }

    pub fn store_host(&self) -> SocketAddr {
        host_at(
            self.bytes,
            self.store_host_pos,
            self.sysflag() & sysflag::STOREHOST_V6 != 0,
        )
    }

    pub fn reconsume_times(&self) -> i32 {
        be_i32(self.bytes, self.reconsume_pos)
    }

    pub fn prepared_transaction_offset(&self) -> i64 {
        be_i64(self.bytes, self.reconsume_pos + 4)
    }

    /// The body as stored (compressed if the COMPRESSED bit is set).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Where the body lies inside [`RecordView::as_bytes`].
    pub fn body_range(&self) -> Range<usize> {
        self.body_pos..self.body_pos + self.body.len()
    }

    pub fn topic(&self) -> &'a str {
        self.topic
    }

    /// The raw properties string.
    pub fn properties_str(&self) -> &'a str {
        self.properties
    }

    /// All properties, decoded (one copy of the properties string).
    pub fn properties(&self) -> property::Properties {
        property::Properties::decode(self.properties)
    }

    /// One property, looked up in the raw string (empty values count as absent).
    pub fn property(&self, name: &str) -> Option<&'a str> {
        property::find(self.properties, name)
    }

    pub fn tags(&self) -> Option<&'a str> {
        self.property(property::TAGS)
    }

    /// The tags code of the consume queue unit: Java hash of TAGS, 0 without tags.
    pub fn tags_code(&self) -> i64 {
        self.tags().map_or(0, tags_code)
    }

    /// The raw KEYS value (space-separated business keys).
    pub fn keys(&self) -> Option<&'a str> {
        self.property(property::KEYS)
    }

    pub fn uniq_key(&self) -> Option<&'a str> {
        self.property(property::UNIQ_KEY)
    }

    /// The offset msgId of this record: STOREHOST + PHYSICALOFFSET.
    pub fn offset_msg_id(&self) -> String {
        msgid::create_offset_msg_id(self.store_host(), self.physical_offset())
    }

    /// An owned copy of the record (copies the body).
    pub fn to_record(self) -> MessageRecord {
        self.to_record_with_body(Bytes::copy_from_slice(self.body))
    }

    /// An owned record that uses `body` (a zero-copy slice of the same bytes) as its body.
    pub(crate) fn to_record_with_body(self, body: Bytes) -> MessageRecord {
        MessageRecord {
            body_crc: self.body_crc(),
            queue_id: self.queue_id(),
            flag: self.flag(),
            queue_offset: self.queue_offset(),
            physical_offset: self.physical_offset(),
            sysflag: self.sysflag(),
            born_timestamp: self.born_timestamp(),
            born_host: self.born_host(),
            store_timestamp: self.store_timestamp(),
            store_host: self.store_host(),
            reconsume_times: self.reconsume_times(),
            prepared_transaction_offset: self.prepared_transaction_offset(),
            body,
            topic: self.topic.to_owned(),
            properties: self.properties.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn record() -> MessageRecord {
        MessageRecord {
            topic: "TopicTest".into(),
            body: Bytes::from_static(b"payload"),
            properties: "TAGS\u{1}A\u{2}UNIQ_KEY\u{1}ID1\u{2}".into(),
            born_host: "127.0.0.1:5000".parse().unwrap(),
            store_host: "127.0.0.1:10911".parse().unwrap(),
            ..Default::default()
        }
    }

    fn encoded() -> Vec<u8> {
        let mut b = BytesMut::new();
        record().encode(&mut b);
        b.to_vec()
    }

    fn reason(check: RecordCheck<'_>) -> String {
        match check {
            RecordCheck::Corrupt { reason } => reason,
            other => panic!("expected corruption, got {other:?}"),
        }
    }

    #[test]
    fn message_view_lookups() {
        let bytes = encoded();
        let RecordCheck::Message(v) = check_record(&bytes, true) else {
            panic!("not a message");
        };
        assert_eq!(v.total_size(), bytes.len());
        assert_eq!(v.topic(), "TopicTest");
        assert_eq!(v.body(), b"payload");
        assert_eq!(&bytes[v.body_range()], b"payload");
        assert_eq!(v.uniq_key(), Some("ID1"));
        assert_eq!(v.tags(), Some("A"));
        assert_eq!(v.keys(), None);
        assert_eq!(v.properties().get("UNIQ_KEY"), Some("ID1"));
        assert_eq!(v.properties().len(), 2);
        assert!(!v.is_v2());
        assert_eq!(v.offset_msg_id(), "7F00000100002A9F0000000000000000");
    }

    #[test]
    fn records_followed_by_more_bytes_are_still_messages() {
        let mut bytes = encoded();
        let len = bytes.len();
        bytes.extend_from_slice(&[0xAB; 40]);
        match check_record(&bytes, true) {
            RecordCheck::Message(v) => assert_eq!(v.total_size(), len),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn zeros_and_empty_are_end_of_data() {
        assert_eq!(check_record(&[], true), RecordCheck::End);
        assert_eq!(check_record(&[0; 3], true), RecordCheck::End);
        assert_eq!(check_record(&[0; 4096], true), RecordCheck::End);
    }

    #[test]
    fn blank_reports_rest_of_file() {
        let mut blank = Vec::new();
        blank.extend_from_slice(&1000i32.to_be_bytes());
        blank.extend_from_slice(&BLANK_MAGIC.to_be_bytes());
        assert_eq!(
            check_record(&blank, true),
            RecordCheck::Blank { size: 1000 }
        );
        blank[..4].copy_from_slice(&4i32.to_be_bytes());
        assert!(reason(check_record(&blank, true)).contains("blank"));
    }

    #[test]
    fn short_buffers_are_incomplete() {
        let bytes = encoded();
        assert_eq!(
            check_record(&bytes[..5], true),
            RecordCheck::Incomplete { needed: 8 }
        );
        for cut in [8, 20, 90, bytes.len() - 1] {
            assert_eq!(
                check_record(&bytes[..cut], true),
                RecordCheck::Incomplete {
                    needed: bytes.len()
                }
            );
        }
    }

    #[test]
    fn crc_mismatch_only_when_verifying() {
        let mut bytes = encoded();
        let body_at = {
            let RecordCheck::Message(v) = check_record(&bytes, false) else {
                panic!()
            };
            v.body_range().start
        };
        bytes[body_at] ^= 0xFF;
        assert!(matches!(
            check_record(&bytes, false),
            RecordCheck::Message(_)
        ));
        assert!(reason(check_record(&bytes, true)).contains("CRC"));
    }

    #[test]
    fn inconsistent_lengths_are_corrupt() {
        let good = encoded();
        let body_len_at = 84;
        let topic_len_at = 88 + 7;

        let mut b = good.clone();
        b[4] = 0x12;
        assert!(reason(check_record(&b, false)).contains("magic"));

        let mut b = good.clone();
        b[..4].copy_from_slice(&50i32.to_be_bytes());
        assert!(reason(check_record(&b, false)).contains("minimum"));

        let mut b = good.clone();
        b[..4].copy_from_slice(&(-7i32).to_be_bytes());
        assert!(reason(check_record(&b, false)).contains("TOTALSIZE"));

        let mut b = good.clone();
        b[body_len_at..body_len_at + 4].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(reason(check_record(&b, false)).contains("negative body"));

        let mut b = good.clone();
        b[body_len_at..body_len_at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(reason(check_record(&b, false)).contains("body"));

        let mut b = good.clone();
        b[topic_len_at] = 0x80; // -128 as a signed byte
        assert!(reason(check_record(&b, false)).contains("negative topic"));

        let mut b = good.clone();
        b[topic_len_at] = 0; // topic length 0: the fields no longer add up to TOTALSIZE
        assert!(!matches!(check_record(&b, false), RecordCheck::Message(_)));

        // A longer TOTALSIZE than the fields need, with the spare byte present.
        let mut b = good.clone();
        b.push(0);
        let total = b.len() as i32;
        b[..4].copy_from_slice(&total.to_be_bytes());
        assert!(reason(check_record(&b, false)).contains("does not match"));

        // Port out of range.
        let mut b = good.clone();
        b[52..56].copy_from_slice(&70_000i32.to_be_bytes());
        assert!(reason(check_record(&b, false)).contains("port"));

        // Claiming IPv6 hosts on an IPv4 record shifts every field.
        let mut b = good.clone();
        b[SYSFLAG_POS + 3] |= sysflag::BORNHOST_V6 as u8;
        assert!(!matches!(check_record(&b, false), RecordCheck::Message(_)));
    }

    #[test]
    fn invalid_utf8_topic_is_corrupt() {
        let mut b = encoded();
        b[88 + 7 + 1] = 0xFF;
        assert!(reason(check_record(&b, false)).contains("UTF-8"));
    }
}
