//! The replica table on disk: `{controllerStorePath}/replicas.json`, replaced atomically (write
//! a temporary file, fsync, rename, fsync the directory) after every change and before the
//! change is answered, so a restarted controller never hands out an epoch twice.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{ControllerError, Result};
use crate::replicas::ReplicaTable;

pub struct ReplicaFile {
    path: PathBuf,
}

fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> ControllerError {
    let doing = doing.into();
    move |source| ControllerError::Io { doing, source }
}

impl ReplicaFile {
    pub fn new(dir: &Path) -> ReplicaFile {
        ReplicaFile {
            path: dir.join("replicas.json"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved table, or an empty one when there is no file yet. A file that cannot be read
    /// is an error: starting empty would reuse epochs.
    pub fn load(&self) -> Result<ReplicaTable> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ControllerError::Config {
                key: self.path.display().to_string(),
                problem: format!("corrupt replica table ({e}); restore it from a backup, do not delete it (epochs would restart)"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ReplicaTable::default()),
            Err(e) => Err(io(format!("reading {}", self.path.display()))(e)),
        }
    }

    /// Writes `table` durably (blocking).
    pub fn save(&self, table: &ReplicaTable) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(table).expect("the replica table is plain data");
        let mut f =
            std::fs::File::create(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
        f.write_all(&bytes)
            .and_then(|_| f.sync_data())
            .map_err(io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, &self.path)
            .map_err(io(format!("replacing {}", self.path.display())))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}
