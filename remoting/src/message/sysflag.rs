//! SYSFLAG bits of a stored message (`MessageSysFlag`).

/// The body is compressed; the algorithm is in [`COMPRESSION_TYPE_MASK`].
pub const COMPRESSED: i32 = 0x1;
/// Set by the broker when the topic's filter type is MULTI_TAG.
pub const MULTI_TAGS: i32 = 0x2;
/// Mask of the two transaction-type bits.
pub const TRANSACTION_TYPE_MASK: i32 = 0xC;
pub const TRANSACTION_NOT: i32 = 0x0;
pub const TRANSACTION_PREPARED: i32 = 0x4;
pub const TRANSACTION_COMMIT: i32 = 0x8;
pub const TRANSACTION_ROLLBACK: i32 = 0xC;
/// BORNHOST is a 16-byte IPv6 address (the field is 20 bytes instead of 8).
pub const BORNHOST_V6: i32 = 0x10;
/// STOREHOST is a 16-byte IPv6 address (the field is 20 bytes; the offset msgId is 56 hex chars).
pub const STOREHOST_V6: i32 = 0x20;
/// Batch marker for the 5.x batch consume queue.
pub const NEED_UNWRAP: i32 = 0x40;
/// Inner-batch record (5.x BatchCQ).
pub const INNER_BATCH: i32 = 0x80;
/// Compression algorithm bits; `(sysflag & mask) >> 8`: 0 legacy zlib, 1 LZ4, 2 ZSTD, 3 ZLIB.
pub const COMPRESSION_TYPE_MASK: i32 = 0x700;
pub const COMPRESSION_LZ4: i32 = 0x100;
pub const COMPRESSION_ZSTD: i32 = 0x200;
pub const COMPRESSION_ZLIB: i32 = 0x300;

/// The transaction type bits of `sysflag` (one of the `TRANSACTION_*` values).
pub fn transaction_type(sysflag: i32) -> i32 {
    sysflag & TRANSACTION_TYPE_MASK
}

/// `sysflag` with its transaction type replaced by `transaction` (commit/rollback rewrite).
pub fn reset_transaction(sysflag: i32, transaction: i32) -> i32 {
    (sysflag & !TRANSACTION_TYPE_MASK) | (transaction & TRANSACTION_TYPE_MASK)
}

/// Whether a message with this sysflag goes to its consume queue (only NOT and COMMIT types do;
/// PREPARED and ROLLBACK records stay in the CommitLog only and get queue offset 0).
pub fn is_dispatched(sysflag: i32) -> bool {
    matches!(
        transaction_type(sysflag),
        TRANSACTION_NOT | TRANSACTION_COMMIT
    )
}

/// The compression type number `(sysflag & 0x700) >> 8`.
pub fn compression_type(sysflag: i32) -> i32 {
    (sysflag & COMPRESSION_TYPE_MASK) >> 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_bits() {
        let flag = COMPRESSED | TRANSACTION_PREPARED | BORNHOST_V6;
        assert_eq!(transaction_type(flag), TRANSACTION_PREPARED);
        let committed = reset_transaction(flag, TRANSACTION_COMMIT);
        assert_eq!(committed, COMPRESSED | TRANSACTION_COMMIT | BORNHOST_V6);
        assert_eq!(
            reset_transaction(committed, TRANSACTION_ROLLBACK),
            COMPRESSED | TRANSACTION_ROLLBACK | BORNHOST_V6
        );
        assert_eq!(
            reset_transaction(committed, TRANSACTION_NOT),
            COMPRESSED | BORNHOST_V6
        );
        assert!(is_dispatched(committed));
        assert!(!is_dispatched(flag));
        assert!(!is_dispatched(TRANSACTION_ROLLBACK));
    }

    #[test]
    fn compression_type_number() {
        assert_eq!(compression_type(COMPRESSED | COMPRESSION_ZLIB), 3);
        assert_eq!(compression_type(COMPRESSED), 0);
        assert_eq!(compression_type(COMPRESSION_LZ4 | TRANSACTION_COMMIT), 1);
    }
}
