//! The receiver's disk side: one blocking thread applies, in order, the operations the protocol
//! loop has checked.
//!
//! - A directory is created, or kept when a directory is already there; whatever else is there
//!   is removed first. It stays writable by its owner until the end, when its mode and
//!   modification time are applied, deepest directories first.
//! - A symlink replaces whatever is at its path. It is never followed: every entry is created
//!   inside a directory that was itself sent and created (or checked) as a real directory.
//! - A regular file is written to a temporary file (`.depot-*.tmp`) in its directory, created
//!   when its first data arrives, and renamed over its path once the empty DATA ends it, after
//!   its mode and modification time are set. A transfer that fails removes its temporary
//!   files, so a file is either complete or absent, never half written.
//! - A hardlink is made once the file it links to is complete.
//!
//! Nothing is chowned: files belong to the user receiving them.

use std::collections::HashMap;
use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tempfile::NamedTempFile;
use tokio::sync::mpsc;

use super::Error;
use super::stat::unix_permissions;

/// One checked operation for the disk. Paths are relative to the destination, already
/// validated, and arrive in walk order.
#[derive(Debug)]
pub enum Op {
    /// A directory with its mode and modification time (nanoseconds).
    Dir {
        /// Its path.
        path: String,
        /// Its Go file mode.
        mode: u32,
        /// Its modification time in nanoseconds since the epoch.
        mtime: i64,
    },
    /// A symlink to `target`.
    Symlink {
        /// Its path.
        path: String,
        /// Its target, written as is.
        target: String,
    },
    /// A regular file whose data will follow under `id`.
    File {
        /// Its id in the listing.
        id: u32,
        /// Its path.
        path: String,
        /// Its Go file mode.
        mode: u32,
        /// Its modification time in nanoseconds since the epoch.
        mtime: i64,
    },
    /// A hardlink at `path` to the regular file `target`, listed earlier.
    Link {
        /// Its path.
        path: String,
        /// The id of the file it links to.
        target: u32,
    },
    /// Data for the file `id`.
    Data {
        /// The file's id.
        id: u32,
        /// The next bytes of the file.
        data: Vec<u8>,
    },
    /// The end of the file `id`'s data.
    Finish {
        /// The file's id.
        id: u32,
    },
    /// The end of the transfer: apply the directories' modes and times.
    Done,
}

/// A regular file whose data is still arriving.
struct Pending {
    path: String,
    mode: u32,
    mtime: i64,
    temp: Option<NamedTempFile>,
    /// Hardlinks waiting for the file to be complete.
    links: Vec<String>,
}

/// The state of the disk side.
struct Writer {
    dest: PathBuf,
    pending: HashMap<u32, Pending>,
    /// Complete files, by id, for later hardlinks.
    complete: HashMap<u32, String>,
    /// Directories to finish: `(path, mode, mtime)`, in creation order.
    dirs: Vec<(PathBuf, u32, i64)>,
}

/// Applies operations under `dest` until [`Op::Done`] (then finishes the directories) or until
/// the channel closes without it (an aborted transfer: temporary files are removed).
pub fn run(dest: PathBuf, mut ops: mpsc::Receiver<Op>) -> Result<(), Error> {
    let mut writer = Writer {
        dest,
        pending: HashMap::new(),
        complete: HashMap::new(),
        dirs: Vec::new(),
    };
    while let Some(op) = ops.blocking_recv() {
        let done = matches!(op, Op::Done);
        writer.apply(op)?;
        if done {
            break;
        }
    }
    Ok(())
}

impl Writer {
    fn apply(&mut self, op: Op) -> Result<(), Error> {
        match op {
            Op::Dir { path, mode, mtime } => self.dir(&path, mode, mtime),
            Op::Symlink { path, target } => {
                let full = self.dest.join(&path);
                remove_existing(&full)?;
                std::os::unix::fs::symlink(&target, &full).map_err(io_error(&full))
            }
            Op::File {
                id,
                path,
                mode,
                mtime,
            } => {
                let file = Pending {
                    path,
                    mode,
                    mtime,
                    temp: None,
                    links: Vec::new(),
                };
                self.pending.insert(id, file);
                Ok(())
            }
            Op::Link { path, target } => {
                if let Some(file) = self.pending.get_mut(&target) {
                    file.links.push(path);
                    return Ok(());
                }
                let Some(target) = self.complete.get(&target) else {
                    return Err(Error::BadPath {
                        path,
                        reason: "hardlink to an unknown file".to_owned(),
                    });
                };
                link(&self.dest, target, &path)
            }
            Op::Data { id, data } => {
                let file = self.pending.get_mut(&id).ok_or(Error::InvalidId(id))?;
                let temp = match &mut file.temp {
                    Some(temp) => temp,
                    slot @ None => slot.insert(create_temp(&self.dest, &file.path)?),
                };
                temp.write_all(&data).map_err(io_error(temp.path()))
            }
            Op::Finish { id } => self.finish_file(id),
            Op::Done => self.finish(),
        }
    }

    fn dir(&mut self, path: &str, mode: u32, mtime: i64) -> Result<(), Error> {
        let full = self.dest.join(path);
        match fs::symlink_metadata(&full) {
            Ok(existing) if existing.is_dir() => {}
            Ok(_) => {
                fs::remove_file(&full).map_err(io_error(&full))?;
                fs::create_dir(&full).map_err(io_error(&full))?;
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&full).map_err(io_error(&full))?;
            }
            Err(source) => return Err(Error::Io { path: full, source }),
        }
        // Writable until the end, whatever its final mode.
        let writable = Permissions::from_mode(unix_permissions(mode) | 0o700);
        fs::set_permissions(&full, writable).map_err(io_error(&full))?;
        self.dirs.push((full, mode, mtime));
        Ok(())
    }

    /// Completes a file: mode, time, rename into place, then its waiting hardlinks.
    fn finish_file(&mut self, id: u32) -> Result<(), Error> {
        let file = self.pending.remove(&id).ok_or(Error::InvalidId(id))?;
        let temp = match file.temp {
            Some(temp) => temp,
            None => create_temp(&self.dest, &file.path)?,
        };
        let handle = temp.as_file();
        handle
            .set_permissions(Permissions::from_mode(unix_permissions(file.mode)))
            .map_err(io_error(temp.path()))?;
        handle
            .set_modified(system_time(file.mtime))
            .map_err(io_error(temp.path()))?;
        let full = self.dest.join(&file.path);
        if fs::symlink_metadata(&full).is_ok_and(|existing| existing.is_dir()) {
            fs::remove_dir_all(&full).map_err(io_error(&full))?;
        }
        temp.persist(&full).map_err(|error| Error::Io {
            path: full.clone(),
            source: error.error,
        })?;
        for path in &file.links {
            link(&self.dest, &file.path, path)?;
        }
        self.complete.insert(id, file.path);
        Ok(())
    }

    /// Applies the directories' modes and times, deepest first so that finishing a directory
    /// does not change its parent afterwards.
    fn finish(&mut self) -> Result<(), Error> {
        for (path, mode, mtime) in self.dirs.drain(..).rev() {
            let dir = File::open(&path).map_err(io_error(&path))?;
            dir.set_modified(system_time(mtime))
                .map_err(io_error(&path))?;
            dir.set_permissions(Permissions::from_mode(unix_permissions(mode)))
                .map_err(io_error(&path))?;
        }
        Ok(())
    }
}

/// Creates the temporary file for the regular file at `path`, in the same directory.
fn create_temp(dest: &Path, path: &str) -> Result<NamedTempFile, Error> {
    let full = dest.join(path);
    let dir = full.parent().unwrap_or(dest);
    tempfile::Builder::new()
        .prefix(".depot-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io_error(&full))
}

/// Makes `path` a hardlink to the complete file `target`, replacing what is there.
fn link(dest: &Path, target: &str, path: &str) -> Result<(), Error> {
    let full = dest.join(path);
    remove_existing(&full)?;
    fs::hard_link(dest.join(target), &full).map_err(io_error(&full))
}

/// Removes whatever is at `path` (a directory with its contents), if anything.
fn remove_existing(path: &Path) -> Result<(), Error> {
    let result = match fs::symlink_metadata(path) {
        Ok(existing) if existing.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    };
    result.map_err(io_error(path))
}

/// The time `nanos` nanoseconds from the epoch (negative: before it).
fn system_time(nanos: i64) -> SystemTime {
    let offset = Duration::from_nanos(nanos.unsigned_abs());
    if nanos >= 0 {
        UNIX_EPOCH + offset
    } else {
        UNIX_EPOCH - offset
    }
}

/// Maps an I/O error to [`Error::Io`] for `path`.
fn io_error(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_times() {
        assert_eq!(system_time(0), UNIX_EPOCH);
        assert_eq!(
            system_time(1_500_000_000_123_456_789),
            UNIX_EPOCH + Duration::new(1_500_000_000, 123_456_789)
        );
        assert_eq!(
            system_time(-1_000_000_000),
            UNIX_EPOCH - Duration::new(1, 0)
        );
    }

    #[test]
    fn aborted_transfers_leave_no_temporary_files() {
        let dest = tempfile::tempdir().unwrap();
        let (ops, rx) = mpsc::channel(8);
        let dest_path = dest.path().to_owned();
        let writer = std::thread::spawn(move || run(dest_path, rx));
        for op in [
            Op::Dir {
                path: "d".into(),
                mode: crate::fsutil::stat::MODE_DIR | 0o755,
                mtime: 0,
            },
            Op::File {
                id: 1,
                path: "d/f".into(),
                mode: 0o644,
                mtime: 0,
            },
            Op::Data {
                id: 1,
                data: b"half".to_vec(),
            },
        ] {
            ops.blocking_send(op).unwrap();
        }
        drop(ops);
        writer.join().unwrap().unwrap();
        let left: Vec<_> = fs::read_dir(dest.path().join("d")).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
