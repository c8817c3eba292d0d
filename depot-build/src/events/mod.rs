//! Typed build events, decoded from BuildKit's status stream.
//!
//! `Control.Status` answers with incremental `StatusResponse`s: a vertex (a step of the build
//! graph) is re-sent whole whenever it changes, sub-progress items ("transferring context:",
//! layer downloads) likewise, and logs arrive as raw chunks that may split lines. An
//! [`EventDecoder`] turns that stream into [`BuildEvent`]s that each describe one change, for the
//! printers in [`crate::progress`] and for anything else that follows a build. Events serialize
//! (serde) to tagged JSON objects; [`wire`] documents the shape.

mod decoder;
pub mod wire;

use std::fmt;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

pub use decoder::EventDecoder;

/// A vertex of the build graph, named by its digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VertexId(pub String);

impl fmt::Display for VertexId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which output of a process a log chunk comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One change in a build, in the order BuildKit reported it.
///
/// A vertex goes through [`VertexQueued`](Self::VertexQueued) (when BuildKit announces it
/// before running it) and [`VertexStarted`](Self::VertexStarted), then ends with exactly one of
/// [`VertexCompleted`](Self::VertexCompleted), [`VertexCached`](Self::VertexCached) or
/// [`VertexErrored`](Self::VertexErrored). Either of the first two may be missing: a vertex that
/// is found in the cache is often only reported as cached. A vertex BuildKit runs again after it
/// ended (it does so for vertices shared by several jobs or merged into a progress group) starts
/// a new run: `VertexStarted` again, then another ending.
#[derive(Debug, Clone, PartialEq)]
pub enum BuildEvent {
    /// BuildKit announced the vertex; it has not started. Lets a display count the steps ahead.
    VertexQueued {
        /// The vertex.
        vertex: VertexId,
        /// Its name, e.g. `[base 2/3] RUN make`.
        name: String,
    },
    /// The vertex started (or started again, after it ended).
    VertexStarted {
        /// The vertex.
        vertex: VertexId,
        /// Its name.
        name: String,
        /// When it started, by the daemon's clock.
        started: SystemTime,
    },
    /// The vertex finished successfully.
    VertexCompleted {
        /// The vertex.
        vertex: VertexId,
        /// Its name.
        name: String,
        /// How long this run took (zero when BuildKit did not say when it started).
        duration: Duration,
    },
    /// The vertex's result came from the cache.
    VertexCached {
        /// The vertex.
        vertex: VertexId,
        /// Its name.
        name: String,
    },
    /// The vertex failed, or was canceled because another one failed.
    VertexErrored {
        /// The vertex.
        vertex: VertexId,
        /// Its name.
        name: String,
        /// BuildKit's error message.
        error: String,
        /// How long this run took (zero when BuildKit did not say).
        duration: Duration,
        /// Whether the error is a cancellation (it ends with `context canceled`).
        canceled: bool,
    },
    /// A chunk of a vertex's process output. Chunks are as BuildKit sent them: a line may be
    /// split across several.
    Log {
        /// The vertex.
        vertex: VertexId,
        /// Which stream.
        stream: LogStream,
        /// The raw bytes.
        data: Bytes,
        /// When they were written, by the daemon's clock.
        at: SystemTime,
    },
    /// A sub-progress item of a vertex changed: a transfer, a layer download, an export step.
    Progress {
        /// The vertex.
        vertex: VertexId,
        /// The item, as shown to users: `transferring context:`, `sha256:…`, `exporting layers`.
        id: String,
        /// BuildKit's name for what the item is doing (often empty).
        name: String,
        /// Units (usually bytes) done so far.
        current: i64,
        /// Units to do, when known.
        total: Option<i64>,
        /// When the item started, if BuildKit timed it.
        started: Option<SystemTime>,
        /// When this state was reached: the completion time of a completed item, else the time
        /// of the update.
        at: SystemTime,
        /// Whether the item is done.
        completed: bool,
    },
    /// A build warning, e.g. from the Dockerfile linter.
    Warning {
        /// The vertex it belongs to.
        vertex: VertexId,
        /// Its level (BuildKit uses 1 for warnings).
        level: i64,
        /// The one-line message.
        short: String,
        /// Longer explanation, one entry per paragraph.
        detail: Vec<String>,
        /// Where to read more.
        url: Option<String>,
    },
}

impl BuildEvent {
    /// The vertex the event is about.
    pub fn vertex(&self) -> &VertexId {
        match self {
            BuildEvent::VertexQueued { vertex, .. }
            | BuildEvent::VertexStarted { vertex, .. }
            | BuildEvent::VertexCompleted { vertex, .. }
            | BuildEvent::VertexCached { vertex, .. }
            | BuildEvent::VertexErrored { vertex, .. }
            | BuildEvent::Log { vertex, .. }
            | BuildEvent::Progress { vertex, .. }
            | BuildEvent::Warning { vertex, .. } => vertex,
        }
    }
}
