//! Disk usage of the partition holding a store directory, measured like RocketMQ's
//! `UtilAll.getDiskPartitionSpaceUsedPercent`, behind a trait so retention tests can pretend the disk
//! is full without filling one.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Something that can tell how full the partition of a path is.
pub trait DiskUsage: Send + Sync {
    /// Used fraction of the partition holding `path`, in [0, 1], rounded *up* to a whole percent.
    fn used_ratio(&self, path: &Path) -> io::Result<f64>;
}

/// The real measurement through `statvfs(2)`.
#[derive(Debug, Default, Clone, Copy)]
pub struct StatvfsDiskUsage;

/// Raw numbers of one `statvfs` call, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionSpace {
    pub total: u64,
    /// Free blocks, including those reserved for root.
    pub free: u64,
    /// Free blocks an unprivileged process may use.
    pub usable: u64,
}

impl PartitionSpace {
    /// Measures the partition holding `path`.
    pub fn of(path: &Path) -> io::Result<PartitionSpace> {
        let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("path {} contains a NUL byte", path.display()),
            )
        })?;
        // SAFETY: `statvfs` is a plain C struct for which all-zero is a valid value.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c_path` is a valid NUL-terminated string and `st` a live, writable struct; the call
        // keeps no reference to either.
        let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut st) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            return Err(io::Error::new(
                err.kind(),
                format!("measuring disk space of {}: {err}", path.display()),
            ));
        }
        let frsize = st.f_frsize as u64;
        Ok(PartitionSpace {
            total: st.f_blocks as u64 * frsize,
            free: st.f_bfree as u64 * frsize,
            usable: st.f_bavail as u64 * frsize,
        })
    }

    /// RocketMQ's ratio: used / (used + usable), rounded up to a whole percent, as a fraction. Space
    /// reserved for root counts as neither, so a disk whose usable space is gone reads 100 %.
    pub fn used_ratio(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let used = self.total.saturating_sub(self.free) as u128;
        let entire = used + self.usable as u128;
        if entire == 0 {
            return 0.0;
        }
        let percent = (used * 100).div_ceil(entire);
        percent as f64 / 100.0
    }
}

impl DiskUsage for StatvfsDiskUsage {
    fn used_ratio(&self, path: &Path) -> io::Result<f64> {
        Ok(PartitionSpace::of(path)?.used_ratio())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_rounds_up_to_whole_percent_and_ignores_root_reserve() {
        let p = PartitionSpace {
            total: 1000,
            free: 500,
            usable: 450,
        };
        // used 500 / (500 + 450) = 52.6 % → 53 %
        assert_eq!(p.used_ratio(), 0.53);
        let exact = PartitionSpace {
            total: 100,
            free: 50,
            usable: 50,
        };
        assert_eq!(exact.used_ratio(), 0.5);
        let full = PartitionSpace {
            total: 100,
            free: 5,
            usable: 0,
        };
        assert_eq!(full.used_ratio(), 1.0);
    }

    #[test]
    fn measures_a_real_directory() {
        let dir = tempfile::tempdir().unwrap();
        let ratio = StatvfsDiskUsage.used_ratio(dir.path()).unwrap();
        assert!((0.0..=1.0).contains(&ratio), "{ratio}");
        let err = StatvfsDiskUsage
            .used_ratio(&dir.path().join("missing/dir"))
            .unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
