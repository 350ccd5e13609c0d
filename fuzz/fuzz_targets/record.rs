#![no_main]
// Fuzz target "record": every decoder of the stored-message record and its satellites. None may
// panic; what check_record accepts must decode to the same fields, and a record written the
// canonical way must re-encode to the same bytes.
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sluice_remoting::message::batch::decode_batch;
use sluice_remoting::message::property::Properties;
use sluice_remoting::message::{check_record, decode_messages, MessageRecord, RecordCheck};

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    let lenient = check_record(data, false);
    let strict = check_record(data, true);
    match (&lenient, &strict) {
        // Verifying the CRC can only turn a message into a corruption, nothing else changes.
        (RecordCheck::Message(_), RecordCheck::Corrupt { .. }) => {}
        (a, b) => assert_eq!(a, b),
    }
    match lenient {
        RecordCheck::Message(view) => {
            // decode does not verify the CRC either, so it must accept the same bytes.
            let (record, used) = match MessageRecord::decode(&bytes) {
                Ok(decoded) => decoded,
                Err(e) => panic!("check_record accepted what decode rejects: {e}"),
            };
            assert_eq!(used, view.total_size());
            assert_eq!(view.to_record(), record);
            // Canonical: a correct CRC, V1/V2 chosen by topic length, IPv4 hosts not written
            // as mapped IPv6. Such a record re-encodes to exactly the same bytes.
            let canonical = matches!(strict, RecordCheck::Message(_))
                && view.is_v2() == (record.topic.len() > 127)
                && record.encoded_sysflag() == record.sysflag;
            if canonical {
                assert_eq!(&record.to_bytes()[..], view.as_bytes());
            }
        }
        RecordCheck::Blank { size } => assert!(size >= 8),
        RecordCheck::End | RecordCheck::Incomplete { .. } | RecordCheck::Corrupt { .. } => {
            assert!(MessageRecord::decode(&bytes).is_err());
        }
    }
    let _ = decode_messages(&bytes, true);
    let _ = decode_batch(&bytes);
    if let Ok(s) = std::str::from_utf8(data) {
        let props = Properties::decode(s);
        assert_eq!(Properties::decode(&props.encode()), props);
    }
});
