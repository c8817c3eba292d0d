//! [`EventDecoder`]: BuildKit status messages in, one event per change out.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard_buildkit_proto::google::protobuf::Timestamp;
use bollard_buildkit_proto::moby::buildkit::v1::{
    StatusResponse, Vertex, VertexLog, VertexStatus, VertexWarning,
};
use bytes::Bytes;

use super::{BuildEvent, LogStream, VertexId};

/// How BuildKit words the error of a vertex canceled because the build stopped.
const CANCELED: &str = "context canceled";

/// Turns the `StatusResponse`s of one build into [`BuildEvent`]s.
///
/// It remembers what it has reported of each vertex and progress item, so re-sent messages with
/// nothing new produce no events. Within one message, events come in this order: vertices
/// announced or started, progress, warnings, logs, then vertices that ended — so a vertex's last
/// output precedes its ending, as BuildKit means it.
///
/// A vertex that is re-sent with a later start time after it ended is taken as a new run of it
/// (BuildKit does this for vertices shared by several jobs or merged into a progress group): a
/// new [`BuildEvent::VertexStarted`] is reported, then the new run's ending, with the duration of
/// that run alone. Other changes to an ended vertex are ignored.
#[derive(Debug, Default)]
pub struct EventDecoder {
    vertices: HashMap<String, Run>,
    statuses: HashMap<(String, String), StatusState>,
}

/// Where a vertex is, as far as reported.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Run {
    /// Announced, not started.
    Queued,
    /// Started at this time.
    Running(SystemTime),
    /// Ended; the run started at this time, if known.
    Ended(Option<SystemTime>),
}

/// What was reported of a progress item.
#[derive(Debug, PartialEq)]
struct StatusState {
    name: String,
    current: i64,
    total: i64,
    started: Option<SystemTime>,
    completed: bool,
}

impl EventDecoder {
    /// The events in one status message.
    pub fn decode(&mut self, response: StatusResponse) -> Vec<BuildEvent> {
        let mut events = Vec::new();
        let mut endings = Vec::new();
        for vertex in response.vertexes {
            self.vertex(vertex, &mut events, &mut endings);
        }
        events.extend(
            response
                .statuses
                .into_iter()
                .filter_map(|status| self.status(status)),
        );
        events.extend(response.warnings.into_iter().map(warning_event));
        events.extend(response.logs.into_iter().filter_map(log_event));
        events.extend(endings);
        events
    }

    /// Adds the transitions of one vertex message: beginnings to `events`, the ending to
    /// `endings`.
    fn vertex(
        &mut self,
        vertex: Vertex,
        events: &mut Vec<BuildEvent>,
        endings: &mut Vec<BuildEvent>,
    ) {
        let started = vertex.started.as_ref().map(system_time);
        let completed = vertex.completed.as_ref().map(system_time);
        let ended = vertex.cached || !vertex.error.is_empty() || completed.is_some();
        let id = VertexId(vertex.digest.clone());
        let name = vertex.name;
        let run = match self.vertices.entry(vertex.digest) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                if started.is_none() && !ended {
                    events.push(BuildEvent::VertexQueued {
                        vertex: id.clone(),
                        name: name.clone(),
                    });
                }
                entry.insert(Run::Queued)
            }
        };
        if let (Run::Ended(previous), Some(start)) = (*run, started)
            && previous.is_none_or(|previous| start > previous)
        {
            *run = Run::Queued;
        }
        if *run == Run::Queued
            && !vertex.cached
            && let Some(start) = started
        {
            events.push(BuildEvent::VertexStarted {
                vertex: id.clone(),
                name: name.clone(),
                started: start,
            });
            *run = Run::Running(start);
        }
        if !ended || matches!(run, Run::Ended(_)) {
            return;
        }
        let start = match *run {
            Run::Running(start) => Some(start),
            _ => started,
        };
        let duration = match (start, completed) {
            (Some(start), Some(end)) => end.duration_since(start).unwrap_or_default(),
            _ => Duration::ZERO,
        };
        *run = Run::Ended(start);
        endings.push(if vertex.cached {
            BuildEvent::VertexCached { vertex: id, name }
        } else if !vertex.error.is_empty() {
            BuildEvent::VertexErrored {
                vertex: id,
                name,
                canceled: vertex.error.ends_with(CANCELED),
                error: vertex.error,
                duration,
            }
        } else {
            BuildEvent::VertexCompleted {
                vertex: id,
                name,
                duration,
            }
        });
    }

    /// The event of a progress item, if anything changed.
    fn status(&mut self, status: VertexStatus) -> Option<BuildEvent> {
        let started = status.started.as_ref().map(system_time);
        let completed = status.completed.as_ref().map(system_time);
        let state = StatusState {
            name: status.name.clone(),
            current: status.current,
            total: status.total,
            started,
            completed: completed.is_some(),
        };
        match self
            .statuses
            .entry((status.vertex.clone(), status.id.clone()))
        {
            Entry::Occupied(entry) if *entry.get() == state => return None,
            Entry::Occupied(mut entry) => {
                entry.insert(state);
            }
            Entry::Vacant(entry) => {
                entry.insert(state);
            }
        }
        let at = completed
            .or(status.timestamp.as_ref().map(system_time))
            .unwrap_or_else(SystemTime::now);
        Some(BuildEvent::Progress {
            vertex: VertexId(status.vertex),
            id: status.id,
            name: status.name,
            current: status.current,
            total: (status.total != 0).then_some(status.total),
            started,
            at,
            completed: completed.is_some(),
        })
    }
}

/// The event of a log chunk; none for an empty one.
fn log_event(log: VertexLog) -> Option<BuildEvent> {
    if log.msg.is_empty() {
        return None;
    }
    Some(BuildEvent::Log {
        vertex: VertexId(log.vertex),
        stream: if log.stream == 2 {
            LogStream::Stderr
        } else {
            LogStream::Stdout
        },
        data: Bytes::from(log.msg),
        at: log
            .timestamp
            .as_ref()
            .map_or_else(SystemTime::now, system_time),
    })
}

/// The event of a warning.
fn warning_event(warning: VertexWarning) -> BuildEvent {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    BuildEvent::Warning {
        vertex: VertexId(warning.vertex),
        level: warning.level,
        short: text(&warning.short),
        detail: warning.detail.iter().map(|line| text(line)).collect(),
        url: (!warning.url.is_empty()).then_some(warning.url),
    }
}

/// A protobuf timestamp as a [`SystemTime`] (the epoch if it is out of range).
fn system_time(timestamp: &Timestamp) -> SystemTime {
    let nanos = Duration::from_nanos(timestamp.nanos.clamp(0, 999_999_999) as u64);
    let seconds = Duration::from_secs(timestamp.seconds.unsigned_abs());
    let whole = if timestamp.seconds >= 0 {
        UNIX_EPOCH.checked_add(seconds)
    } else {
        UNIX_EPOCH.checked_sub(seconds)
    };
    whole
        .and_then(|time| time.checked_add(nanos))
        .unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn decode(decoder: &mut EventDecoder, vertexes: Vec<Vertex>) -> Vec<BuildEvent> {
        decoder.decode(response(vertexes, vec![], vec![], vec![]))
    }

    fn id(digest: &str) -> VertexId {
        VertexId(digest.into())
    }

    #[test]
    fn reports_each_transition_once() {
        let mut decoder = EventDecoder::default();
        assert_eq!(
            decode(&mut decoder, vec![vertex("sha256:a", "[1/2] RUN make")]),
            [BuildEvent::VertexQueued {
                vertex: id("sha256:a"),
                name: "[1/2] RUN make".into()
            }]
        );
        assert_eq!(
            decode(&mut decoder, vec![vertex("sha256:a", "[1/2] RUN make")]),
            []
        );
        let start = vec![started("sha256:a", "[1/2] RUN make", 100)];
        assert_eq!(
            decode(&mut decoder, start.clone()),
            [BuildEvent::VertexStarted {
                vertex: id("sha256:a"),
                name: "[1/2] RUN make".into(),
                started: at(100)
            }]
        );
        assert_eq!(decode(&mut decoder, start), []);
        let end = vec![completed("sha256:a", "[1/2] RUN make", 100, 1350)];
        assert_eq!(
            decode(&mut decoder, end.clone()),
            [BuildEvent::VertexCompleted {
                vertex: id("sha256:a"),
                name: "[1/2] RUN make".into(),
                duration: Duration::from_millis(1250)
            }]
        );
        assert_eq!(decode(&mut decoder, end), []);
    }

    #[test]
    fn a_vertex_that_runs_within_one_message_starts_and_completes() {
        let mut decoder = EventDecoder::default();
        let events = decode(&mut decoder, vec![completed("sha256:a", "a", 10, 30)]);
        assert!(matches!(events[0], BuildEvent::VertexStarted { .. }));
        assert!(matches!(
            events[1],
            BuildEvent::VertexCompleted { duration, .. } if duration == Duration::from_millis(20)
        ));
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn cached_vertices_with_or_without_timestamps() {
        let mut decoder = EventDecoder::default();
        let bare = Vertex {
            cached: true,
            ..vertex("sha256:a", "a")
        };
        assert_eq!(
            decode(&mut decoder, vec![bare.clone(), cached("sha256:b", "b", 5)]),
            [
                BuildEvent::VertexCached {
                    vertex: id("sha256:a"),
                    name: "a".into()
                },
                BuildEvent::VertexCached {
                    vertex: id("sha256:b"),
                    name: "b".into()
                }
            ]
        );
        assert_eq!(
            decode(&mut decoder, vec![bare, cached("sha256:b", "b", 5)]),
            []
        );

        // Started, then found in the cache (BuildKit marks it cached when it completes).
        decode(&mut decoder, vec![started("sha256:c", "c", 7)]);
        assert_eq!(
            decode(&mut decoder, vec![cached("sha256:c", "c", 7)]),
            [BuildEvent::VertexCached {
                vertex: id("sha256:c"),
                name: "c".into()
            }]
        );
    }

    #[test]
    fn errors_and_cancellations() {
        let mut decoder = EventDecoder::default();
        decode(
            &mut decoder,
            vec![started("sha256:a", "a", 0), started("sha256:b", "b", 0)],
        );
        let events = decode(
            &mut decoder,
            vec![
                errored(
                    "sha256:a",
                    "a",
                    0,
                    300,
                    "process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3",
                ),
                errored(
                    "sha256:b",
                    "b",
                    0,
                    310,
                    "failed to load cache key: context canceled",
                ),
            ],
        );
        assert_eq!(
            events,
            [
                BuildEvent::VertexErrored {
                    vertex: id("sha256:a"),
                    name: "a".into(),
                    error:
                        "process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3"
                            .into(),
                    duration: Duration::from_millis(300),
                    canceled: false
                },
                BuildEvent::VertexErrored {
                    vertex: id("sha256:b"),
                    name: "b".into(),
                    error: "failed to load cache key: context canceled".into(),
                    duration: Duration::from_millis(310),
                    canceled: true
                }
            ]
        );
    }

    #[test]
    fn a_vertex_started_again_after_it_ended_is_a_new_run() {
        let mut decoder = EventDecoder::default();
        let mut events = decode(&mut decoder, vec![completed("sha256:a", "merged", 0, 200)]);
        // A stale re-send of the first run changes nothing.
        events.extend(decode(
            &mut decoder,
            vec![completed("sha256:a", "merged", 0, 200)],
        ));
        events.extend(decode(
            &mut decoder,
            vec![started("sha256:a", "merged", 500)],
        ));
        events.extend(decode(
            &mut decoder,
            vec![completed("sha256:a", "merged", 500, 900)],
        ));
        let summary: Vec<_> = events
            .iter()
            .map(|event| match event {
                BuildEvent::VertexStarted { started, .. } => format!("started {started:?}"),
                BuildEvent::VertexCompleted { duration, .. } => format!("completed {duration:?}"),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            summary,
            [
                format!("started {:?}", at(0)),
                "completed 200ms".to_string(),
                format!("started {:?}", at(500)),
                "completed 400ms".to_string(),
            ]
        );
    }

    #[test]
    fn progress_only_when_something_changed() {
        let mut decoder = EventDecoder::default();
        let layer = |current, ms| since(status("sha256:v", "sha256:layer", current, 2000, ms), 10);
        let events = decoder.decode(response(vec![], vec![layer(100, 20)], vec![], vec![]));
        assert_eq!(
            events,
            [BuildEvent::Progress {
                vertex: id("sha256:v"),
                id: "sha256:layer".into(),
                name: String::new(),
                current: 100,
                total: Some(2000),
                started: Some(at(10)),
                at: at(20),
                completed: false
            }]
        );
        // Only the timestamp moved.
        assert_eq!(
            decoder.decode(response(vec![], vec![layer(100, 30)], vec![], vec![])),
            []
        );
        let events = decoder.decode(response(
            vec![],
            vec![done(layer(2000, 40))],
            vec![],
            vec![],
        ));
        assert!(matches!(
            &events[..],
            [BuildEvent::Progress { current: 2000, completed: true, at: when, .. }] if *when == at(40)
        ));
        assert_eq!(
            decoder.decode(response(
                vec![],
                vec![done(layer(2000, 50))],
                vec![],
                vec![]
            )),
            []
        );

        let untotalled = decoder.decode(response(
            vec![],
            vec![status("sha256:v", "transferring context:", 32, 0, 5)],
            vec![],
            vec![],
        ));
        assert!(matches!(
            &untotalled[..],
            [BuildEvent::Progress {
                total: None,
                started: None,
                ..
            }]
        ));
    }

    #[test]
    fn logs_and_warnings() {
        let mut decoder = EventDecoder::default();
        let events = decoder.decode(response(
            vec![],
            vec![],
            vec![
                log("sha256:v", 1, 5, "out\n"),
                log("sha256:v", 2, 6, "err"),
                log("sha256:v", 1, 7, ""),
            ],
            vec![VertexWarning {
                detail: vec![b"Why.".to_vec(), b"More.".to_vec()],
                url: "https://docs.docker.com/go/dockerfile/rule/from-as-casing/".into(),
                ..warning(
                    "sha256:v",
                    "FromAsCasing: 'as' and 'FROM' keywords' casing do not match",
                )
            }],
        ));
        assert_eq!(
            events,
            [
                BuildEvent::Warning {
                    vertex: id("sha256:v"),
                    level: 1,
                    short: "FromAsCasing: 'as' and 'FROM' keywords' casing do not match".into(),
                    detail: vec!["Why.".into(), "More.".into()],
                    url: Some("https://docs.docker.com/go/dockerfile/rule/from-as-casing/".into())
                },
                BuildEvent::Log {
                    vertex: id("sha256:v"),
                    stream: LogStream::Stdout,
                    data: Bytes::from_static(b"out\n"),
                    at: at(5)
                },
                BuildEvent::Log {
                    vertex: id("sha256:v"),
                    stream: LogStream::Stderr,
                    data: Bytes::from_static(b"err"),
                    at: at(6)
                },
            ]
        );
        assert!(events.iter().all(|event| event.vertex() == &id("sha256:v")));
    }

    #[test]
    fn a_vertex_ends_after_its_output_in_the_same_message() {
        let mut decoder = EventDecoder::default();
        decode(&mut decoder, vec![started("sha256:a", "a", 0)]);
        let events = decoder.decode(response(
            vec![completed("sha256:a", "a", 0, 50)],
            vec![],
            vec![log("sha256:a", 1, 49, "last words\n")],
            vec![],
        ));
        assert!(matches!(
            &events[..],
            [BuildEvent::Log { .. }, BuildEvent::VertexCompleted { .. }]
        ));
    }

    #[test]
    fn timestamps() {
        let time = |seconds, nanos| system_time(&Timestamp { seconds, nanos });
        assert_eq!(time(1, 500), UNIX_EPOCH + Duration::new(1, 500));
        assert_eq!(time(-1, 0), UNIX_EPOCH - Duration::from_secs(1));
        assert_eq!(time(0, -5), UNIX_EPOCH);
    }
}
