//! The receiver's checks on the paths it is sent: each must be clean and relative, and they must
//! come in walk order with every parent directory sent before what is in it.
//!
//! The second rule is what keeps a receiver inside its destination: an entry is only created
//! inside a directory that was itself sent as a directory earlier in the transfer, so a symlink
//! sent as `link` can never be the way to `link/file`.

use super::Error;

/// Follows the listing, as a stack of the directories that contain the last entry.
pub struct Order {
    /// `(directory, name of its last entry)`, from the root (`""`) down.
    open: Vec<(String, String)>,
}

impl Order {
    /// A check for a new listing.
    pub fn new() -> Self {
        Order {
            open: vec![(String::new(), String::new())],
        }
    }

    /// Checks the next entry of the listing, a directory or not.
    pub fn check(&mut self, path: &str, is_dir: bool) -> Result<(), Error> {
        validate_path(path)?;
        let (dir, name) = match path.rsplit_once('/') {
            Some((dir, name)) => (dir, name),
            None => ("", path),
        };
        let Some(level) = self.open.iter().rposition(|(open, _)| open == dir) else {
            return Err(Error::Protocol(format!(
                "changes out of order: {path:?} is not inside a directory sent before it"
            )));
        };
        self.open.truncate(level + 1);
        let (_, last) = &mut self.open[level];
        if !last.is_empty() && name.as_bytes() <= last.as_bytes() {
            return Err(Error::Protocol(format!(
                "changes out of order: {path:?} after {last:?}"
            )));
        }
        name.clone_into(last);
        if is_dir {
            self.open.push((path.to_owned(), String::new()));
        }
        Ok(())
    }
}

/// Checks that a path is relative, clean (no empty, `.` or `..` components, no trailing `/`)
/// and has no NUL byte.
pub fn validate_path(path: &str) -> Result<(), Error> {
    let reason = if path.is_empty() {
        "empty path"
    } else if path.starts_with('/') {
        "absolute paths are not allowed"
    } else if path.contains('\0') {
        "NUL byte in path"
    } else if path.split('/').any(|c| c == "..") {
        "`..` is not allowed"
    } else if path.split('/').any(|c| c.is_empty() || c == ".") {
        "path is not clean"
    } else {
        return Ok(());
    };
    Err(Error::BadPath {
        path: path.to_owned(),
        reason: reason.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(entries: &[(&str, bool)]) -> Result<(), Error> {
        let mut order = Order::new();
        entries
            .iter()
            .try_for_each(|&(path, is_dir)| order.check(path, is_dir))
    }

    #[test]
    fn accepts_walk_order() {
        run(&[
            ("B", false),
            ("a", true),
            ("a/b", true),
            ("a/b/c", false),
            ("a/x", false),
            ("a.txt", false),
            ("b", true),
            ("b/z", true),
            ("c", false),
        ])
        .unwrap();
        run(&[]).unwrap();
    }

    #[test]
    fn rejects_disorder_and_missing_parents() {
        for entries in [
            &[("b", false), ("a", false)][..],
            &[("a", false), ("a", false)],
            &[("a", true), ("a.txt", false), ("a/x", false)],
            &[("a/x", false)],
            &[("link", false), ("link/passwd", false)],
            &[("a", true), ("a/b", true), ("c", false), ("a/b/x", false)],
        ] {
            let error = run(entries).unwrap_err();
            assert!(
                error.to_string().contains("changes out of order"),
                "{entries:?}: {error}"
            );
        }
    }

    #[test]
    fn rejects_bad_paths() {
        for (path, reason) in [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("..", "`..`"),
            ("a/../b", "`..`"),
            ("../x", "`..`"),
            ("a//b", "clean"),
            ("./a", "clean"),
            ("a/", "clean"),
            ("a/.", "clean"),
            ("a\0b", "NUL"),
        ] {
            let error = validate_path(path).unwrap_err();
            assert!(
                matches!(&error, Error::BadPath { reason: r, .. } if r.contains(reason)),
                "{path:?}: {error}"
            );
        }
        validate_path("a/b.c/..d/...").unwrap();
    }
}
