//! Finding where the valid CommitLog ends after a restart.
//!
//! The scan walks records from a starting segment with `check_record` (CRC-checked when `checkCRCOnRecover`):
//! a record advances, a BLANK moves to the next segment, anything else ends the scan. Where it ends decides:
//! - below the durable offset recorded in the checkpoint (data that was flushed, so it cannot be a torn write):
//!   damage in the middle; recovery refuses to start with an error naming the file and offset;
//! - otherwise: a torn or unflushed tail, which is truncated (the bytes after it are zeroed).
//!
//! Normal recovery (clean shutdown) starts at the third-last segment; abnormal recovery (the abort file exists)
//! at the newest segment whose first record was stored no later than the checkpoint's minimum timestamp, and the
//! store then re-dispatches every record from there (ConsumeQueue dedup makes re-dispatch harmless).

use sluice_remoting::message::{check_record, record_crc, RecordCheck};

use crate::commit_log::CommitLog;
use crate::error::{Result, StoreError};
use crate::mapped_file::MappedFile;

/// Where a scan ended and what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOutcome {
    /// Global offset where the scan started (the first byte of the first scanned segment).
    pub start_offset: u64,
    /// Global offset one past the last valid record: the new max offset.
    pub end_offset: u64,
    /// Valid records seen.
    pub records: u64,
    /// Store timestamp of the last valid record (0 if none).
    pub last_store_timestamp: i64,
    /// Why the scan stopped before the end of the written data, if it saw anything but zeros there.
    pub stopped_because: Option<String>,
}

/// Which segment the scan starts at.
#[derive(Debug, Clone, Copy)]
pub enum ScanStart {
    /// Clean shutdown: the third-last segment (or the first).
    Normal,
    /// Crash: the newest segment whose first record's store timestamp is <= this (or the first segment).
    Abnormal { min_timestamp: i64 },
}

fn first_record_timestamp(seg: &MappedFile) -> Option<i64> {
    let whole = seg.whole();
    match check_record(&whole, false) {
        RecordCheck::Message(v) => Some(v.store_timestamp()),
        _ => None,
    }
}

fn start_index(segments: &[std::sync::Arc<MappedFile>], start: ScanStart) -> usize {
    match start {
        ScanStart::Normal => segments.len().saturating_sub(3),
        ScanStart::Abnormal { min_timestamp } => segments
            .iter()
            .rposition(|s| {
                first_record_timestamp(s).is_some_and(|ts| ts != 0 && ts <= min_timestamp)
            })
            .unwrap_or(0),
    }
}

/// How records are checked during the scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcCheck {
    /// Structure only.
    None,
    /// BODYCRC (`checkCRCOnRecover`).
    Body,
    /// The 5.x whole-record CRC property (`forceVerifyPropCRC`); a record without it fails.
    WholeRecord,
}

impl CrcCheck {
    /// The check the configuration asks for.
    pub fn from_config(check_crc_on_recover: bool, force_verify_prop_crc: bool) -> Self {
        if force_verify_prop_crc {
            CrcCheck::WholeRecord
        } else if check_crc_on_recover {
            CrcCheck::Body
        } else {
            CrcCheck::None
        }
    }
}

/// Scans the CommitLog's segments (the queue must not have a writer yet) and returns where the valid data ends.
pub fn scan(commit_log: &CommitLog, start: ScanStart, crc: CrcCheck) -> ScanOutcome {
    let segments = commit_log.log.segments();
    let first = start_index(&segments, start);
    let start_offset = segments
        .get(first)
        .map_or(commit_log.log.min_offset(), |s| s.start_offset);
    let mut out = ScanOutcome {
        start_offset,
        end_offset: start_offset,
        records: 0,
        last_store_timestamp: 0,
        stopped_because: None,
    };
    'segments: for seg in segments.iter().skip(first) {
        if out.end_offset != seg.start_offset {
            break;
        }
        let whole = seg.whole();
        let mut pos = 0usize;
        while pos < whole.len() {
            match check_record(&whole[pos..], crc == CrcCheck::Body) {
                RecordCheck::Message(v) => {
                    let at = seg.start_offset + pos as u64;
                    if crc == CrcCheck::WholeRecord && record_crc::verify(&v) != Some(true) {
                        out.stopped_because =
                            Some("whole-record CRC property missing or wrong".to_string());
                        break 'segments;
                    }
                    if v.physical_offset() != at as i64 {
                        out.stopped_because = Some(format!(
                            "record says it is at physical offset {}",
                            v.physical_offset()
                        ));
                        break 'segments;
                    }
                    pos += v.total_size();
                    out.records += 1;
                    out.last_store_timestamp = v.store_timestamp();
                    out.end_offset = seg.start_offset + pos as u64;
                }
                RecordCheck::Blank { size } => {
                    if pos + size != whole.len() {
                        out.stopped_because = Some(format!(
                            "end-of-file blank of {size} bytes does not reach the end of the file"
                        ));
                        break 'segments;
                    }
                    out.end_offset = seg.end_offset();
                    continue 'segments;
                }
                RecordCheck::End => break 'segments,
                RecordCheck::Incomplete { needed } => {
                    out.stopped_because = Some(format!(
                        "record of {needed} bytes runs past the end of the file"
                    ));
                    break 'segments;
                }
                RecordCheck::Corrupt { reason } => {
                    out.stopped_because = Some(reason);
                    break 'segments;
                }
            }
        }
        // A segment filled exactly to its last byte (cannot happen with the 8-byte rule, but raw replicated data
        // is trusted as is): continue with the next one.
    }
    out
}

/// Applies a scan: refuses to start when valid data stops below `durable_offset` (flushed data is damaged),
/// otherwise truncates the torn tail. Returns the scan outcome.
pub fn recover(
    commit_log: &CommitLog,
    start: ScanStart,
    crc: CrcCheck,
    durable_offset: u64,
) -> Result<ScanOutcome> {
    let out = scan(commit_log, start, crc);
    if out.end_offset < durable_offset {
        let file = commit_log
            .log
            .find_segment(out.end_offset)
            .map(|s| s.path.clone())
            .unwrap_or_else(|| commit_log.log.segment_path(out.end_offset));
        let reason = out
            .stopped_because
            .clone()
            .unwrap_or_else(|| "zeroed bytes where records should be".into());
        return Err(StoreError::Corrupt {
            file,
            offset: out.end_offset,
            reason: format!(
                "{reason}; data up to offset {durable_offset} was flushed, so this is damage, not a torn write"
            ),
        });
    }
    if let Some(reason) = &out.stopped_because {
        tracing::warn!(offset = out.end_offset, reason = %reason, "truncating the CommitLog's torn tail");
    }
    commit_log.log.truncate_dirty(out.end_offset)?;
    commit_log.set_last_store_timestamp(out.last_store_timestamp);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::OsFs;
    use crate::mapped_file_queue::MappedFileQueue;
    use bytes::Bytes;
    use sluice_remoting::message::MessageRecord;
    use std::sync::Arc;

    /// Returns the start offset of each record.
    fn filled(dir: &std::path::Path, n: u8) -> (CommitLog, Vec<u64>) {
        let cl = CommitLog::new(Arc::new(
            MappedFileQueue::open(dir, 2048, Arc::new(OsFs), false).unwrap(),
        ));
        let mut starts = Vec::new();
        for i in 0..n {
            let r = MessageRecord {
                topic: "R".into(),
                body: Bytes::from(vec![i; 100]),
                ..MessageRecord::default()
            };
            starts.push(
                cl.append(&r.to_bytes(), 1, "R", 0, 0)
                    .unwrap()
                    .physical_offset,
            );
        }
        (cl, starts)
    }

    fn reopen(dir: &std::path::Path) -> CommitLog {
        CommitLog::new(Arc::new(
            MappedFileQueue::open(dir, 2048, Arc::new(OsFs), false).unwrap(),
        ))
    }

    #[test]
    fn scan_crosses_blanks_and_stops_at_a_crc_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let (full, starts) = filled(dir.path(), 40);
        let end = full.max_offset();
        drop(full);
        let cl = reopen(dir.path());
        let out = scan(
            &cl,
            ScanStart::Abnormal { min_timestamp: 0 },
            CrcCheck::Body,
        );
        assert_eq!((out.records, out.end_offset), (40, end));
        assert!(out.stopped_because.is_none());
        // Flip one body byte of record 30: CRC check fails there.
        let seg = cl.log.find_segment(starts[29]).unwrap();
        let mut bytes = std::fs::read(&seg.path).unwrap();
        let at = (starts[29] - seg.start_offset) as usize + 100;
        bytes[at] ^= 0xFF;
        std::fs::write(&seg.path, bytes).unwrap();
        let cl = reopen(dir.path());
        let out = scan(
            &cl,
            ScanStart::Abnormal { min_timestamp: 0 },
            CrcCheck::Body,
        );
        assert_eq!(out.end_offset, starts[29]);
        assert!(out.stopped_because.unwrap().contains("CRC"));
        // Without CRC checking the record passes.
        assert_eq!(
            scan(
                &cl,
                ScanStart::Abnormal { min_timestamp: 0 },
                CrcCheck::None
            )
            .records,
            40
        );
        // Below the durable offset it is damage; above it, a tail to cut.
        let err = recover(
            &cl,
            ScanStart::Abnormal { min_timestamp: 0 },
            CrcCheck::Body,
            starts[35],
        )
        .unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { offset, .. } if offset == starts[29]));
        let out = recover(
            &cl,
            ScanStart::Abnormal { min_timestamp: 0 },
            CrcCheck::Body,
            starts[20],
        )
        .unwrap();
        assert_eq!(cl.max_offset(), out.end_offset);
    }

    #[test]
    fn normal_start_scans_the_last_three_segments() {
        let dir = tempfile::tempdir().unwrap();
        let (full, _) = filled(dir.path(), 100);
        let end = full.max_offset();
        drop(full);
        let cl = reopen(dir.path());
        let segs = cl.log.segments().len();
        assert!(segs > 3);
        let out = scan(&cl, ScanStart::Normal, CrcCheck::Body);
        assert_eq!(out.start_offset, (segs as u64 - 3) * 2048);
        assert_eq!(out.end_offset, end);
    }
}
