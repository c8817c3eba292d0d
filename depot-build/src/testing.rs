//! Builders of synthetic BuildKit status messages, and an inspectable writer, for tests.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard_buildkit_proto::google::protobuf::Timestamp;
use bollard_buildkit_proto::moby::buildkit::v1::{
    StatusResponse, Vertex, VertexLog, VertexStatus, VertexWarning,
};

/// Seconds since the epoch at which synthetic builds start.
const T0: u64 = 1_700_000_000;

/// The daemon time `ms` milliseconds into a synthetic build.
pub(crate) fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0) + Duration::from_millis(ms)
}

/// [`at`] as a protobuf timestamp.
pub(crate) fn ts(ms: u64) -> Timestamp {
    let since = at(ms).duration_since(UNIX_EPOCH).unwrap();
    Timestamp {
        seconds: since.as_secs() as i64,
        nanos: since.subsec_nanos() as i32,
    }
}

/// A vertex as BuildKit announces it, before it starts.
pub(crate) fn vertex(digest: &str, name: &str) -> Vertex {
    Vertex {
        digest: digest.into(),
        name: name.into(),
        ..Default::default()
    }
}

/// A vertex started at `started` ms.
pub(crate) fn started(digest: &str, name: &str, started: u64) -> Vertex {
    Vertex {
        started: Some(ts(started)),
        ..vertex(digest, name)
    }
}

/// A vertex that ran from `started` to `completed` ms.
pub(crate) fn completed(digest: &str, name: &str, started: u64, completed: u64) -> Vertex {
    Vertex {
        completed: Some(ts(completed)),
        ..self::started(digest, name, started)
    }
}

/// A vertex that failed with `error` after running from `started` to `completed` ms.
pub(crate) fn errored(
    digest: &str,
    name: &str,
    started: u64,
    completed: u64,
    error: &str,
) -> Vertex {
    Vertex {
        error: error.into(),
        ..self::completed(digest, name, started, completed)
    }
}

/// A vertex found in the cache at `ms`.
pub(crate) fn cached(digest: &str, name: &str, ms: u64) -> Vertex {
    Vertex {
        cached: true,
        ..completed(digest, name, ms, ms)
    }
}

/// A sub-progress item of `vertex`, updated at `ms`.
pub(crate) fn status(vertex: &str, id: &str, current: i64, total: i64, ms: u64) -> VertexStatus {
    VertexStatus {
        id: id.into(),
        vertex: vertex.into(),
        current,
        total,
        timestamp: Some(ts(ms)),
        ..Default::default()
    }
}

/// Sets when a status started.
pub(crate) fn since(status: VertexStatus, started: u64) -> VertexStatus {
    VertexStatus {
        started: Some(ts(started)),
        ..status
    }
}

/// Completes a status at its timestamp.
pub(crate) fn done(status: VertexStatus) -> VertexStatus {
    VertexStatus {
        completed: status.timestamp,
        ..status
    }
}

/// A log chunk of `vertex` on stdout (1) or stderr (2), written at `ms`.
pub(crate) fn log(vertex: &str, stream: i64, ms: u64, msg: &str) -> VertexLog {
    VertexLog {
        vertex: vertex.into(),
        timestamp: Some(ts(ms)),
        stream,
        msg: msg.as_bytes().to_vec(),
    }
}

/// A warning about `vertex`.
pub(crate) fn warning(vertex: &str, short: &str) -> VertexWarning {
    VertexWarning {
        vertex: vertex.into(),
        level: 1,
        short: short.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// A status message with these parts.
pub(crate) fn response(
    vertexes: Vec<Vertex>,
    statuses: Vec<VertexStatus>,
    logs: Vec<VertexLog>,
    warnings: Vec<VertexWarning>,
) -> StatusResponse {
    StatusResponse {
        vertexes,
        statuses,
        logs,
        warnings,
    }
}

/// A writer whose output stays readable after it is boxed away.
#[derive(Clone, Default)]
pub(crate) struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    /// Everything written so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
