//! Steps of our own (`[depot] connecting to amd64 builder`), reported as build events among
//! BuildKit's so that displays show them like any other step.

use std::time::{Instant, SystemTime};

use crate::events::{BuildEvent, VertexId};

/// A step in progress; its vertex ID is `depot:<name>`.
pub(super) struct Step {
    vertex: VertexId,
    name: String,
    started: Instant,
}

impl Step {
    /// Starts the step: returns it with its [`BuildEvent::VertexStarted`].
    pub(super) fn start(name: String) -> (Step, BuildEvent) {
        let vertex = VertexId(format!("depot:{name}"));
        let event = BuildEvent::VertexStarted {
            vertex: vertex.clone(),
            name: name.clone(),
            started: SystemTime::now(),
        };
        let step = Step {
            vertex,
            name,
            started: Instant::now(),
        };
        (step, event)
    }

    /// The step's successful end.
    pub(super) fn done(self) -> BuildEvent {
        BuildEvent::VertexCompleted {
            vertex: self.vertex,
            name: self.name,
            duration: self.started.elapsed(),
        }
    }

    /// The step's failure (`canceled` when the error is a cancellation).
    pub(super) fn failed(self, error: &str) -> BuildEvent {
        BuildEvent::VertexErrored {
            vertex: self.vertex,
            name: self.name,
            error: error.to_owned(),
            duration: self.started.elapsed(),
            canceled: error == "canceled",
        }
    }
}
