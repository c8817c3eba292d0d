//! The sender's walk: the STATs of a tree in protocol order.
//!
//! The order is depth-first pre-order with the entries of each directory sorted by the bytes of
//! their names, so a directory comes right before its contents and `a`, `a/x`, `a.txt` is the
//! order of those three paths. The root itself is not sent. Sockets are skipped.
//!
//! Filtering follows [`Filter`]: an entry is sent when the filter includes it, a directory is
//! entered when something below it may be included, and a directory that is entered without
//! being included itself is sent lazily, right before the first entry below it that is sent.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, DirEntry};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use bollard_buildkit_proto::fsutil::types::Stat;

use super::Error;
use super::filter::Filter;
use super::stat::stat_from_metadata;

/// A directory being walked.
struct Frame {
    /// The directory's path relative to the root (`""` for the root).
    path: String,
    /// Its entries not visited yet, in name order.
    entries: std::vec::IntoIter<(OsString, DirEntry)>,
    /// The directory's STAT when it has not been sent yet (sent lazily).
    pending: Option<Stat>,
}

/// Walks `root` and calls `emit` with the STAT of every entry to send, in protocol order.
///
/// A regular file with more than one link whose `(dev, inode)` was already sent is sent as a
/// hardlink: its `linkname` is the first path sent and its size is 0. The walk stops early,
/// returning `Ok`, once `cancel` is set; an error from `emit` stops it with that error.
pub fn walk(
    root: &Path,
    filter: &Filter,
    cancel: &AtomicBool,
    emit: &mut dyn FnMut(Stat) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut stack = vec![Frame {
        path: String::new(),
        entries: read_sorted(root)?.into_iter(),
        pending: None,
    }];
    let mut inodes: HashMap<(u64, u64), String> = HashMap::new();
    while let Some(frame) = stack.last_mut() {
        if cancel.load(Ordering::Relaxed) {
            return Ok(());
        }
        let Some((name, entry)) = frame.entries.next() else {
            stack.pop();
            continue;
        };
        let path = match name.into_string() {
            Ok(name) if frame.path.is_empty() => name,
            Ok(name) => format!("{}/{name}", frame.path),
            Err(name) => {
                return Err(Error::BadPath {
                    path: entry.path().to_string_lossy().into_owned(),
                    reason: format!("the name {name:?} is not valid UTF-8"),
                });
            }
        };
        let metadata = match entry.metadata() {
            Ok(metadata) => metadata,
            // Removed since the directory was read.
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(Error::Io {
                    path: entry.path(),
                    source,
                });
            }
        };
        let file_type = metadata.file_type();
        if file_type.is_socket() {
            continue;
        }
        if file_type.is_dir() {
            // A directory the filter includes is always entered.
            if !filter.descends(&path) {
                continue;
            }
            let entries = read_sorted(&entry.path())?.into_iter();
            let stat = stat_from_metadata(path.clone(), &metadata, String::new(), false);
            let pending = if filter.includes(&path) {
                flush_parents(&mut stack, emit)?;
                emit(stat)?;
                None
            } else {
                Some(stat)
            };
            stack.push(Frame {
                path,
                entries,
                pending,
            });
            continue;
        }
        if !filter.includes(&path) {
            continue;
        }
        let mut linkname = String::new();
        let mut hardlink = false;
        if file_type.is_symlink() {
            let target = fs::read_link(entry.path()).map_err(|source| Error::Io {
                path: entry.path(),
                source,
            })?;
            linkname = target
                .into_os_string()
                .into_string()
                .map_err(|target| Error::BadPath {
                    path: path.clone(),
                    reason: format!("the symlink target {target:?} is not valid UTF-8"),
                })?;
        } else if file_type.is_file() && metadata.nlink() > 1 {
            let key = (metadata.dev(), metadata.ino());
            match inodes.get(&key) {
                Some(first) => {
                    linkname = first.clone();
                    hardlink = true;
                }
                None => {
                    inodes.insert(key, path.clone());
                }
            }
        }
        flush_parents(&mut stack, emit)?;
        emit(stat_from_metadata(path, &metadata, linkname, hardlink))?;
    }
    Ok(())
}

/// Sends the STATs of the directories being walked that have not been sent yet, outermost
/// first.
fn flush_parents(
    stack: &mut [Frame],
    emit: &mut dyn FnMut(Stat) -> Result<(), Error>,
) -> Result<(), Error> {
    for frame in stack {
        if let Some(stat) = frame.pending.take() {
            emit(stat)?;
        }
    }
    Ok(())
}

/// The entries of a directory, sorted by the bytes of their names.
fn read_sorted(dir: &Path) -> Result<Vec<(OsString, DirEntry)>, Error> {
    let io_error = |source| Error::Io {
        path: dir.to_owned(),
        source,
    };
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        entries.push((entry.file_name(), entry));
    }
    entries.sort_unstable_by(|(a, _), (b, _)| a.as_bytes().cmp(b.as_bytes()));
    Ok(entries)
}

#[cfg(test)]
pub(super) mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;
    use crate::fsutil::stat::{MODE_DIR, MODE_SYMLINK, MODE_TYPE};

    /// The STATs a walk sends.
    pub fn collect(root: &Path, filter: &Filter) -> Vec<Stat> {
        let mut stats = Vec::new();
        walk(root, filter, &AtomicBool::new(false), &mut |stat| {
            stats.push(stat);
            Ok(())
        })
        .unwrap();
        stats
    }

    /// The paths a walk sends.
    pub fn paths(root: &Path, filter: &Filter) -> Vec<String> {
        collect(root, filter).into_iter().map(|s| s.path).collect()
    }

    /// Creates the files (with their text as contents) and directories (ending in `/`).
    pub fn make_tree(root: &Path, entries: &[&str]) {
        for entry in entries {
            let path = root.join(entry);
            if entry.ends_with('/') {
                fs::create_dir_all(&path).unwrap();
            } else {
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(&path, entry.as_bytes()).unwrap();
            }
        }
    }

    #[test]
    fn walks_in_byte_order_depth_first() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        make_tree(root, &["a/x", "a.txt", "B", "b", "empty/", "a/sub/"]);
        symlink("a.txt", root.join("link")).unwrap();
        symlink("/nowhere", root.join("a/dangling")).unwrap();

        let stats = collect(root, &Filter::default());
        let paths: Vec<&str> = stats.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "B",
                "a",
                "a/dangling",
                "a/sub",
                "a/x",
                "a.txt",
                "b",
                "empty",
                "link"
            ]
        );
        let by_path = |p: &str| stats.iter().find(|s| s.path == p).unwrap();
        assert_eq!(by_path("a").mode & MODE_DIR, MODE_DIR);
        assert_eq!(by_path("a").size, 0);
        assert_eq!(by_path("a/x").mode & MODE_TYPE, 0);
        assert_eq!(by_path("a/x").size, 3);
        let link = by_path("link");
        assert_eq!(link.mode & MODE_TYPE, MODE_SYMLINK);
        assert_eq!(link.linkname, "a.txt");
        assert_eq!(link.size, 5);
        assert_eq!(by_path("a/dangling").linkname, "/nowhere");
    }

    #[test]
    fn sends_hardlinks_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        make_tree(root, &["first", "z/"]);
        fs::hard_link(root.join("first"), root.join("z/second")).unwrap();
        fs::hard_link(root.join("first"), root.join("third")).unwrap();
        let stats = collect(root, &Filter::default());
        let summary: Vec<(&str, &str, i64)> = stats
            .iter()
            .map(|s| (s.path.as_str(), s.linkname.as_str(), s.size))
            .collect();
        assert_eq!(
            summary,
            [
                ("first", "", 5),
                ("third", "first", 0),
                ("z", "", 0),
                ("z/second", "first", 0)
            ]
        );
    }

    #[test]
    fn stops_when_cancelled_and_reports_emit_errors() {
        let dir = tempfile::tempdir().unwrap();
        make_tree(dir.path(), &["a", "b"]);
        let mut count = 0;
        walk(
            dir.path(),
            &Filter::default(),
            &AtomicBool::new(true),
            &mut |_| {
                count += 1;
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(count, 0);
        let error = walk(
            dir.path(),
            &Filter::default(),
            &AtomicBool::new(false),
            &mut |_| Err(Error::Closed),
        )
        .unwrap_err();
        assert!(matches!(error, Error::Closed), "{error}");
    }

    #[test]
    fn reports_missing_roots_and_stats_stably() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let mut emit = |_| Ok(());
        let error = walk(
            &missing,
            &Filter::default(),
            &AtomicBool::new(false),
            &mut emit,
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with(&missing.display().to_string())
        );
        // The same tree gives the same STATs walk after walk.
        make_tree(dir.path(), &["f"]);
        fs::set_permissions(dir.path().join("f"), fs::Permissions::from_mode(0o640)).unwrap();
        let first = collect(dir.path(), &Filter::default());
        assert_eq!(first[0].mode, 0o640);
        assert_eq!(first, collect(dir.path(), &Filter::default()));
    }
}
