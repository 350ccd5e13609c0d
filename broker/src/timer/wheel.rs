//! The timer wheel: `{root}/timerwheel`, a mapped ring of fixed-size slots, one per
//! `timerPrecisionMs` of delivery time. A slot heads the chain of timer log entries due in it:
//!
//! `slot_ms (i64) | first (i64) | last (i64) | count (i32) | magic (u32)` — 32 bytes.
//!
//! A slot is found by `slot_ms / precision % slots`; its stored `slot_ms` tells whether it
//! belongs to the wanted lap of the ring (a slot left over from an earlier lap reads as empty).
//! Memory is O(slots), whatever the number of pending messages. The wheel is derived data: it is
//! rebuilt from the timer log at every start (the log and the checkpoint are the durable truth),
//! so it is never synced.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;

use memmap2::{MmapOptions, MmapRaw};

/// Bytes per slot.
pub const SLOT_SIZE: usize = 32;
/// Marks a used slot ("WHEL").
const MAGIC: u32 = 0x5748_454C;

/// A slot's chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub first: i64,
    pub last: i64,
    pub count: i32,
}

pub struct TimerWheel {
    map: MmapRaw,
    slots: u64,
    precision_ms: i64,
}

impl TimerWheel {
    /// Maps `path` with `slots` slots (created or resized as needed) and clears it. Blocking.
    pub fn open(path: &Path, slots: u64, precision_ms: i64) -> io::Result<TimerWheel> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let len = slots * SLOT_SIZE as u64;
        // Emptied by truncation: a sparse file of zeroes, no page touched.
        file.set_len(0)?;
        file.set_len(len)?;
        let map = MmapOptions::new().len(len as usize).map_raw(&file)?;
        Ok(TimerWheel {
            map,
            slots,
            precision_ms,
        })
    }

    pub fn slots(&self) -> u64 {
        self.slots
    }

    fn at(&self, slot_ms: i64) -> *mut u8 {
        let index = (slot_ms / self.precision_ms).rem_euclid(self.slots as i64) as usize;
        // SAFETY: index < slots, so the 32 bytes are inside the mapping.
        unsafe { self.map.as_mut_ptr().add(index * SLOT_SIZE) }
    }

    fn raw(&self, slot_ms: i64) -> [u8; SLOT_SIZE] {
        let mut b = [0u8; SLOT_SIZE];
        // SAFETY: see `at`; the wheel is only used under the timer's lock.
        unsafe { std::ptr::copy_nonoverlapping(self.at(slot_ms), b.as_mut_ptr(), SLOT_SIZE) };
        b
    }

    /// The chain of `slot_ms`, if this lap's slot holds one.
    pub fn get(&self, slot_ms: i64) -> Option<Slot> {
        let b = self.raw(slot_ms);
        let i64_at = |at: usize| i64::from_be_bytes(b[at..at + 8].try_into().unwrap());
        if u32::from_be_bytes(b[28..32].try_into().unwrap()) != MAGIC || i64_at(0) != slot_ms {
            return None;
        }
        Some(Slot {
            first: i64_at(8),
            last: i64_at(16),
            count: i32::from_be_bytes(b[24..28].try_into().unwrap()),
        })
    }

    /// Links the entry at `pos` as the newest of `slot_ms`; returns the previous newest (−1).
    pub fn link(&mut self, slot_ms: i64, pos: u64) -> i64 {
        let (slot, prev) = match self.get(slot_ms) {
            Some(s) => (
                Slot {
                    first: s.first,
                    last: pos as i64,
                    count: s.count.saturating_add(1),
                },
                s.last,
            ),
            None => (
                Slot {
                    first: pos as i64,
                    last: pos as i64,
                    count: 1,
                },
                -1,
            ),
        };
        let mut b = [0u8; SLOT_SIZE];
        b[0..8].copy_from_slice(&slot_ms.to_be_bytes());
        b[8..16].copy_from_slice(&slot.first.to_be_bytes());
        b[16..24].copy_from_slice(&slot.last.to_be_bytes());
        b[24..28].copy_from_slice(&slot.count.to_be_bytes());
        b[28..32].copy_from_slice(&MAGIC.to_be_bytes());
        // SAFETY: see `at`; `&mut self` is the only writer.
        unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), self.at(slot_ms), SLOT_SIZE) };
        prev
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_chain_and_laps_do_not_mix() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = TimerWheel::open(&dir.path().join("timerwheel"), 10, 1000).unwrap();
        assert_eq!(w.get(5000), None);
        assert_eq!(w.link(5000, 0), -1);
        assert_eq!(w.link(5000, 40), 0);
        assert_eq!(
            w.get(5000),
            Some(Slot {
                first: 0,
                last: 40,
                count: 2
            })
        );
        // Same ring index, next lap: empty until linked, then a fresh chain.
        assert_eq!(w.get(15000), None);
        assert_eq!(w.link(15000, 80), -1);
        assert_eq!(w.get(5000), None);
        assert_eq!(w.get(15000).unwrap().count, 1);
        // Reopening clears (the wheel is rebuilt from the log).
        drop(w);
        let w = TimerWheel::open(&dir.path().join("timerwheel"), 10, 1000).unwrap();
        assert_eq!(w.get(15000), None);
    }
}
