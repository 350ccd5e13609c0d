//! The stored-message record codec and the message utilities around it.
//!
//! One record layout serves three purposes: it is the on-disk CommitLog format, the body of PULL /
//! QUERY_MESSAGE / VIEW_MESSAGE_BY_ID responses (records back to back, exactly as stored), and what
//! HA replication copies verbatim. All integers are big-endian.
//!
//! - [`MessageRecord`]: an owned record; [`MessageRecord::encode`] writes the exact stored bytes,
//!   [`MessageRecord::decode`] reads one back zero-copy.
//! - [`check_record`] / [`RecordView`]: allocation-free classification of the bytes at a position
//!   (message, end-of-file blank, end of data, corruption) for recovery and dispatch scans.
//! - [`patch_record`]: fills in the offsets and store time of an encoded record under the append lock.
//! - [`MessageExt`] / [`decode_messages`]: what a client sees after a pull.
//! - [`sysflag`], [`property`], [`msgid`], [`batch`], [`compression`]: the pieces around the record.
//! - [`record_crc`]: the optional 5.x whole-record CRC kept in the properties.

pub mod batch;
pub mod compression;
mod ext;
mod hash;
pub mod msgid;
pub mod property;
mod record;
pub mod record_crc;
pub mod sysflag;
mod view;

pub use ext::{decode_messages, MessageExt};
pub use hash::{body_crc, java_string_hash, tags_code};
pub use property::Properties;
pub use record::{
    patch_record, store_timestamp_pos, MessageRecord, BODY_CRC_POS, BORN_HOST_POS,
    BORN_TIMESTAMP_POS, FLAG_POS, MAGIC_POS, PHYSICAL_OFFSET_POS, QUEUE_ID_POS, QUEUE_OFFSET_POS,
    SYSFLAG_POS, TOTAL_SIZE_POS,
};
pub use view::{check_record, RecordCheck, RecordView, MIN_RECORD_LEN};

/// MAGICCODE of a record whose topic length is one (signed) byte.
pub const MAGIC_V1: i32 = 0xDAA320A7u32 as i32;
/// MAGICCODE of a record whose topic length is a two-byte short (topics longer than 127 bytes).
pub const MAGIC_V2: i32 = 0xDAA320ABu32 as i32;
/// MAGICCODE of the 8-byte filler that ends a full CommitLog file; its TOTALSIZE is the rest of the file.
pub const BLANK_MAGIC: i32 = 0xCBD43194u32 as i32;
/// Size of the end-of-file blank: TOTALSIZE + MAGICCODE. A record is only placed in a file if at
/// least this many bytes remain after it.
pub const BLANK_LEN: usize = 8;
/// Longest topic (UTF-8 bytes) a V1 record can hold; longer topics are written as V2.
pub const MAX_V1_TOPIC_LEN: usize = 127;
/// Longest properties string (UTF-8 bytes) a record can hold: its length is a signed short.
pub const MAX_PROPERTIES_LEN: usize = i16::MAX as usize;
/// Longest topic (UTF-8 bytes) a V2 record can hold: its length is a signed short.
pub const MAX_TOPIC_LEN: usize = i16::MAX as usize;
