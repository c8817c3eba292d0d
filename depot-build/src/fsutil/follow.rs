//! Resolving "follow paths": paths whose symlinks the sender resolves so that their targets are
//! sent too (BuildKit asks for the Dockerfile this way, which may be a symlink).
//!
//! Resolution stays inside the root: an absolute symlink target is taken relative to the root
//! and `..` stops at the root, as if the root were `/`.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::Path;

use super::Error;

/// How many symlinks one path may go through, as Linux allows (`ELOOP`).
const MAX_LINKS: usize = 40;

/// Resolves the `/`-separated `path`, relative to `root`, through symlinks.
///
/// Returns every symlink met on the way (so the receiver can follow them too) and the final
/// path, each relative to the root, cleaned, and in the order met. A component that does not
/// exist ends the resolution: the rest of the path is kept as written. The root itself is
/// never returned.
pub fn resolve(root: &Path, path: &str) -> Result<Vec<String>, Error> {
    // The path itself is cleaned lexically first, like Go's `filepath.Clean`.
    let mut pending = VecDeque::new();
    for component in components(path) {
        if component == ".." {
            pending.pop_back();
        } else {
            pending.push_back(component);
        }
    }
    let mut current: Vec<String> = Vec::new();
    let mut found = Vec::new();
    let mut links = 0;
    // Once a component is missing, the rest is only cleaned lexically.
    let mut missing = false;
    while let Some(component) = pending.pop_front() {
        if component == ".." {
            current.pop();
            continue;
        }
        current.push(component);
        if missing {
            continue;
        }
        let relative = current.join("/");
        let full = root.join(&relative);
        let metadata = match fs::symlink_metadata(&full) {
            Ok(metadata) => metadata,
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                missing = true;
                continue;
            }
            Err(source) => return Err(Error::Io { path: full, source }),
        };
        if !metadata.file_type().is_symlink() {
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return Err(Error::BadPath {
                path: path.to_owned(),
                reason: "too many levels of symbolic links".to_owned(),
            });
        }
        let target = fs::read_link(&full).map_err(|source| Error::Io {
            path: full.clone(),
            source,
        })?;
        let target = target.to_str().ok_or_else(|| Error::BadPath {
            path: relative.clone(),
            reason: "the symlink target is not valid UTF-8".to_owned(),
        })?;
        found.push(relative);
        current.pop();
        if target.starts_with('/') {
            current.clear();
        }
        for component in components(target).rev() {
            pending.push_front(component);
        }
    }
    if !current.is_empty() {
        found.push(current.join("/"));
    }
    Ok(found)
}

/// The components of a path other than empty and `.` ones.
fn components(path: &str) -> impl DoubleEndedIterator<Item = String> + '_ {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn resolves_within_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("sub/deeper")).unwrap();
        fs::write(root.join("sub/real.Dockerfile"), "FROM scratch").unwrap();
        symlink("sub/real.Dockerfile", root.join("Dockerfile")).unwrap();
        symlink("sub", root.join("d")).unwrap();
        symlink("/sub/real.Dockerfile", root.join("abs")).unwrap();
        symlink(
            "../../../../sub/real.Dockerfile",
            root.join("sub/deeper/up"),
        )
        .unwrap();
        symlink("loop", root.join("loop")).unwrap();
        symlink("/etc/passwd", root.join("esc")).unwrap();

        let cases: &[(&str, &[&str])] = &[
            ("Dockerfile", &["Dockerfile", "sub/real.Dockerfile"]),
            ("./Dockerfile", &["Dockerfile", "sub/real.Dockerfile"]),
            ("d/real.Dockerfile", &["d", "sub/real.Dockerfile"]),
            ("abs", &["abs", "sub/real.Dockerfile"]),
            ("sub/deeper/up", &["sub/deeper/up", "sub/real.Dockerfile"]),
            ("esc", &["esc", "etc/passwd"]),
            ("missing/x", &["missing/x"]),
            ("sub/real.Dockerfile/x", &["sub/real.Dockerfile/x"]),
            (
                "plain/../Dockerfile",
                &["Dockerfile", "sub/real.Dockerfile"],
            ),
            ("missing/../../x", &["x"]),
            ("d/../sub/real.Dockerfile", &["sub/real.Dockerfile"]),
            ("missing/link/../x", &["missing/x"]),
            (".", &[]),
        ];
        for &(path, expected) in cases {
            assert_eq!(resolve(root, path).unwrap(), expected, "{path}");
        }
        let error = resolve(root, "loop").unwrap_err();
        assert!(error.to_string().contains("too many levels"), "{error}");
    }
}
