//! Transfer progress for `depot pull` and `depot push`, chosen with `--progress` like the
//! official CLI and buildx: live bars per layer on a terminal, plain lines otherwise.

mod bars;
mod plain;

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::bail;
use clap::{Args, ValueEnum};
use depot_registry::client::{BlobTransfer, ProgressEvent, ProgressSink};

use bars::Bars;

/// How progress is shown.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars on a terminal, plain lines otherwise.
    Auto,
    /// Live bars, one per layer (needs a terminal on stderr).
    Tty,
    /// One line per layer event, as in CI logs.
    Plain,
    /// Nothing but errors and the result.
    Quiet,
}

/// `--progress`.
#[derive(Args, Debug, Clone)]
pub struct ProgressArg {
    /// Progress output on stderr: bars per layer on a terminal (tty), one line per layer event
    /// (plain), or none (quiet); auto picks tty on a terminal and plain otherwise.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

/// Which way blobs travel; chooses the words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From a registry to here.
    Pull,
    /// From a registry to other registries; lines name their destination.
    Push,
}

impl Direction {
    /// What a travelling blob is doing.
    fn active(self) -> &'static str {
        match self {
            Direction::Pull => "downloading",
            Direction::Push => "copying",
        }
    }

    /// How a blob arrived.
    fn done(self, transfer: BlobTransfer) -> &'static str {
        match (self, transfer) {
            (Direction::Pull, BlobTransfer::Copied) => "downloaded",
            (Direction::Push, BlobTransfer::Copied) => "copied",
            (_, BlobTransfer::Mounted) => "mounted",
            (Direction::Pull, BlobTransfer::Present) => "already present",
            (Direction::Push, BlobTransfer::Present) => "already there",
        }
    }

    /// What happened to a manifest.
    fn manifest(self) -> &'static str {
        match self {
            Direction::Pull => "written",
            Direction::Push => "pushed",
        }
    }

    /// How a line about `target` starts.
    fn label(self, target: &str) -> String {
        match self {
            Direction::Pull => String::new(),
            Direction::Push => format!("{target}: "),
        }
    }
}

/// The progress display of one command.
pub enum ProgressDisplay {
    /// Plain lines on stderr.
    Plain(Direction),
    /// Live bars on the terminal.
    Bars(Box<Bars>),
    /// Nothing.
    Quiet,
}

impl ProgressDisplay {
    /// The display for `mode`; `tty` without a terminal on stderr is an error.
    pub fn new(mode: ProgressMode, direction: Direction) -> anyhow::Result<Arc<ProgressDisplay>> {
        let terminal = std::io::stderr().is_terminal()
            && std::env::var_os("TERM").is_none_or(|term| term != "dumb");
        let display = match mode {
            ProgressMode::Auto if terminal => ProgressDisplay::Bars(Box::new(Bars::new(direction))),
            ProgressMode::Auto | ProgressMode::Plain => ProgressDisplay::Plain(direction),
            ProgressMode::Tty if terminal => ProgressDisplay::Bars(Box::new(Bars::new(direction))),
            ProgressMode::Tty => bail!("--progress tty needs a terminal on stderr"),
            ProgressMode::Quiet => ProgressDisplay::Quiet,
        };
        Ok(Arc::new(display))
    }

    /// Prints a line about the whole operation (e.g. what is being pulled).
    pub fn note(&self, text: &str) {
        match self {
            ProgressDisplay::Plain(_) => eprintln!("{text}"),
            ProgressDisplay::Bars(bars) => bars.println(text),
            ProgressDisplay::Quiet => {}
        }
    }
}

impl ProgressSink for ProgressDisplay {
    fn report(&self, event: ProgressEvent<'_>) {
        match self {
            ProgressDisplay::Plain(direction) => {
                if let Some(line) = plain::line(*direction, &event) {
                    eprintln!("{line}");
                }
            }
            ProgressDisplay::Bars(bars) => bars.report(&event),
            ProgressDisplay::Quiet => {}
        }
    }
}

/// `sha256:0123456789abcdef…` as `0123456789ab`, like the Docker CLI; Engine ids as they are.
fn short_digest(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    hex.get(..12).unwrap_or(hex)
}
