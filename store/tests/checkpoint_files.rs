//! Checkpoint field positions, persistence, and the lock file.

use std::sync::atomic::Ordering;

use sluice_store::checkpoint::{StoreCheckpoint, StoreLock, CHECKPOINT_FILE_SIZE};

#[test]
fn fields_are_big_endian_at_rocketmq_positions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint");
    let cp = StoreCheckpoint::open(&path).unwrap();
    cp.physic_msg_timestamp
        .store(0x0102030405060708, Ordering::Release);
    cp.logics_msg_timestamp
        .store(0x1112131415161718, Ordering::Release);
    cp.index_msg_timestamp
        .store(0x2122232425262728, Ordering::Release);
    cp.master_flushed_offset
        .store(0x3132333435363738, Ordering::Release);
    cp.confirm_phy_offset.store(-2, Ordering::Release);
    cp.flush().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), CHECKPOINT_FILE_SIZE);
    assert_eq!(&bytes[0..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(
        &bytes[8..16],
        &[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]
    );
    assert_eq!(
        &bytes[16..24],
        &[0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28]
    );
    assert_eq!(
        &bytes[24..32],
        &[0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38]
    );
    assert_eq!(
        &bytes[32..40],
        &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE]
    );
    assert!(bytes[40..].iter().all(|&b| b == 0));
    drop(cp);

    let again = StoreCheckpoint::open(&path).unwrap();
    assert_eq!(
        again.physic_msg_timestamp.load(Ordering::Acquire),
        0x0102030405060708
    );
    assert_eq!(
        again.index_msg_timestamp.load(Ordering::Acquire),
        0x2122232425262728
    );
    assert_eq!(again.confirm_phy_offset.load(Ordering::Acquire), -2);
}

#[test]
fn values_are_only_persisted_by_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint");
    let cp = StoreCheckpoint::open(&path).unwrap();
    cp.logics_msg_timestamp.store(42, Ordering::Release);
    assert!(std::fs::read(&path).unwrap()[8..16].iter().all(|&b| b == 0));
    cp.flush().unwrap();
    assert_eq!(std::fs::read(&path).unwrap()[15], 42);
}

#[test]
fn a_second_store_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = StoreLock::acquire(dir.path()).unwrap();
    assert_eq!(std::fs::read(first.path()).unwrap(), b"lock");
    let err = StoreLock::acquire(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("locked by another running store"),
        "{err}"
    );
    drop(first);
    StoreLock::acquire(dir.path()).expect("lock is released on drop");
}
