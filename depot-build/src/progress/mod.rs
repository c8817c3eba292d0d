//! Build progress for people: [`BuildEvent`]s rendered as `docker buildx build` does.
//!
//! - [`PlainPrinter`]: buildx's `--progress=plain` lines, for logs and CI.
//! - [`TtyPrinter`]: a live view redrawn in place on a terminal.
//!
//! [`printer_for`] picks one for a [`ProgressMode`].

mod logs;
mod plain;
mod tty;
mod units;

use std::fmt::{self, Write as _};
use std::io::{IsTerminal, Write};
use std::str::FromStr;

use crate::events::BuildEvent;

pub use plain::PlainPrinter;
pub use tty::TtyPrinter;

/// Something that shows a build's events.
pub trait Printer: Send {
    /// Shows one event.
    fn event(&mut self, event: &BuildEvent);

    /// Lets a live view advance its timers; callers should call it every ~100 ms while the
    /// build runs. Does nothing by default.
    fn tick(&mut self) {}

    /// Called once at the end; `error` is the build's failure, if any.
    fn finish(&mut self, error: Option<&str>);
}

/// How build progress is shown (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// [`Tty`](Self::Tty) when stderr is a terminal, else [`Plain`](Self::Plain).
    #[default]
    Auto,
    /// A live view redrawn in place.
    Tty,
    /// One line per change.
    Plain,
    /// Nothing.
    Quiet,
}

impl FromStr for ProgressMode {
    type Err = UnknownProgressMode;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "auto" => Ok(ProgressMode::Auto),
            "tty" => Ok(ProgressMode::Tty),
            "plain" => Ok(ProgressMode::Plain),
            "quiet" => Ok(ProgressMode::Quiet),
            _ => Err(UnknownProgressMode(text.to_string())),
        }
    }
}

/// A progress mode that is not `auto`, `tty`, `plain` or `quiet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownProgressMode(pub String);

impl fmt::Display for UnknownProgressMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown progress mode {:?} (expected auto, tty, plain or quiet)",
            self.0
        )
    }
}

impl std::error::Error for UnknownProgressMode {}

/// The printer for `mode`, writing to `out` (usually stderr).
///
/// The live view's size comes from `COLUMNS` and `LINES` when set, else 80×24.
pub fn printer_for(mode: ProgressMode, out: Box<dyn Write + Send>) -> Box<dyn Printer> {
    let terminal = std::io::stderr().is_terminal()
        && std::env::var_os("TERM").is_none_or(|term| term != "dumb");
    match mode {
        ProgressMode::Auto if terminal => tty_printer(out),
        ProgressMode::Tty => tty_printer(out),
        ProgressMode::Auto | ProgressMode::Plain => Box::new(PlainPrinter::new(out, None)),
        ProgressMode::Quiet => Box::new(Quiet),
    }
}

/// A live view sized from the environment.
fn tty_printer(out: Box<dyn Write + Send>) -> Box<dyn Printer> {
    let size = |name, default| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    };
    Box::new(TtyPrinter::new(out, size("COLUMNS", 80), size("LINES", 24)))
}

/// Shows nothing.
struct Quiet;

impl Printer for Quiet {
    fn event(&mut self, _: &BuildEvent) {}

    fn finish(&mut self, _: Option<&str>) {}
}

/// Adds the box with the last log lines of the vertex `name` that failed the build.
fn error_box<'a>(text: &mut String, name: &str, lines: impl Iterator<Item = &'a str>) {
    let _ = writeln!(text, "------\n > {name}:");
    for line in lines {
        let _ = writeln!(text, "{line}");
    }
    text.push_str("------\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::VertexId;
    use crate::testing::SharedBuf;

    #[test]
    fn modes_parse() {
        assert_eq!("auto".parse(), Ok(ProgressMode::Auto));
        assert_eq!("tty".parse(), Ok(ProgressMode::Tty));
        assert_eq!("plain".parse(), Ok(ProgressMode::Plain));
        assert_eq!("quiet".parse(), Ok(ProgressMode::Quiet));
        let error = "fancy".parse::<ProgressMode>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown progress mode \"fancy\" (expected auto, tty, plain or quiet)"
        );
    }

    #[test]
    fn quiet_prints_nothing_and_plain_prints_lines() {
        let event = BuildEvent::VertexCached {
            vertex: VertexId("sha256:a".into()),
            name: "[1/1] FROM scratch".into(),
        };
        for (mode, expected) in [
            (ProgressMode::Quiet, ""),
            (
                ProgressMode::Plain,
                "#1 [1/1] FROM scratch\n#1 CACHED\nERROR: boom\n",
            ),
        ] {
            let out = SharedBuf::default();
            let mut printer = printer_for(mode, Box::new(out.clone()));
            printer.event(&event);
            printer.tick();
            printer.finish(Some("boom"));
            assert_eq!(out.text(), expected, "{mode:?}");
        }
    }
}
