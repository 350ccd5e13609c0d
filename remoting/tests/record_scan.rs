//! check_record as recovery and dispatch use it: walk a mapped-file image record by record.

use bytes::{BufMut, Bytes, BytesMut};
use sluice_remoting::message::{
    check_record, patch_record, MessageRecord, RecordCheck, BLANK_LEN, BLANK_MAGIC,
};

const FILE_SIZE: usize = 4096;

fn record(i: i64) -> MessageRecord {
    MessageRecord {
        topic: format!("Topic{}", i % 3),
        queue_id: (i % 4) as i32,
        body: Bytes::from(vec![i as u8; 100 + i as usize * 7]),
        properties: format!("TAGS\u{1}tag{i}\u{2}UNIQ_KEY\u{1}ID{i}\u{2}"),
        born_host: "10.0.0.9:40000".parse().unwrap(),
        store_host: "10.0.0.1:10911".parse().unwrap(),
        ..Default::default()
    }
}

/// Appends records the way the CommitLog does: patch offsets at append time and end the file
/// with a BLANK once the next record would leave fewer than 8 bytes.
fn fill_file() -> (Vec<u8>, usize) {
    let mut file = BytesMut::with_capacity(FILE_SIZE);
    let mut count = 0;
    loop {
        let r = record(count as i64);
        let mut enc = BytesMut::new();
        r.encode(&mut enc);
        if file.len() + enc.len() + BLANK_LEN > FILE_SIZE {
            let rest = FILE_SIZE - file.len();
            file.put_i32(rest as i32);
            file.put_i32(BLANK_MAGIC);
            break;
        }
        patch_record(
            &mut enc,
            count as i64,
            file.len() as i64,
            1_000 + count as i64,
        );
        file.extend_from_slice(&enc);
        count += 1;
    }
    let mut image = file.to_vec();
    image.resize(FILE_SIZE, 0);
    (image, count)
}

#[test]
fn full_file_scan_visits_every_record_then_the_blank() {
    let (image, count) = fill_file();
    let mut pos = 0;
    let mut seen = 0;
    loop {
        match check_record(&image[pos..], true) {
            RecordCheck::Message(v) => {
                assert_eq!(v.physical_offset(), pos as i64);
                assert_eq!(v.queue_offset(), seen as i64);
                assert_eq!(v.store_timestamp(), 1_000 + seen as i64);
                let tag = format!("tag{seen}");
                assert_eq!(v.tags(), Some(tag.as_str()));
                pos += v.total_size();
                seen += 1;
            }
            RecordCheck::Blank { size } => {
                assert_eq!(pos + size, FILE_SIZE);
                break;
            }
            other => panic!("unexpected {other:?} at {pos}"),
        }
    }
    assert_eq!(seen, count);
    assert!(count > 5);
}

#[test]
fn partially_written_file_ends_at_the_zeroed_tail() {
    let (image, _) = fill_file();
    // Keep two records, zero the rest: the state after a crash with unwritten pages.
    let first = match check_record(&image, true) {
        RecordCheck::Message(v) => v.total_size(),
        other => panic!("{other:?}"),
    };
    let second = match check_record(&image[first..], true) {
        RecordCheck::Message(v) => v.total_size(),
        other => panic!("{other:?}"),
    };
    let mut crashed = image.clone();
    crashed[first + second..].fill(0);
    assert_eq!(
        check_record(&crashed[first + second..], true),
        RecordCheck::End
    );

    // A torn third record: its first bytes made it to disk, the rest is zeros.
    let mut torn = image.clone();
    let third = first + second;
    torn[third + 50..].fill(0);
    assert!(matches!(
        check_record(&torn[third..], true),
        RecordCheck::Corrupt { .. }
    ));
    // The same torn record at the end of the readable bytes: incomplete.
    assert!(matches!(
        check_record(&image[third..third + 50], true),
        RecordCheck::Incomplete { .. }
    ));
}

#[test]
fn flipped_body_bit_is_caught_only_with_crc() {
    let (mut image, _) = fill_file();
    let body_start = match check_record(&image, true) {
        RecordCheck::Message(v) => v.body_range().start,
        other => panic!("{other:?}"),
    };
    image[body_start + 3] ^= 0x04;
    assert!(matches!(
        check_record(&image, false),
        RecordCheck::Message(_)
    ));
    match check_record(&image, true) {
        RecordCheck::Corrupt { reason } => assert!(reason.contains("CRC"), "{reason}"),
        other => panic!("{other:?}"),
    }
}
