//! The dedicated thread that prepares the next segment of a [`MappedFileQueue`](crate::mapped_file_queue):
//! creates the file, reserves its blocks (`posix_fallocate`), pre-writes it with zeros when the store writes through
//! (`warmMapedFileEnable`) and maps it with MAP_POPULATE, so that rolling over on the append path finds a ready,
//! pre-faulted segment.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use memmap2::MmapMut;

use crate::error::{Result, StoreError};
use crate::fs::StoreFs;
use crate::mapped_file::MappedFile;

pub(crate) type Prepared = Result<(Arc<MappedFile>, MmapMut)>;

#[derive(Default)]
struct AllocSlot {
    requested: Option<u64>,
    ready: Option<(u64, Prepared)>,
    stop: bool,
}

/// The dedicated thread that creates, reserves and pre-faults the next segment.
pub(crate) struct Allocator {
    shared: Arc<(Mutex<AllocSlot>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Allocator {
    /// With `prewrite`, segments are filled with zeros and synced before they are handed out.
    pub(crate) fn start(
        fs: Arc<dyn StoreFs>,
        dir: PathBuf,
        size: u64,
        prewrite: bool,
    ) -> Result<Self> {
        let shared = Arc::new((Mutex::new(AllocSlot::default()), Condvar::new()));
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("store-allocator".into())
            .spawn(move || allocator_loop(&worker, &fs, &dir, size, prewrite))
            .map_err(|e| StoreError::io("starting the segment allocator thread", e))?;
        Ok(Allocator {
            shared,
            thread: Some(thread),
        })
    }

    fn lock(&self) -> MutexGuard<'_, AllocSlot> {
        self.shared.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn request(&self, start: u64) {
        let mut slot = self.lock();
        let already =
            slot.requested == Some(start) || matches!(&slot.ready, Some((s, _)) if *s == start);
        if !already {
            slot.requested = Some(start);
            self.shared.1.notify_all();
        }
    }

    /// The prepared segment starting at `start`, waiting for it if it is being prepared; `None` if it was never
    /// requested (the caller creates it itself).
    pub(crate) fn take(&self, start: u64) -> Option<Prepared> {
        let mut slot = self.lock();
        loop {
            match &slot.ready {
                Some((s, _)) if *s == start => return slot.ready.take().map(|(_, p)| p),
                Some(_) => {
                    // Prepared for an offset the log no longer reaches (it was truncated): drop it from disk.
                    if let Some((_, Ok((file, _)))) = slot.ready.take() {
                        let _ = file.destroy();
                    }
                }
                None => {}
            }
            if slot.requested != Some(start) {
                return None;
            }
            slot = self.shared.1.wait(slot).unwrap_or_else(|p| p.into_inner());
        }
    }
}

fn allocator_loop(
    shared: &(Mutex<AllocSlot>, Condvar),
    fs: &Arc<dyn StoreFs>,
    dir: &Path,
    size: u64,
    prewrite: bool,
) {
    let (lock, cvar) = shared;
    let mut slot = lock.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if slot.stop {
            return;
        }
        let Some(start) = slot.requested else {
            slot = cvar.wait(slot).unwrap_or_else(|p| p.into_inner());
            continue;
        };
        if matches!(&slot.ready, Some((old, _)) if *old != start) {
            // A prepared segment nobody took (the log was truncated): remove it so no gap is left on disk.
            if let Some((_, Ok((file, _)))) = slot.ready.take() {
                let _ = file.destroy();
            }
        }
        drop(slot);
        let result = MappedFile::create(fs, dir, start, size, true, prewrite);
        if let Err(e) = &result {
            tracing::error!(error = %e, start, "cannot pre-allocate the next segment");
        }
        slot = lock.lock().unwrap_or_else(|p| p.into_inner());
        if slot.requested == Some(start) {
            slot.requested = None;
        }
        slot.ready = Some((start, result));
        cvar.notify_all();
    }
}

impl Drop for Allocator {
    fn drop(&mut self) {
        self.lock().stop = true;
        self.shared.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
