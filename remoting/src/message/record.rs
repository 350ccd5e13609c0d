//! [`MessageRecord`]: one stored message, encoded exactly as the CommitLog holds it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};

use super::view::{check_record, RecordCheck};
use super::{
    body_crc, sysflag, MAGIC_V1, MAGIC_V2, MAX_PROPERTIES_LEN, MAX_TOPIC_LEN, MAX_V1_TOPIC_LEN,
};
use crate::error::{RemotingError, Result};

// Positions of the fixed fields (`MessageDecoder.*_POSITION`); valid for every host layout since
// they all come before BORNHOST.
pub const TOTAL_SIZE_POS: usize = 0;
pub const MAGIC_POS: usize = 4;
pub const BODY_CRC_POS: usize = 8;
pub const QUEUE_ID_POS: usize = 12;
pub const FLAG_POS: usize = 16;
pub const QUEUE_OFFSET_POS: usize = 20;
pub const PHYSICAL_OFFSET_POS: usize = 28;
pub const SYSFLAG_POS: usize = 36;
pub const BORN_TIMESTAMP_POS: usize = 40;
pub const BORN_HOST_POS: usize = 48;

/// Bytes of a host field: address (4 or 16) + port (int32).
pub(crate) const fn host_field_len(v6: bool) -> usize {
    if v6 {
        20
    } else {
        8
    }
}

/// Position of STORETIMESTAMP, right after BORNHOST (56 with an IPv4 born host, 68 with IPv6).
pub fn store_timestamp_pos(sysflag: i32) -> usize {
    BORN_HOST_POS + host_field_len(sysflag & sysflag::BORNHOST_V6 != 0)
}

/// One stored message with every field of the record. TOTALSIZE and MAGICCODE are derived when
/// encoding; `body_crc` is what `decode` read (encode always writes the CRC of `body`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRecord {
    /// BODYCRC as read by [`MessageRecord::decode`]; ignored by [`MessageRecord::encode`].
    pub body_crc: i32,
    pub queue_id: i32,
    /// The producer's user flag.
    pub flag: i32,
    /// Index in the consume queue (0 for PREPARED/ROLLBACK messages).
    pub queue_offset: i64,
    /// Global CommitLog offset of this record.
    pub physical_offset: i64,
    /// [`sysflag`] bits. The host-v6 bits are recomputed from the addresses when encoding.
    pub sysflag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    /// The broker's client-reachable `ip:listenPort` (it is encoded in the offset msgId).
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    /// For a committed transactional message: CommitLog offset of its half message.
    pub prepared_transaction_offset: i64,
    /// The body as stored (compressed when `sysflag` has COMPRESSED).
    pub body: Bytes,
    pub topic: String,
    /// The raw properties string (see [`super::property`]).
    pub properties: String,
}

impl Default for MessageRecord {
    fn default() -> Self {
        let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        Self {
            body_crc: 0,
            queue_id: 0,
            flag: 0,
            queue_offset: 0,
            physical_offset: 0,
            sysflag: 0,
            born_timestamp: 0,
            born_host: unspecified,
            store_timestamp: 0,
            store_host: unspecified,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: Bytes::new(),
            topic: String::new(),
            properties: String::new(),
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack socket reports for IPv4
/// peers) are stored as IPv4, as Java does, so that IPv4-only clients can still decode them.
fn canonical_ip(addr: &SocketAddr) -> IpAddr {
    match addr.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn put_host<B: BufMut>(dst: &mut B, addr: &SocketAddr) {
    match canonical_ip(addr) {
        IpAddr::V4(ip) => dst.put_slice(&ip.octets()),
        IpAddr::V6(ip) => dst.put_slice(&ip.octets()),
    }
    dst.put_i32(i32::from(addr.port()));
}

impl MessageRecord {
    /// Whether the topic needs the V2 layout (two-byte topic length). Decided on UTF-8 bytes, not
    /// Java chars: a non-ASCII topic of at most 127 chars but more than 127 bytes would not fit
    /// the signed length byte of V1.
    pub fn is_v2(&self) -> bool {
        self.topic.len() > MAX_V1_TOPIC_LEN
    }

    /// The sysflag as encoded: the stored bits with BORNHOST_V6/STOREHOST_V6 set from the hosts.
    pub fn encoded_sysflag(&self) -> i32 {
        let mut flag = self.sysflag & !(sysflag::BORNHOST_V6 | sysflag::STOREHOST_V6);
        if canonical_ip(&self.born_host).is_ipv6() {
            flag |= sysflag::BORNHOST_V6;
        }
        if canonical_ip(&self.store_host).is_ipv6() {
            flag |= sysflag::STOREHOST_V6;
        }
        flag
    }

    /// Total encoded size (TOTALSIZE): 91 + body + topic + properties bytes for IPv4 hosts and V1.
    pub fn encoded_len(&self) -> usize {
        let flag = self.encoded_sysflag();
        let born = host_field_len(flag & sysflag::BORNHOST_V6 != 0);
        let store = host_field_len(flag & sysflag::STOREHOST_V6 != 0);
        let topic_len_field = if self.is_v2() { 2 } else { 1 };
        // 48 bytes up to BORNHOST, then STORETIMESTAMP 8, RECONSUMETIMES 4,
        // PREPARED TRANSACTION OFFSET 8, body length 4, properties length 2.
        48 + born
            + 8
            + store
            + 4
            + 8
            + 4
            + self.body.len()
            + topic_len_field
            + self.topic.len()
            + 2
            + self.properties.len()
    }

    /// Checks the limits the layout imposes (topic and properties lengths are signed shorts,
    /// TOTALSIZE a signed int). [`MessageRecord::encode`] writes undecodable bytes for a record
    /// that fails this check, so the send path must call it first.
    pub fn validate(&self) -> Result<()> {
        if self.topic.is_empty() {
            return Err(RemotingError::Record("empty topic".into()));
        }
        if self.topic.len() > MAX_TOPIC_LEN {
            return Err(RemotingError::Record(format!(
                "topic of {} bytes exceeds {MAX_TOPIC_LEN}",
                self.topic.len()
            )));
        }
        if self.properties.len() > MAX_PROPERTIES_LEN {
            return Err(RemotingError::Record(format!(
                "properties of {} bytes exceed {MAX_PROPERTIES_LEN}",
                self.properties.len()
            )));
        }
        if self.encoded_len() > i32::MAX as usize {
            return Err(RemotingError::Record(format!(
                "record of {} bytes exceeds the int32 TOTALSIZE",
                self.encoded_len()
            )));
        }
        Ok(())
    }

    /// Appends the exact stored bytes to `dst`: computes BODYCRC, picks V1 or V2 from the topic
    /// length and sets the host-v6 sysflag bits from the addresses. See [`MessageRecord::validate`].
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        self.write_fields(dst, body_crc(&self.body));
    }

    /// Writes the stored bytes into `dst`, which must be exactly [`Self::encoded_len`] bytes long,
    /// with `body_crc` (= `body_crc(&self.body)`, computed by the caller, e.g. outside a lock).
    /// The store encodes straight into its append buffer this way.
    ///
    /// # Panics
    /// If `dst` is shorter than the record.
    pub fn encode_into(&self, dst: &mut [u8], body_crc: i32) {
        let mut out = dst;
        self.write_fields(&mut out, body_crc);
    }

    fn write_fields<B: BufMut>(&self, dst: &mut B, body_crc: i32) {
        let total = self.encoded_len();
        let v2 = self.is_v2();
        dst.put_i32(total as i32);
        dst.put_i32(if v2 { MAGIC_V2 } else { MAGIC_V1 });
        dst.put_i32(body_crc);
        dst.put_i32(self.queue_id);
        dst.put_i32(self.flag);
        dst.put_i64(self.queue_offset);
        dst.put_i64(self.physical_offset);
        dst.put_i32(self.encoded_sysflag());
        dst.put_i64(self.born_timestamp);
        put_host(dst, &self.born_host);
        dst.put_i64(self.store_timestamp);
        put_host(dst, &self.store_host);
        dst.put_i32(self.reconsume_times);
        dst.put_i64(self.prepared_transaction_offset);
        dst.put_i32(self.body.len() as i32);
        dst.put_slice(&self.body);
        if v2 {
            dst.put_i16(self.topic.len() as i16);
        } else {
            dst.put_u8(self.topic.len() as u8);
        }
        dst.put_slice(self.topic.as_bytes());
        dst.put_i16(self.properties.len() as i16);
        dst.put_slice(self.properties.as_bytes());
    }

    /// The encoded record as its own buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut buf);
        buf.freeze()
    }

    /// Decodes the record at the start of `buf`; returns it and the bytes it took (TOTALSIZE).
    /// The body is a zero-copy slice of `buf`. The CRC is not verified (see [`check_record`]).
    pub fn decode(buf: &Bytes) -> Result<(MessageRecord, usize)> {
        match check_record(buf, false) {
            RecordCheck::Message(view) => {
                let body = buf.slice(view.body_range());
                Ok((view.to_record_with_body(body), view.total_size()))
            }
            other => Err(RemotingError::Record(why_not_a_message(other, buf.len()))),
        }
    }
}

/// Words why `check` (of a buffer with `available` bytes) is not a message record.
pub(crate) fn why_not_a_message(check: RecordCheck<'_>, available: usize) -> String {
    match check {
        RecordCheck::Message(_) => "a message record".into(),
        RecordCheck::Blank { size } => format!("end-of-file blank of {size} bytes, not a message"),
        RecordCheck::End => "no record: end of data".into(),
        RecordCheck::Incomplete { needed } => {
            format!("truncated record: {needed} bytes needed, {available} available")
        }
        RecordCheck::Corrupt { reason } => reason,
    }
}

/// Fills in QUEUEOFFSET, PHYSICALOFFSET and STORETIMESTAMP of an encoded record in place: the
/// store encodes outside its append lock and patches under it. The STORETIMESTAMP position
/// depends on the BORNHOST_V6 bit read from the record itself.
///
/// # Panics
/// If `record` is shorter than its fixed header (76 or 88 bytes): it must come from `encode`.
pub fn patch_record(
    record: &mut [u8],
    queue_offset: i64,
    physical_offset: i64,
    store_timestamp: i64,
) {
    record[QUEUE_OFFSET_POS..QUEUE_OFFSET_POS + 8].copy_from_slice(&queue_offset.to_be_bytes());
    record[PHYSICAL_OFFSET_POS..PHYSICAL_OFFSET_POS + 8]
        .copy_from_slice(&physical_offset.to_be_bytes());
    let mut flag = [0u8; 4];
    flag.copy_from_slice(&record[SYSFLAG_POS..SYSFLAG_POS + 4]);
    let at = store_timestamp_pos(i32::from_be_bytes(flag));
    record[at..at + 8].copy_from_slice(&store_timestamp.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(topic: &str) -> MessageRecord {
        MessageRecord {
            topic: topic.into(),
            body: Bytes::from_static(b"abc"),
            properties: "K\u{1}v\u{2}".into(),
            ..Default::default()
        }
    }

    #[test]
    fn encoded_len_follows_the_java_length_formula() {
        // 91 + body + topic + properties for IPv4 hosts and V1.
        assert_eq!(record("T").encoded_len(), 91 + 3 + 1 + 4);
        // V2 adds one byte of topic length; each IPv6 host adds 12.
        assert_eq!(record(&"t".repeat(128)).encoded_len(), 92 + 3 + 128 + 4);
        let mut v6 = record("T");
        v6.born_host = "[::1]:1".parse().unwrap();
        assert_eq!(v6.encoded_len(), 91 + 12 + 3 + 1 + 4);
        v6.store_host = "[::2]:2".parse().unwrap();
        assert_eq!(v6.encoded_len(), 91 + 24 + 3 + 1 + 4);
        assert_eq!(v6.to_bytes().len(), v6.encoded_len());
    }

    #[test]
    fn encoded_sysflag_follows_the_hosts() {
        let mut r = record("T");
        r.sysflag = sysflag::BORNHOST_V6 | sysflag::STOREHOST_V6 | sysflag::COMPRESSED;
        assert_eq!(r.encoded_sysflag(), sysflag::COMPRESSED);
        r.store_host = "[2001:db8::1]:10911".parse().unwrap();
        assert_eq!(
            r.encoded_sysflag(),
            sysflag::COMPRESSED | sysflag::STOREHOST_V6
        );
    }

    #[test]
    fn validate_reports_layout_limits() {
        assert!(record("T").validate().is_ok());
        assert!(record("").validate().is_err());
        assert!(record(&"t".repeat(MAX_TOPIC_LEN)).validate().is_ok());
        assert!(record(&"t".repeat(MAX_TOPIC_LEN + 1)).validate().is_err());
        let mut r = record("T");
        r.properties = "p".repeat(MAX_PROPERTIES_LEN);
        assert!(r.validate().is_ok());
        r.properties.push('p');
        let err = r.validate().unwrap_err().to_string();
        assert!(err.contains("properties"), "{err}");
    }

    #[test]
    fn patch_uses_the_born_host_layout_of_the_record() {
        let mut r = record("T");
        r.born_host = "[::1]:1".parse().unwrap();
        let mut bytes = r.to_bytes().to_vec();
        patch_record(&mut bytes, 1, 2, 3);
        assert_eq!(&bytes[68..76], &3i64.to_be_bytes());
        // The 8 bytes where an IPv4 layout would keep STORETIMESTAMP are still the born host.
        assert_eq!(&bytes[56..64], &[0, 0, 0, 0, 0, 0, 0, 1]);
        let (back, _) = MessageRecord::decode(&Bytes::from(bytes)).unwrap();
        assert_eq!(
            (
                back.queue_offset,
                back.physical_offset,
                back.store_timestamp
            ),
            (1, 2, 3)
        );
    }

    #[test]
    fn decode_errors_name_the_problem() {
        let blank = Bytes::from_static(&[0, 0, 0, 16, 0xCB, 0xD4, 0x31, 0x94]);
        let err = MessageRecord::decode(&blank).unwrap_err().to_string();
        assert!(err.contains("blank"), "{err}");
        let err = MessageRecord::decode(&Bytes::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("end of data"), "{err}");
        let full = record("T").to_bytes();
        let err = MessageRecord::decode(&full.slice(..50))
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated"), "{err}");
    }
}
