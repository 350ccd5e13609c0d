//! Crash-safe metadata files (`topics.json`, `subscriptionGroup.json`, `consumerOffset.json`).
//!
//! Write: the new content goes to `{file}.tmp` and is fsynced; the current file is kept as
//! `{file}.bak`; the tmp file is renamed over the file; the directory is fsynced. A crash at any
//! point leaves either the old or the new content readable (in the file or in `.bak`).
//! Load: the file, else `.bak` when the file is missing, empty or does not parse (as Apache's
//! `ConfigManager.load`). These calls block: run them on a blocking thread from async code.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut os = path.as_os_str().to_owned();
    os.push(suffix);
    PathBuf::from(os)
}

/// `{path}.bak`.
pub fn backup_path(path: &Path) -> PathBuf {
    with_suffix(path, ".bak")
}

/// Replaces `path` with `contents` atomically, keeping the previous content in `{path}.bak`.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = with_suffix(path, ".tmp");
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    if path.exists() {
        // Copy rather than rename, so that `path` exists at every instant.
        let bak = backup_path(path);
        fs::copy(path, &bak)?;
        File::open(&bak)?.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    // The rename is durable only once the directory entry is.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Loads `path` with `parse`, falling back to `{path}.bak`. `Ok(None)` when neither exists (a new
/// broker); an error only when a file exists but neither copy can be read or parsed.
pub fn load_with_fallback<T, E: std::fmt::Display>(
    path: &Path,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<T>, String> {
    let mut problems = Vec::new();
    let bak = backup_path(path);
    let mut any_exists = false;
    for candidate in [path, bak.as_path()] {
        match fs::read_to_string(candidate) {
            Ok(text) => {
                any_exists = true;
                if text.trim().is_empty() {
                    problems.push(format!("{} is empty", candidate.display()));
                    continue;
                }
                match parse(&text) {
                    Ok(v) => {
                        if candidate != path {
                            tracing::warn!(
                                file = %path.display(),
                                "metadata file unreadable, loaded its backup {}",
                                candidate.display()
                            );
                        }
                        return Ok(Some(v));
                    }
                    Err(e) => problems.push(format!("{}: {e}", candidate.display())),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                any_exists = true;
                problems.push(format!("{}: {e}", candidate.display()));
            }
        }
    }
    if !any_exists {
        return Ok(None);
    }
    if problems.iter().all(|p| p.ends_with("is empty")) {
        // Apache treats an empty file as "nothing yet".
        return Ok(None);
    }
    Err(format!(
        "cannot load {} nor its backup ({}); fix or remove the files",
        path.display(),
        problems.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_num(s: &str) -> Result<i64, std::num::ParseIntError> {
        s.trim().parse()
    }

    #[test]
    fn write_keeps_previous_content_as_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config").join("x.json");
        write_atomic(&path, b"1").unwrap();
        assert!(!backup_path(&path).exists());
        write_atomic(&path, b"2").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "2");
        assert_eq!(fs::read_to_string(backup_path(&path)).unwrap(), "1");
        assert_eq!(load_with_fallback(&path, parse_num).unwrap(), Some(2));
    }

    #[test]
    fn corrupt_file_falls_back_to_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        write_atomic(&path, b"7").unwrap();
        write_atomic(&path, b"8").unwrap();
        fs::write(&path, b"garbage").unwrap();
        assert_eq!(load_with_fallback(&path, parse_num).unwrap(), Some(7));
        fs::remove_file(&path).unwrap();
        assert_eq!(load_with_fallback(&path, parse_num).unwrap(), Some(7));
    }

    #[test]
    fn missing_is_none_and_both_corrupt_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        assert_eq!(load_with_fallback(&path, parse_num).unwrap(), None);
        fs::write(&path, b"bad").unwrap();
        fs::write(backup_path(&path), b"worse").unwrap();
        let err = load_with_fallback(&path, parse_num).unwrap_err();
        assert!(err.contains("x.json"), "{err}");
    }
}
