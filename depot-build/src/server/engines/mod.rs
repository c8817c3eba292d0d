//! Per-project builder instances on this host: a Docker Engine per project (and
//! architecture), started by depot-server itself.
//!
//! - [`slot`]: host-wide runtime slots (run directory, bridge, lock) shared by every
//!   depot-server on the machine, and the cleanup of what a killed server left behind.
//! - [`engine`]: one Docker Engine: started with everything of its own, stopped, its state kept.
//! - [`fleet`]: the [`Fleet`], the `BuilderProvider` that gives each project its own instances:
//!   started on a build's demand, stopped when idle, emptied by a cache reset.
//! - [`upkeep`]: the project's cache policy applied after each build, and the cache measured.
//! - [`inventory`](mod@inventory): the instances of a data directory, for `depot-server builders list`.
//!
//! Starting engines needs root (dockerd does).

pub mod engine;
pub mod fleet;
pub mod inventory;
pub mod slot;
pub mod upkeep;

use std::path::PathBuf;

pub use engine::Engine;
pub use fleet::{Fleet, FleetConfig};
pub use inventory::{InstanceReport, inventory};
pub use slot::{Slot, Slots};

/// Why an engine could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A file or directory could not be used.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done (`creating`, `opening`…).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A command failed.
    #[error("{command} failed: {message}")]
    Command {
        /// The command line.
        command: String,
        /// What it said.
        message: String,
    },
    /// Every slot of the host is taken.
    #[error(
        "all {count} builder engine slots in {} are taken by running engines; stop some \
         (depot-server --max-builders) or wait",
        root.display()
    )]
    NoSlot {
        /// The slots' directory.
        root: PathBuf,
        /// How many there are.
        count: u16,
    },
    /// dockerd did not come up.
    #[error("the builder engine did not start: {reason}; its log ends with:\n{log}")]
    Start {
        /// What went wrong.
        reason: String,
        /// The end of its log.
        log: String,
    },
}
