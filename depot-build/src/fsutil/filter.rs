//! Which paths of a tree the sender sends: BuildKit's include patterns, exclude patterns and
//! follow paths.

use std::path::Path;

use crate::dockerignore::DockerIgnore;

use super::Error;
use super::follow;

/// The paths a sender sends, from the include patterns, exclude patterns and follow paths that
/// BuildKit passes with each transfer. The default sends everything.
///
/// - **Exclude patterns** have `.dockerignore` semantics ([`DockerIgnore`], without comments):
///   an excluded path is not sent, exceptions (`!pattern`) re-include paths, and an excluded
///   directory is only entered when an exception may re-include something below it.
/// - **Include patterns**, when there are any, restrict the transfer to the paths that match a
///   pattern or are below a directory that does; they use the same glob syntax (`*`, `?`,
///   `[…]`, `**`), and a plain path is a pattern matching itself and everything below it. The
///   directories above an included path are sent right before it even when they do not match.
///   A pattern naming the root (`.`) includes everything.
/// - **Follow paths** are paths whose symlinks are resolved inside the root: each path, the
///   symlinks met while resolving it and its final target become include patterns, so a
///   symlinked Dockerfile is sent together with the file it points to. Follow paths are
///   resolved when the filter is made; ones containing glob characters are added as patterns
///   without resolution.
///
/// A path is sent when it is included and not excluded.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `None` includes everything.
    includes: Option<DockerIgnore>,
    excludes: DockerIgnore,
}

impl Filter {
    /// Builds a filter for the tree at `root` (read to resolve `follow_paths`).
    ///
    /// Fails on a malformed pattern, or when a follow path cannot be resolved (an unreadable
    /// directory on the way, a symlink loop).
    pub fn new(
        root: &Path,
        includes: Vec<String>,
        excludes: Vec<String>,
        follow_paths: Vec<String>,
    ) -> Result<Filter, Error> {
        let mut includes = includes;
        for path in follow_paths {
            if has_glob(&path) {
                includes.push(path);
                continue;
            }
            includes.extend(follow::resolve(root, &path)?.iter().map(|p| escape(p)));
            includes.push(escape(&path));
        }
        let includes = if includes.iter().any(|pattern| names_root(pattern)) {
            None
        } else {
            Some(DockerIgnore::from_patterns(&includes)?).filter(|set| !set.is_empty())
        };
        Ok(Filter {
            includes,
            excludes: DockerIgnore::from_patterns(&excludes)?,
        })
    }

    /// Whether the entry at `path` (relative, `/`-separated) is sent.
    pub(crate) fn includes(&self, path: &str) -> bool {
        self.includes.as_ref().is_none_or(|set| set.matches(path)) && !self.excludes.matches(path)
    }

    /// Whether the directory at `path` is entered: something below it may be sent.
    pub(crate) fn descends(&self, path: &str) -> bool {
        let included = self
            .includes
            .as_ref()
            .is_none_or(|set| set.matches(path) || set.may_match_below(path));
        included && self.excludes.may_include_below(path)
    }
}

/// Whether a pattern cleans to the root (`.`, `/`, `./`), which includes everything.
fn names_root(pattern: &str) -> bool {
    let pattern = pattern.trim();
    !pattern.is_empty()
        && pattern
            .split('/')
            .all(|segment| segment.is_empty() || segment == ".")
}

/// Whether a path has characters that are special in patterns.
fn has_glob(path: &str) -> bool {
    path.contains(['*', '?', '[', '\\'])
}

/// A pattern that matches exactly `path` (and what is below it).
fn escape(path: &str) -> String {
    let mut escaped = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::fsutil::walk::tests::{make_tree, paths};

    fn filter(root: &Path, includes: &[&str], excludes: &[&str], follow: &[&str]) -> Filter {
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        Filter::new(root, strings(includes), strings(excludes), strings(follow)).unwrap()
    }

    #[test]
    fn includes_send_parents_lazily() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        make_tree(
            root,
            &[
                "a/x",
                "a/y/z",
                "a/y/w",
                "b",
                "src/main.rs",
                "src/lib/x.rs",
                "README",
            ],
        );
        assert_eq!(
            paths(root, &filter(root, &["a/y/z"], &[], &[])),
            ["a", "a/y", "a/y/z"]
        );
        assert_eq!(
            paths(root, &filter(root, &["a/y"], &[], &[])),
            ["a", "a/y", "a/y/w", "a/y/z"]
        );
        assert_eq!(
            paths(root, &filter(root, &["/a/y/z", "b"], &[], &[])),
            ["a", "a/y", "a/y/z", "b"]
        );
        assert_eq!(
            paths(root, &filter(root, &["**/*.rs"], &[], &[])),
            ["src", "src/lib", "src/lib/x.rs", "src/main.rs"]
        );
        assert_eq!(
            paths(root, &filter(root, &["a/*/w", "nothing"], &[], &[])),
            ["a", "a/y", "a/y/w"]
        );
        let everything = paths(root, &Filter::default());
        assert_eq!(everything.len(), 11);
        assert_eq!(paths(root, &filter(root, &["."], &[], &[])), everything);
        assert_eq!(paths(root, &filter(root, &[""], &[], &[])), everything);
        // Includes and excludes together.
        assert_eq!(
            paths(root, &filter(root, &["a"], &["a/y/w"], &[])),
            ["a", "a/x", "a/y", "a/y/z"]
        );
    }

    #[test]
    fn excludes_with_exceptions() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        make_tree(
            root,
            &[
                "a.log",
                "keep.log",
                "main.js",
                "logs/x.log",
                "node_modules/pkg/index.js",
                "node_modules/pkg/other.js",
                "node_modules/other/x.js",
                "#notes",
            ],
        );
        let excludes = [
            "*.log",
            "!keep.log",
            "node_modules",
            "!node_modules/pkg/index.js",
        ];
        assert_eq!(
            paths(root, &filter(root, &[], &excludes, &[])),
            [
                "#notes",
                "keep.log",
                "logs",
                // `*.log` only matches at the root.
                "logs/x.log",
                "main.js",
                "node_modules",
                "node_modules/pkg",
                "node_modules/pkg/index.js"
            ]
        );
        // A pattern starting with `#` is a pattern, not a comment.
        assert_eq!(
            paths(
                root,
                &filter(root, &[], &["#notes", "node_modules", "logs"], &[])
            ),
            ["a.log", "keep.log", "main.js"]
        );
        assert!(Filter::new(root, vec![], vec!["[".into()], vec![]).is_err());
        assert!(Filter::new(root, vec!["[".into()], vec![], vec![]).is_err());
    }

    #[test]
    fn follow_paths_send_symlink_targets() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        make_tree(
            root,
            &["sub/real.Dockerfile", "sub/other", "other", "we[ir]d/x"],
        );
        symlink("sub/real.Dockerfile", root.join("Dockerfile")).unwrap();
        symlink("we[ir]d", root.join("odd")).unwrap();
        assert_eq!(
            paths(root, &filter(root, &[], &[], &["Dockerfile"])),
            ["Dockerfile", "sub", "sub/real.Dockerfile"]
        );
        assert_eq!(
            paths(
                root,
                &filter(
                    root,
                    &["Dockerfile"],
                    &[],
                    &["Dockerfile", "Dockerfile.dockerignore"]
                )
            ),
            ["Dockerfile", "sub", "sub/real.Dockerfile"]
        );
        // Resolved paths are literal even with pattern characters in them.
        assert_eq!(
            paths(root, &filter(root, &[], &[], &["odd/x"])),
            ["odd", "we[ir]d", "we[ir]d/x"]
        );
        // A follow path with glob characters is a plain pattern.
        assert_eq!(
            paths(root, &filter(root, &[], &[], &["sub/o*"])),
            ["sub", "sub/other"]
        );
    }
}
