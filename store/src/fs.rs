//! The file-system seam. Every file-system touch of the segment files goes through [`StoreFs`], so tests can inject
//! failures (ENOSPC when a segment is created, a failing fdatasync) without a special kernel or a tiny tmpfs.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// The file-system operations the store needs for its segment files.
pub trait StoreFs: Send + Sync + 'static {
    /// Creates a new segment of exactly `size` bytes with its blocks reserved, so that writes through a mapping can
    /// never hit ENOSPC (which would be a SIGBUS, not an error). Fails if the file exists.
    fn create_segment(&self, path: &Path, size: u64) -> io::Result<File>;
    /// Writes zeros over the whole new segment and syncs them, so its blocks are written extents: later data
    /// writes and fdatasyncs then change no file-system metadata (see `warmMapedFileEnable`).
    fn prewrite_segment(&self, file: &File, size: u64) -> io::Result<()> {
        prewrite_zeros(file, size)?;
        self.sync_data(file)
    }
    /// Opens an existing segment for reading and writing.
    fn open_segment(&self, path: &Path) -> io::Result<File>;
    /// Makes the file's data durable (fdatasync; on Linux msync of a shared mapping does the same).
    fn sync_data(&self, file: &File) -> io::Result<()>;
    /// Removes a segment file.
    fn remove(&self, path: &Path) -> io::Result<()>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFs;

impl StoreFs for OsFs {
    fn create_segment(&self, path: &Path, size: u64) -> io::Result<File> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        if let Err(e) = reserve(&file, size) {
            drop(file);
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        Ok(file)
    }

    fn open_segment(&self, path: &Path) -> io::Result<File> {
        OpenOptions::new().read(true).write(true).open(path)
    }

    fn sync_data(&self, file: &File) -> io::Result<()> {
        file.sync_data()
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
}

/// Reserves `size` bytes of blocks for `file` (posix_fallocate), falling back to `set_len` where the file system
/// cannot allocate (tmpfs on old kernels answers EOPNOTSUPP).
fn reserve(file: &File, size: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(size)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "segment size too large"))?;
    // SAFETY: plain syscall on a file descriptor we own for the duration of the call.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    match rc {
        0 => Ok(()),
        libc::EOPNOTSUPP | libc::EINVAL => file.set_len(size),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// Writes `size` bytes of zeros from the start of `file`, 1 MiB at a time, starting the write-back of each chunk
/// as it goes (`sync_file_range`) so a 1 GiB segment does not pile up as dirty pages for the final sync.
fn prewrite_zeros(file: &File, size: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileExt;
    const CHUNK: u64 = 1 << 20;
    let zeros = vec![0u8; CHUNK as usize];
    let mut at = 0;
    while at < size {
        let n = CHUNK.min(size - at);
        file.write_all_at(&zeros[..n as usize], at)?;
        // SAFETY: plain syscall on a file descriptor we own; a failure only loses the early write-back hint.
        unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                at as libc::off64_t,
                n as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
        at += n;
    }
    Ok(())
}

/// A [`StoreFs`] that forwards to [`OsFs`] but fails on demand. Used by failure-injection tests; cheap enough to
/// leave in the library so integration tests and the broker's tests can use it too.
#[derive(Debug, Default)]
pub struct FaultyFs {
    /// While set, `create_segment` fails with ENOSPC.
    pub no_space: AtomicBool,
    /// While set, `sync_data` fails with EIO.
    pub fail_sync: AtomicBool,
    /// Counts successful `sync_data` calls (to check group commit batches).
    pub syncs: AtomicU64,
}

impl FaultyFs {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
}

impl StoreFs for FaultyFs {
    fn create_segment(&self, path: &Path, size: u64) -> io::Result<File> {
        if self.no_space.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        OsFs.create_segment(path, size)
    }

    fn prewrite_segment(&self, file: &File, size: u64) -> io::Result<()> {
        if self.no_space.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        prewrite_zeros(file, size)?;
        self.sync_data(file)
    }

    fn open_segment(&self, path: &Path) -> io::Result<File> {
        OsFs.open_segment(path)
    }

    fn sync_data(&self, file: &File) -> io::Result<()> {
        if self.fail_sync.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        self.syncs.fetch_add(1, Ordering::Relaxed);
        OsFs.sync_data(file)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        OsFs.remove(path)
    }
}
