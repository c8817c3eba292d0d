//! The JSON shape of [`BuildEvent`]s, shared by everything that hands events to other languages.
//!
//! Each event is an object tagged by `type`, with snake_case keys:
//!
//! | `type`             | other keys                                                              |
//! |--------------------|-------------------------------------------------------------------------|
//! | `vertex_queued`    | `vertex`, `name`                                                        |
//! | `vertex_started`   | `vertex`, `name`, `started_ms`                                          |
//! | `vertex_completed` | `vertex`, `name`, `duration_ms`                                         |
//! | `vertex_cached`    | `vertex`, `name`                                                        |
//! | `vertex_errored`   | `vertex`, `name`, `error`, `duration_ms`, `canceled`                    |
//! | `log`              | `vertex`, `stream` (`stdout`/`stderr`), `text`, `at_ms`                 |
//! | `progress`         | `vertex`, `id`, `name`, `current`, `total`, `started_ms`, `at_ms`, `completed` |
//! | `warning`          | `vertex`, `level`, `short`, `detail`, `url`                             |
//!
//! `vertex` is the step's digest (or `depot:<name>` for depot's own steps); times are
//! milliseconds since the Unix epoch and durations milliseconds, as numbers; `text` is the log
//! chunk as UTF-8 (invalid bytes replaced); `total`, `started_ms` and `url` may be `null`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

use super::{BuildEvent, LogStream};

/// The wire form of one event, borrowing from it.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Wire<'a> {
    VertexQueued {
        vertex: &'a str,
        name: &'a str,
    },
    VertexStarted {
        vertex: &'a str,
        name: &'a str,
        started_ms: f64,
    },
    VertexCompleted {
        vertex: &'a str,
        name: &'a str,
        duration_ms: f64,
    },
    VertexCached {
        vertex: &'a str,
        name: &'a str,
    },
    VertexErrored {
        vertex: &'a str,
        name: &'a str,
        error: &'a str,
        duration_ms: f64,
        canceled: bool,
    },
    Log {
        vertex: &'a str,
        stream: &'static str,
        text: String,
        at_ms: f64,
    },
    Progress {
        vertex: &'a str,
        id: &'a str,
        name: &'a str,
        current: i64,
        total: Option<i64>,
        started_ms: Option<f64>,
        at_ms: f64,
        completed: bool,
    },
    Warning {
        vertex: &'a str,
        level: i64,
        short: &'a str,
        detail: &'a [String],
        url: Option<&'a str>,
    },
}

impl Serialize for BuildEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        wire(self).serialize(serializer)
    }
}

fn wire(event: &BuildEvent) -> Wire<'_> {
    match event {
        BuildEvent::VertexQueued { vertex, name } => Wire::VertexQueued {
            vertex: &vertex.0,
            name,
        },
        BuildEvent::VertexStarted {
            vertex,
            name,
            started,
        } => Wire::VertexStarted {
            vertex: &vertex.0,
            name,
            started_ms: epoch_ms(*started),
        },
        BuildEvent::VertexCompleted {
            vertex,
            name,
            duration,
        } => Wire::VertexCompleted {
            vertex: &vertex.0,
            name,
            duration_ms: ms(*duration),
        },
        BuildEvent::VertexCached { vertex, name } => Wire::VertexCached {
            vertex: &vertex.0,
            name,
        },
        BuildEvent::VertexErrored {
            vertex,
            name,
            error,
            duration,
            canceled,
        } => Wire::VertexErrored {
            vertex: &vertex.0,
            name,
            error,
            duration_ms: ms(*duration),
            canceled: *canceled,
        },
        BuildEvent::Log {
            vertex,
            stream,
            data,
            at,
        } => Wire::Log {
            vertex: &vertex.0,
            stream: match stream {
                LogStream::Stdout => "stdout",
                LogStream::Stderr => "stderr",
            },
            text: String::from_utf8_lossy(data).into_owned(),
            at_ms: epoch_ms(*at),
        },
        BuildEvent::Progress {
            vertex,
            id,
            name,
            current,
            total,
            started,
            at,
            completed,
        } => Wire::Progress {
            vertex: &vertex.0,
            id,
            name,
            current: *current,
            total: *total,
            started_ms: started.map(epoch_ms),
            at_ms: epoch_ms(*at),
            completed: *completed,
        },
        BuildEvent::Warning {
            vertex,
            level,
            short,
            detail,
            url,
        } => Wire::Warning {
            vertex: &vertex.0,
            level: *level,
            short,
            detail,
            url: url.as_deref(),
        },
    }
}

/// Milliseconds since the Unix epoch (negative before it).
fn epoch_ms(time: SystemTime) -> f64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => ms(since),
        Err(before) => -ms(before.duration()),
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::VertexId;
    use serde_json::json;

    #[test]
    fn events_are_tagged_objects() {
        let log = BuildEvent::Log {
            vertex: VertexId("sha256:1".into()),
            stream: LogStream::Stderr,
            data: bytes::Bytes::from_static(b"hi\n"),
            at: UNIX_EPOCH + Duration::from_millis(1500),
        };
        assert_eq!(
            serde_json::to_value(&log).unwrap(),
            json!({"type": "log", "vertex": "sha256:1", "stream": "stderr", "text": "hi\n", "at_ms": 1500.0})
        );
        let failed = BuildEvent::VertexErrored {
            vertex: VertexId("v".into()),
            name: "[2/2] RUN false".into(),
            error: "exit code: 1".into(),
            duration: Duration::from_millis(20),
            canceled: false,
        };
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            json!({"type": "vertex_errored", "vertex": "v", "name": "[2/2] RUN false",
                   "error": "exit code: 1", "duration_ms": 20.0, "canceled": false})
        );
    }
}
