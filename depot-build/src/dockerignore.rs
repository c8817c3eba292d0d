//! Docker's `.dockerignore` semantics: which paths of a build context are left out.
//!
//! # File format
//!
//! One pattern per line. A line whose first character (column 1) is `#` is a comment; a `#`
//! after leading whitespace is part of a pattern, as in Docker. Every other line is trimmed of
//! surrounding whitespace and ignored if blank. A leading `!` (optionally followed by
//! whitespace) makes the line an *exception*: paths it matches are re-included. A UTF-8 byte
//! order mark at the start of the file is skipped.
//!
//! Each pattern is cleaned lexically like Go's `filepath.Clean`: repeated `/` collapse, `.`
//! segments go, `..` removes the segment before it, and a trailing `/` is dropped. Patterns are
//! relative to the context root, so a leading `/` is dropped too: `/foo/bar`, `./foo/bar`,
//! `foo//bar/` and `foo/bar` are the same pattern. A pattern that cleans to the root (`.` or
//! `/`) can match no path of the context and is dropped.
//!
//! # Pattern syntax
//!
//! The syntax is Go's `filepath.Match` with Docker's `**` extension:
//!
//! - `*` matches any run of characters other than `/`;
//! - `?` matches one character other than `/`;
//! - `[...]` matches one character (never `/`) in the class: single characters and ranges
//!   `lo-hi`, negated by a leading `^` (Go's syntax: `[!…]` is a class holding `!`); inside a class `\` escapes the next character,
//!   and an unescaped `-` or `]` where a character is expected is an error, so `[]` is invalid;
//! - `\c` matches the character `c` literally;
//! - `**` at the end of a pattern matches everything, `/` included (`foo/**` matches all paths
//!   below `foo`); anywhere else `**` together with a `/` that follows it matches either
//!   nothing or any text ending in `/`, that is any number of leading directories (`**/foo`
//!   matches `foo` and `a/b/foo`; `a/**/b` matches `a/b` and `a/x/y/b`). As in Docker, `**`
//!   followed by something other than `/` behaves the same way, so `**.go` matches `.go` and
//!   `a/.go` but not `x.go`: write `**/*.go`.
//!
//! A malformed pattern (unclosed or empty class, bad range, trailing `\`, a lone `!`) is an
//! [`Error::Pattern`] naming its line.
//!
//! Patterns that come as a list rather than a file (BuildKit passes them so) go through
//! [`DockerIgnore::from_patterns`]: one pattern per item, and no comments.
//!
//! # Matching
//!
//! [`DockerIgnore::matches`] takes a `/`-separated path relative to the context root. A pattern
//! applies to a path when it matches the path itself or any of its parent directories (`build`
//! ignores `build/out/x.o`; `*/tmp` ignores `a/tmp/b`). Patterns are considered in file order and
//! the last one that applies decides: a plain pattern ignores the path, an exception keeps it.
//! Whether the path is a file or a directory makes no difference.
//!
//! # Walking a context
//!
//! Ignoring a directory does not settle its contents when exceptions follow: with `vendor` then
//! `!vendor/keep.txt`, `vendor` is ignored but `vendor/keep.txt` is not. A walker therefore
//! skips an ignored directory only when [`DockerIgnore::may_include_below`] says nothing below it
//! can be kept, and otherwise descends without sending the directory entry itself. The result is
//! the same as filtering every path of the context with [`DockerIgnore::matches`].
//!
//! # Locating the file
//!
//! [`ignore_file_for`] picks `<Dockerfile>.dockerignore` next to the Dockerfile over
//! `<context>/.dockerignore`, as BuildKit does; [`DockerIgnore::load`] reads whichever exists.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// An error reading or parsing a `.dockerignore` file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A line is not a valid pattern.
    #[error("{}line {line}: invalid pattern {pattern:?}: {message}", FileLabel(.file.as_deref()))]
    Pattern {
        /// The file the pattern came from, when it was read from one.
        file: Option<PathBuf>,
        /// The 1-based line number.
        line: usize,
        /// The line as written, without surrounding whitespace.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// The file could not be read (it does not exist, is not readable, or is not UTF-8).
    #[error("cannot read {}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
}

/// Formats the optional file part of [`Error::Pattern`]'s message as `<file>: `.
struct FileLabel<'a>(Option<&'a Path>);

impl fmt::Display for FileLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(path) => write!(f, "{}: ", path.display()),
            None => Ok(()),
        }
    }
}

/// The parsed patterns of a `.dockerignore` file, in file order.
///
/// The default value has no patterns and ignores nothing.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

/// One pattern of a `.dockerignore` file.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    exception: bool,
    line: usize,
    tokens: Vec<Token>,
}

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// This exact character.
    Literal(char),
    /// `?`: one character other than `/`.
    AnyChar,
    /// `[...]`: one character other than `/` in (or, negated, not in) the class.
    Class(Class),
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**` not at the end: nothing, or any text ending in `/`.
    Dirs,
    /// `**` at the end: anything.
    Rest,
}

/// A character class: inclusive ranges, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl Class {
    fn contains(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore` file (see the [module docs](self) for the format).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lines = text
            .lines()
            .enumerate()
            .filter(|(_, raw)| !raw.starts_with('#'));
        Self::from_lines(lines)
    }

    /// Builds a set from a list of patterns, one pattern per item, as BuildKit passes them
    /// (already read from a file, or given on the command line).
    ///
    /// Each item is one line of the [file format](self) except that there are no comments: an
    /// item starting with `#` is a pattern. Blank items are skipped; a pattern error names the
    /// 1-based position of the item as its line.
    pub fn from_patterns<I, S>(patterns: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let items: Vec<S> = patterns.into_iter().collect();
        Self::from_lines(items.iter().map(AsRef::as_ref).enumerate())
    }

    /// Compiles `(0-based line index, line)` pairs that are not comments.
    fn from_lines<'a>(lines: impl Iterator<Item = (usize, &'a str)>) -> Result<Self, Error> {
        let mut patterns = Vec::new();
        for (index, raw) in lines {
            let line = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            let error = |message: &str| Error::Pattern {
                file: None,
                line,
                pattern: trimmed.to_owned(),
                message: message.to_owned(),
            };
            let (exception, body) = match trimmed.strip_prefix('!') {
                Some(rest) => (true, rest.trim_start()),
                None => (false, trimmed),
            };
            if body.is_empty() {
                return Err(error("an exception needs a pattern after `!`"));
            }
            let text = clean(body);
            if text.is_empty() {
                continue;
            }
            let tokens = compile(&text).map_err(error)?;
            patterns.push(Pattern {
                text,
                exception,
                line,
                tokens,
            });
        }
        Ok(Self { patterns })
    }

    /// Reads and parses an ignore file; a pattern error names the file.
    pub fn read(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|error| match error {
            Error::Pattern {
                line,
                pattern,
                message,
                ..
            } => Error::Pattern {
                file: Some(path.to_owned()),
                line,
                pattern,
                message,
            },
            other => other,
        })
    }

    /// Reads the ignore file that applies to a build ([`ignore_file_for`]), or returns an empty
    /// set of patterns when there is none.
    pub fn load(context: &Path, dockerfile: Option<&Path>) -> Result<Self, Error> {
        match ignore_file_for(context, dockerfile) {
            Some(path) => Self::read(&path),
            None => Ok(Self::default()),
        }
    }

    /// The patterns, in file order (comments, blank lines and root patterns left out).
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether there are no patterns, so nothing is ignored.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `path` (`/`-separated, relative to the context root) is ignored: the last pattern
    /// that matches the path or one of its parent directories is not an exception.
    ///
    /// The path is cleaned like a pattern first, so `./a/b/` is `a/b`. The context root itself
    /// (`""`, `.` or `/`) is never ignored.
    pub fn matches(&self, path: &str) -> bool {
        let path: Vec<char> = clean(path).chars().collect();
        !path.is_empty()
            && self
                .last_applying(&path)
                .is_some_and(|index| !self.patterns[index].exception)
    }

    /// Whether anything strictly below the directory `dir` may be kept, for a walker deciding
    /// whether to descend into it.
    ///
    /// `false` means every path below `dir` is certainly ignored, so the walker can skip the
    /// directory. `true` means something below may be kept: always when `dir` itself is not
    /// ignored (including the context root), and for an ignored `dir` when an exception that
    /// comes after the last pattern ignoring it could match a path below it (`vendor` then
    /// `!vendor/keep`, or `!**/keep`). The answer errs towards `true`; descending needlessly
    /// only costs time.
    pub fn may_include_below(&self, dir: &str) -> bool {
        let dir: Vec<char> = clean(dir).chars().collect();
        if dir.is_empty() {
            return true;
        }
        let after = match self.last_applying(&dir) {
            Some(index) if !self.patterns[index].exception => index + 1,
            _ => return true,
        };
        let below: Vec<char> = dir.iter().copied().chain(['/']).collect();
        self.patterns[after..]
            .iter()
            .any(|pattern| pattern.exception && pattern.could_extend(&below))
    }

    /// Whether some pattern other than an exception could match a path strictly below the
    /// directory `dir`, ignoring what matches `dir` itself.
    ///
    /// This is for patterns used as an *include* list (BuildKit's include patterns), where a
    /// walker must descend into a directory that does not match when something below it still
    /// can (`src` for the pattern `src/*.rs`). Like [`may_include_below`](Self::may_include_below)
    /// the answer errs towards `true`.
    pub fn may_match_below(&self, dir: &str) -> bool {
        let below: Vec<char> = clean(dir).chars().chain(['/']).collect();
        let below = below.strip_prefix(&['/']).unwrap_or(&below);
        self.patterns
            .iter()
            .any(|pattern| !pattern.exception && pattern.could_extend(below))
    }

    /// The index of the last pattern that matches `path` or one of its parent directories.
    fn last_applying(&self, path: &[char]) -> Option<usize> {
        self.patterns
            .iter()
            .rposition(|pattern| pattern.matches_or_parent(path))
    }
}

impl Pattern {
    /// The cleaned pattern, without the `!` of an exception.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is an exception (`!pattern`), which re-includes what it matches.
    pub fn is_exception(&self) -> bool {
        self.exception
    }

    /// The 1-based line of the file the pattern is on.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Whether the pattern matches all of `path` or one of its parent directories.
    fn matches_or_parent(&self, path: &[char]) -> bool {
        let mut run = Run::new(&self.tokens);
        for &c in path {
            // Before a separator, what has been read so far is a parent directory.
            if c == '/' && run.accepts() {
                return true;
            }
            if !run.step(c) {
                return false;
            }
        }
        run.accepts()
    }

    /// Whether some continuation of `prefix` might still be matched by the pattern.
    fn could_extend(&self, prefix: &[char]) -> bool {
        let mut run = Run::new(&self.tokens);
        prefix.iter().all(|&c| run.step(c))
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.exception {
            f.write_str("!")?;
        }
        f.write_str(&self.text)
    }
}

/// Locates the ignore file for a build: `<dockerfile>.dockerignore` (the Dockerfile's own path
/// with `.dockerignore` appended, e.g. `app.Dockerfile.dockerignore`) when it exists, else
/// `<context>/.dockerignore` when it exists, else `None`.
///
/// `dockerfile` is the Dockerfile path as the caller resolved it (absolute, or relative to the
/// current directory, like `docker build -f`); pass `None` when the Dockerfile does not come
/// from a file (read from stdin), so only the context's file can apply.
pub fn ignore_file_for(context: &Path, dockerfile: Option<&Path>) -> Option<PathBuf> {
    if let Some(dockerfile) = dockerfile {
        let mut name = OsString::from(dockerfile.as_os_str());
        name.push(".dockerignore");
        let own = PathBuf::from(name);
        if own.is_file() {
            return Some(own);
        }
    }
    let shared = context.join(".dockerignore");
    shared.is_file().then_some(shared)
}

/// Cleans a `/`-separated path lexically (Go's `filepath.Clean`) and drops the leading `/`:
/// the result has no empty, `.` or trailing segments, and `..` only at the start of a relative
/// path. The root (`.` or `/`) cleans to `""`.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => match segments.last() {
                Some(&last) if last != ".." => {
                    segments.pop();
                }
                // `..` above the root is the root.
                _ if rooted => {}
                _ => segments.push(".."),
            },
            _ => segments.push(segment),
        }
    }
    segments.join("/")
}

/// Compiles a cleaned pattern into tokens, or says why it is malformed.
fn compile(pattern: &str) -> Result<Vec<Token>, &'static str> {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        let token = match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    Token::Rest
                } else {
                    Token::Dirs
                }
            }
            '*' => Token::Star,
            '?' => Token::AnyChar,
            '\\' => Token::Literal(chars.next().ok_or("trailing `\\` escapes nothing")?),
            '[' => Token::Class(compile_class(&mut chars)?),
            c => Token::Literal(c),
        };
        tokens.push(token);
    }
    Ok(tokens)
}

/// Compiles a character class whose `[` has been read, up to and including its `]`.
fn compile_class(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
) -> Result<Class, &'static str> {
    // Go's filepath.Match negates with `^` only; `[!…]` is a class that contains `!`.
    let negated = chars.next_if_eq(&'^').is_some();
    let mut ranges = Vec::new();
    loop {
        if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
            return Ok(Class { negated, ranges });
        }
        let lo = class_char(chars)?;
        let hi = if chars.next_if_eq(&'-').is_some() {
            class_char(chars)?
        } else {
            lo
        };
        if lo > hi {
            return Err("character range is out of order");
        }
        ranges.push((lo, hi));
    }
}

/// Reads one (possibly escaped) character of a class.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, &'static str> {
    match chars.next() {
        None => Err("unclosed character class: missing `]`"),
        Some('\\') => chars.next().ok_or("unclosed character class: missing `]`"),
        Some(']') => Err("empty character class or range"),
        Some('-') => Err("unescaped `-` in character class"),
        Some(c) => Ok(c),
    }
}

/// A pattern being matched one character at a time: the set of positions it may have reached.
///
/// `at[i]` means the first `i` tokens have matched what was read; `inside[i]` means token `i`
/// is a [`Token::Dirs`] that has consumed text not yet ended by a `/`.
struct Run<'t> {
    tokens: &'t [Token],
    at: Vec<bool>,
    inside: Vec<bool>,
    next_at: Vec<bool>,
    next_inside: Vec<bool>,
}

impl<'t> Run<'t> {
    fn new(tokens: &'t [Token]) -> Self {
        let n = tokens.len();
        let mut run = Self {
            tokens,
            at: vec![false; n + 1],
            inside: vec![false; n],
            next_at: vec![false; n + 1],
            next_inside: vec![false; n],
        };
        run.at[0] = true;
        close(tokens, &mut run.at);
        run
    }

    /// Whether everything read so far is a complete match.
    fn accepts(&self) -> bool {
        self.at[self.tokens.len()]
    }

    /// Reads `c`; returns whether any position is still alive.
    fn step(&mut self, c: char) -> bool {
        self.next_at.fill(false);
        self.next_inside.fill(false);
        for (i, token) in self.tokens.iter().enumerate() {
            if self.inside[i] {
                self.next_inside[i] = true;
                self.next_at[i + 1] |= c == '/';
            }
            if !self.at[i] {
                continue;
            }
            let segment_char = c != '/';
            match token {
                Token::Literal(l) => self.next_at[i + 1] |= c == *l,
                Token::AnyChar => self.next_at[i + 1] |= segment_char,
                Token::Class(class) => self.next_at[i + 1] |= segment_char && class.contains(c),
                Token::Star => self.next_at[i] |= segment_char,
                Token::Rest => self.next_at[i] = true,
                Token::Dirs => {
                    self.next_inside[i] = true;
                    self.next_at[i + 1] |= c == '/';
                }
            }
        }
        close(self.tokens, &mut self.next_at);
        std::mem::swap(&mut self.at, &mut self.next_at);
        std::mem::swap(&mut self.inside, &mut self.next_inside);
        self.at.iter().chain(&self.inside).any(|&alive| alive)
    }
}

/// Adds the positions reachable without reading: past tokens that can match nothing.
fn close(tokens: &[Token], at: &mut [bool]) {
    for (i, token) in tokens.iter().enumerate() {
        if at[i] && matches!(token, Token::Star | Token::Dirs | Token::Rest) {
            at[i + 1] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(patterns: &[&str]) -> DockerIgnore {
        DockerIgnore::parse(&patterns.join("\n")).expect("valid patterns")
    }

    /// (patterns, path, ignored?)
    const CASES: &[(&[&str], &str, bool)] = &[
        // The docs' example file.
        (&["*/temp*"], "somedir/temporary.txt", true),
        (&["*/temp*"], "somedir/temp", true),
        (&["*/temp*"], "temp", false),
        (&["*/temp*"], "a/b/temp", false),
        (&["*/*/temp*"], "somedir/subdir/temporary.txt", true),
        (&["*/*/temp*"], "a/b/temp.x", true),
        (&["*/*/temp*"], "a/temp.x", false),
        (&["temp?"], "tempa", true),
        (&["temp?"], "temp", false),
        (&["temp?"], "tempab", false),
        (&["temp?"], "dir/tempa", false),
        // `**`
        (&["**/*.go"], "x.go", true),
        (&["**/*.go"], "a/b/x.go", true),
        (&["**/*.go"], "a/b/x.gox", false),
        (&["**"], "anything/at/all", true),
        (&["foo/**"], "foo/x", true),
        (&["foo/**"], "foo/x/y/z", true),
        (&["foo/**"], "foo", false),
        (&["foo/**"], "foobar/x", false),
        (&["a/**/b"], "a/b", true),
        (&["a/**/b"], "a/x/b", true),
        (&["a/**/b"], "a/x/y/b", true),
        (&["a/**/b"], "a/x/yb", false),
        (&["a/**/b"], "a/b/c", true),
        (&["**/node_modules"], "node_modules", true),
        (
            &["**/node_modules"],
            "web/app/node_modules/x/index.js",
            true,
        ),
        (&["**.go"], ".go", true),
        (&["**.go"], "x.go", false),
        (&["a/**/*.txt"], "a/notes.txt", true),
        (&["a/**/*.txt"], "a/b/c/notes.txt", true),
        (&["a/**/*.txt"], "b/notes.txt", false),
        // Exceptions: the last applying pattern wins.
        (&["*.md", "!README.md"], "README.md", false),
        (&["*.md", "!README.md"], "CHANGELOG.md", true),
        (
            &["*.md", "!README*.md", "README-secret.md"],
            "README-secret.md",
            true,
        ),
        (
            &["*.md", "!README*.md", "README-secret.md"],
            "README-x.md",
            false,
        ),
        (
            &["*.md", "!README*.md", "README-secret.md"],
            "OTHER.md",
            true,
        ),
        (
            &["*.md", "README-secret.md", "!README*.md"],
            "README-secret.md",
            false,
        ),
        (&["!README*.md", "*.md"], "README.md", true),
        (&["*", "!src"], "src/main.rs", false),
        (&["*", "!src"], "target/debug/x", true),
        (&["*", "!src", "src/*.tmp"], "src/x.tmp", true),
        (&["vendor", "!vendor/keep.txt"], "vendor/keep.txt", false),
        (&["vendor", "!vendor/keep.txt"], "vendor/drop.txt", true),
        (
            &["docs", "!docs/api", "docs/api/*.bak"],
            "docs/api/x/y.md",
            false,
        ),
        (
            &["docs", "!docs/api", "docs/api/*.bak"],
            "docs/api/y.bak",
            true,
        ),
        (&["!*.md"], "a.md", false),
        // Leading `/`, `./`, trailing `/` and other cleaning.
        (&["/foo/bar"], "foo/bar", true),
        (&["./foo/bar"], "foo/bar", true),
        (&["foo/bar"], "bar", false),
        (&["foo/bar"], "x/foo/bar", false),
        (&["build/"], "build/x", true),
        (&["build/"], "build", true),
        (&["a//b"], "a/b", true),
        (&["a/./b"], "a/b", true),
        (&["a/../b"], "b", true),
        (&["/../b"], "b", true),
        (&["  spaced.txt  "], "spaced.txt", true),
        (&["! keep.txt", "*.txt", "!keep.txt"], "keep.txt", false),
        // Paths are cleaned too.
        (&["a/b"], "./a/b/", true),
        (&["a/b"], "/a/b", true),
        (&["*"], ".", false),
        (&["*"], "", false),
        // Parent directories.
        (&["dir"], "dir/file", true),
        (&["dir"], "dir/sub/file", true),
        (&["dir"], "dirx/file", false),
        (&["dir/*"], "dir/a", true),
        (&["dir/*"], "dir/a/b", true),
        (&["dir/*"], "dir", false),
        (&["*/tmp"], "a/tmp/b", true),
        // Comments and blank lines.
        (&["# comment", "", "   ", "x"], "x", true),
        (&["# comment"], "# comment", false),
        (&[" # not a comment"], "# not a comment", true),
        (&["#x"], "#x", false),
        // Character classes.
        (&["[a-c].txt"], "b.txt", true),
        (&["[a-c].txt"], "d.txt", false),
        (&["[^a-c].txt"], "d.txt", true),
        (&["[^a-c].txt"], "a.txt", false),
        (&["[!a-c].txt"], "d.txt", false),
        (&["[!a-c].txt"], "c.txt", true),
        (&["[!a-c].txt"], "!.txt", true),
        (&["[abx-z]"], "y", true),
        (&["[abx-z]"], "c", false),
        (&["a[^x]b"], "a/b", false),
        (&["[\\]]"], "]", true),
        (&["[\\-]"], "-", true),
        // Escapes.
        (&["\\*"], "*", true),
        (&["\\*"], "x", false),
        (&["a\\?"], "a?", true),
        (&["a\\?"], "ab", false),
        (&["\\[x]"], "[x]", true),
        // `*` and `?` stay within a segment.
        (&["*"], "a", true),
        (&["*.txt"], "a/b.txt", false),
        (&["a*b"], "a/b", false),
        (&["a?b"], "a/b", false),
        (&["a*b"], "ab", true),
        (&["a*b*c"], "axxbyyc", true),
        // Dot files are not special.
        (&[".git"], ".git/HEAD", true),
        (&[".*"], ".env", true),
        (&["*"], ".hidden", true),
        (&["**/.DS_Store"], "a/b/.DS_Store", true),
        // Unicode is matched by character.
        (&["caf?"], "café", true),
        (&["[à-é]"], "é", true),
        // Nothing ignores nothing.
        (&[], "a", false),
        (&["."], "a", false),
        (&["/"], "a", false),
    ];

    #[test]
    fn cases() {
        let mut failures = Vec::new();
        for &(patterns, path, expected) in CASES {
            if ignore(patterns).matches(path) != expected {
                failures.push(format!("{patterns:?} on {path:?}: expected {expected}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn parses_patterns_in_order() {
        let ignore = DockerIgnore::parse(
            "\u{feff}# comment\r\n\r\n/foo/bar/\r\n ! ./keep \r\n.\r\n**/*.go\r\n",
        )
        .unwrap();
        let parsed: Vec<(String, bool, usize)> = ignore
            .patterns()
            .iter()
            .map(|p| (p.as_str().to_owned(), p.is_exception(), p.line()))
            .collect();
        assert_eq!(
            parsed,
            [
                ("foo/bar".to_owned(), false, 3),
                ("keep".to_owned(), true, 4),
                ("**/*.go".to_owned(), false, 6),
            ]
        );
        assert_eq!(ignore.patterns()[1].to_string(), "!keep");
        assert!(!ignore.is_empty());
        assert!(DockerIgnore::parse("# only\n\n").unwrap().is_empty());
    }

    #[test]
    fn rejects_malformed_patterns() {
        for (text, line, message) in [
            ("ok\n!", 2, "after `!`"),
            ("!   ", 1, "after `!`"),
            ("a\nb\n[abc", 3, "unclosed"),
            ("[", 1, "unclosed"),
            ("[a-", 1, "unclosed"),
            ("x[\\", 1, "unclosed"),
            ("[]", 1, "empty"),
            ("[a-]", 1, "empty"),
            ("[-a]", 1, "`-`"),
            ("[z-a]", 1, "out of order"),
            ("!foo[", 1, "unclosed"),
            ("foo\\", 1, "trailing"),
        ] {
            match DockerIgnore::parse(text) {
                Err(Error::Pattern {
                    file: None,
                    line: l,
                    message: m,
                    ..
                }) => {
                    assert_eq!(l, line, "{text:?}");
                    assert!(m.contains(message), "{text:?}: {m}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let error = DockerIgnore::parse("a\n  [x  ").unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 2: invalid pattern \"[x\": unclosed character class: missing `]`"
        );
    }

    #[test]
    fn may_include_below() {
        // (patterns, dir, may anything below be kept?)
        let cases: &[(&[&str], &str, bool)] = &[
            // Not ignored: always descend.
            (&[], "a", true),
            (&["*.md"], "docs", true),
            (&["vendor", "!vendor"], "vendor", true),
            (&["*"], "", true),
            // Ignored with no exceptions.
            (&["vendor"], "vendor", false),
            (&["vendor"], "vendor/sub", false),
            (&["*"], "src", false),
            // Ignored, but an exception may match below.
            (&["vendor", "!vendor/keep.txt"], "vendor", true),
            (&["vendor", "!vendor/keep.txt"], "vendor/sub", false),
            (&["vendor", "!vendor/keep.txt"], "other", true),
            (&["*", "!src/main.rs"], "src", true),
            (&["*", "!src/main.rs"], "target", false),
            (&["*", "!**/keep"], "target", true),
            (&["*", "!**/keep"], "target/a/b", true),
            (&["*", "!*/keep"], "target", true),
            (&["*", "!*/keep"], "target/a", false),
            (&["a", "!a/*/c"], "a/b", true),
            (&["a", "!a/[xy]/c"], "a/b", false),
            (&["a", "!a/[xy]/c"], "a/x", true),
            (&["a", "!a/b/**"], "a/b", true),
            // An exception only counts after the last pattern ignoring the directory.
            (&["!vendor/keep.txt", "vendor"], "vendor", false),
            (&["*", "!src/x", "src"], "src", false),
            // An exception on the directory's own name cannot re-include below it: it would
            // re-include the directory itself.
            (&["build", "!build2"], "build", false),
            (&["build", "!buil?/x"], "build", true),
        ];
        let mut failures = Vec::new();
        for &(patterns, dir, expected) in cases {
            if ignore(patterns).may_include_below(dir) != expected {
                failures.push(format!("{patterns:?} below {dir:?}: expected {expected}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn from_patterns_has_no_comments() {
        let set = DockerIgnore::from_patterns(["#secret", "", "  *.log ", "!keep.log"]).unwrap();
        let parsed: Vec<(String, bool, usize)> = set
            .patterns()
            .iter()
            .map(|p| (p.as_str().to_owned(), p.is_exception(), p.line()))
            .collect();
        assert_eq!(
            parsed,
            [
                ("#secret".to_owned(), false, 1),
                ("*.log".to_owned(), false, 3),
                ("keep.log".to_owned(), true, 4),
            ]
        );
        assert!(set.matches("#secret"));
        assert!(set.matches("a.log"));
        assert!(!set.matches("keep.log"));
        let empty: [&str; 0] = [];
        assert!(DockerIgnore::from_patterns(empty).unwrap().is_empty());
        let error = DockerIgnore::from_patterns(vec!["ok".to_owned(), "[x".to_owned()])
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("line 2: "), "{error}");
    }

    #[test]
    fn may_match_below() {
        // (patterns, dir, may a pattern match something below?)
        let cases: &[(&[&str], &str, bool)] = &[
            (&["src/*.rs"], "src", true),
            (&["src/*.rs"], "", true),
            (&["src/*.rs"], ".", true),
            (&["src/*.rs"], "docs", false),
            (&["src/*.rs"], "src/sub", false),
            (&["src"], "src", false),
            (&["src/**"], "src/a/b", true),
            (&["**/Dockerfile"], "a/b", true),
            (&["a/b/c"], "a", true),
            (&["a/b/c"], "a/b", true),
            (&["a/b/c"], "a/c", false),
            (&["*/x"], "anything", true),
            (&["!src/x"], "src", false),
            (&[], "", false),
        ];
        let mut failures = Vec::new();
        for &(patterns, dir, expected) in cases {
            let set = DockerIgnore::from_patterns(patterns).unwrap();
            if set.may_match_below(dir) != expected {
                failures.push(format!("{patterns:?} below {dir:?}: expected {expected}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Walking with `may_include_below` keeps exactly the paths `matches` keeps.
    #[test]
    fn walk_agrees_with_matches() {
        let tree = [
            "README.md",
            "src/main.rs",
            "src/gen/out.rs",
            "vendor/a/lib.rs",
            "vendor/a/keep/x",
            "vendor/b/keep",
            "target/debug/app",
            "docs/api/index.md",
        ];
        for patterns in [
            &["*", "!src", "src/gen"][..],
            &["vendor", "!vendor/*/keep"],
            &["**", "!**/keep", "!README.md"],
            &["target", "docs/**", "!docs/api"],
        ] {
            let ignore = ignore(patterns);
            let mut kept: Vec<&str> = tree
                .iter()
                .copied()
                .filter(|path| !ignore.matches(path))
                .collect();
            let mut walked = Vec::new();
            for path in tree {
                // A file is reached when no ignored ancestor directory was skipped.
                let reached = path
                    .match_indices('/')
                    .map(|(i, _)| &path[..i])
                    .all(|dir| !ignore.matches(dir) || ignore.may_include_below(dir));
                if reached && !ignore.matches(path) {
                    walked.push(path);
                }
            }
            kept.sort_unstable();
            walked.sort_unstable();
            assert_eq!(walked, kept, "{patterns:?}");
        }
    }

    #[test]
    fn locates_and_loads_the_ignore_file() {
        let context = tempfile::tempdir().unwrap();
        let dockerfile = context.path().join("app.Dockerfile");
        std::fs::write(&dockerfile, "FROM scratch\n").unwrap();

        assert_eq!(ignore_file_for(context.path(), Some(&dockerfile)), None);
        let loaded = DockerIgnore::load(context.path(), Some(&dockerfile)).unwrap();
        assert!(loaded.is_empty());

        let shared = context.path().join(".dockerignore");
        std::fs::write(&shared, "*.log\n").unwrap();
        assert_eq!(
            ignore_file_for(context.path(), Some(&dockerfile)),
            Some(shared.clone())
        );
        assert_eq!(ignore_file_for(context.path(), None), Some(shared.clone()));

        let own = context.path().join("app.Dockerfile.dockerignore");
        std::fs::write(&own, "*.tmp\n").unwrap();
        assert_eq!(
            ignore_file_for(context.path(), Some(&dockerfile)),
            Some(own.clone())
        );
        assert_eq!(ignore_file_for(context.path(), None), Some(shared.clone()));
        let loaded = DockerIgnore::load(context.path(), Some(&dockerfile)).unwrap();
        assert!(loaded.matches("x.tmp"));
        assert!(!loaded.matches("x.log"));

        // A Dockerfile elsewhere brings its own ignore file from its own directory.
        let elsewhere = tempfile::tempdir().unwrap();
        let other = elsewhere.path().join("Dockerfile");
        assert_eq!(
            ignore_file_for(context.path(), Some(&other)),
            Some(shared.clone())
        );
        std::fs::write(elsewhere.path().join("Dockerfile.dockerignore"), "x\n").unwrap();
        assert_eq!(
            ignore_file_for(context.path(), Some(&other)),
            Some(elsewhere.path().join("Dockerfile.dockerignore"))
        );

        // A directory named like the file does not count.
        std::fs::remove_file(&shared).unwrap();
        std::fs::create_dir(&shared).unwrap();
        assert_eq!(ignore_file_for(context.path(), None), None);
    }

    #[test]
    fn read_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".dockerignore");
        std::fs::write(&path, "ok\n\n[bad\n").unwrap();
        let error = DockerIgnore::read(&path).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with(&format!("{}: line 3: ", path.display())),
            "{error}"
        );
        let Error::Pattern { file, line, .. } = error else {
            panic!("{error:?}")
        };
        assert_eq!(file.as_deref(), Some(path.as_path()));
        assert_eq!(line, 3);
        let missing = dir.path().join("missing");
        assert!(matches!(
            DockerIgnore::read(&missing),
            Err(Error::Read { path, .. }) if path == missing
        ));
    }
}
