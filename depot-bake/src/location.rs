//! Where in a bake file a block or attribute was written, for error messages.

use std::fmt;
use std::ops::Range;

/// A place in a bake file: the file, and the line and column (from 1) where the format keeps
/// them — HCL does for every block and attribute; values read from JSON and compose files
/// carry only their file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file's name, as given.
    pub file: String,
    /// Line and column, from 1.
    pub position: Option<(usize, usize)>,
}

impl Location {
    /// A whole file.
    pub fn file(name: &str) -> Location {
        Location {
            file: name.to_owned(),
            position: None,
        }
    }

    /// The start of `span` (byte offsets into `text`, as the HCL parser reports them).
    pub(crate) fn of_span(name: &str, text: &str, span: Option<Range<usize>>) -> Location {
        let position = span.and_then(|span| {
            let before = text.get(..span.start)?;
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
            Some((line, before[line_start..].chars().count() + 1))
        });
        Location {
            file: name.to_owned(),
            position,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(f, "{}:{line}:{column}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_become_lines_and_columns() {
        let text = "a = 1\n  target \"é\" { x = 2 }\n";
        let at = Location::of_span("f.hcl", text, Some(22..23));
        assert_eq!(at.to_string(), "f.hcl:2:16");
        assert_eq!(Location::of_span("f.hcl", text, None).to_string(), "f.hcl");
        assert_eq!(
            Location::of_span("f.hcl", text, Some(0..1)).position,
            Some((1, 1))
        );
    }
}
