//! [`PlainPrinter`]: buildx's `--progress=plain` format.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::time::{Duration, SystemTime};

use crate::events::{BuildEvent, VertexId};

use super::logs::VertexLogs;
use super::units::{between, progress_amount, seconds};
use super::{Printer, error_box};

/// A progress item is shown again after this long even if it barely moved.
const STATUS_INTERVAL: Duration = Duration::from_secs(5);

/// Prints one line per change, as `docker buildx build --progress=plain` does:
///
/// ```text
/// #0 building with "default" instance using docker driver
///
/// #1 [internal] load build definition from Dockerfile
/// #1 transferring dockerfile: 171B done
/// #1 DONE 0.0s
///
/// #2 [base 2/2] RUN echo hello
/// #2 0.161 hello
/// #2 DONE 0.2s
/// ```
///
/// Vertices are numbered in the order they are first printed. Whenever the output moves to
/// another vertex, an empty line and the vertex's name come first; leaving a vertex that is
/// still running prints `#N ...`. Progress items are reprinted when done, after 5 % more
/// progress or after 5 s. Write errors are ignored: progress is best effort.
pub struct PlainPrinter {
    out: Box<dyn Write + Send>,
    vertices: HashMap<VertexId, Vertex>,
    next_number: usize,
    /// The vertex of the last line printed.
    current: Option<VertexId>,
    /// Whether anything was printed (the next vertex is then set apart by an empty line).
    printed: bool,
    /// The first vertex that failed (not canceled).
    failed: Option<VertexId>,
}

/// What the printer knows of a vertex.
#[derive(Default)]
struct Vertex {
    /// Its `#N`, once printed.
    number: Option<usize>,
    name: String,
    started: Option<SystemTime>,
    running: bool,
    logs: VertexLogs,
    /// Progress items as last printed: amount and time.
    shown: HashMap<String, (i64, SystemTime)>,
}

impl PlainPrinter {
    /// A printer writing to `out`, first a `#0 <description>` line if given (buildx describes
    /// the builder there: `building with "default" instance using docker driver`).
    pub fn new(mut out: Box<dyn Write + Send>, description: Option<&str>) -> Self {
        if let Some(description) = description {
            let _ = writeln!(out, "#0 {description}");
        }
        PlainPrinter {
            out,
            vertices: HashMap::new(),
            next_number: 1,
            current: None,
            printed: description.is_some(),
            failed: None,
        }
    }

    /// Makes `id` the vertex being printed and returns its number. When the output moves to it
    /// (or `again`, for a vertex that starts over), sets it apart and prints its name.
    fn switch(&mut self, text: &mut String, id: &VertexId, again: bool) -> usize {
        let vertex = self.vertices.entry(id.clone()).or_default();
        let number = *vertex.number.get_or_insert_with(|| {
            self.next_number += 1;
            self.next_number - 1
        });
        if self.current.as_ref() == Some(id) && !again {
            return number;
        }
        if let Some(previous) = self.current.as_ref().filter(|previous| *previous != id)
            && let Some(previous) = self.vertices.get(previous)
            && previous.running
            && let Some(previous) = previous.number
        {
            let _ = writeln!(text, "#{previous} ...");
        }
        if self.printed {
            text.push('\n');
        }
        let name = &self.vertices[id].name;
        if !name.is_empty() {
            let _ = writeln!(text, "#{number} {name}");
        }
        self.current = Some(id.clone());
        self.printed = true;
        number
    }

    /// Prints the vertex's unfinished log lines and how it ended.
    fn end(&mut self, text: &mut String, id: &VertexId, name: &str, outcome: &str) {
        let vertex = self.vertices.entry(id.clone()).or_default();
        vertex.name = name.to_string();
        vertex.running = false;
        let lines = vertex.logs.flush(vertex.started);
        let number = self.switch(text, id, false);
        for line in lines {
            let _ = writeln!(text, "#{number} {line}");
        }
        let _ = writeln!(text, "#{number} {outcome}");
    }

    /// Whether a progress item should be printed now.
    fn progress_due(
        &self,
        id: &VertexId,
        item: &str,
        current: i64,
        total: Option<i64>,
        at: SystemTime,
    ) -> bool {
        let Some(&(shown, when)) = self
            .vertices
            .get(id)
            .and_then(|vertex| vertex.shown.get(item))
        else {
            return true;
        };
        between(when, at) >= STATUS_INTERVAL
            || total.is_some_and(|total| current.saturating_sub(shown).saturating_mul(20) >= total)
    }
}

impl Printer for PlainPrinter {
    fn event(&mut self, event: &BuildEvent) {
        let mut text = String::new();
        match event {
            BuildEvent::VertexQueued { vertex, name } => {
                self.vertices.entry(vertex.clone()).or_default().name = name.clone();
            }
            BuildEvent::VertexStarted {
                vertex,
                name,
                started,
            } => {
                let state = self.vertices.entry(vertex.clone()).or_default();
                state.name = name.clone();
                state.started = Some(*started);
                state.running = true;
                self.switch(&mut text, vertex, true);
            }
            BuildEvent::VertexCompleted {
                vertex,
                name,
                duration,
            } => {
                self.end(
                    &mut text,
                    vertex,
                    name,
                    &format!("DONE {}", seconds(*duration)),
                );
            }
            BuildEvent::VertexCached { vertex, name } => {
                self.end(&mut text, vertex, name, "CACHED");
            }
            BuildEvent::VertexErrored {
                vertex,
                name,
                error,
                canceled,
                ..
            } => {
                if *canceled {
                    self.end(&mut text, vertex, name, "CANCELED");
                } else {
                    self.end(&mut text, vertex, name, &format!("ERROR: {error}"));
                    self.failed.get_or_insert_with(|| vertex.clone());
                }
            }
            BuildEvent::Log {
                vertex,
                stream,
                data,
                at,
            } => {
                let state = self.vertices.entry(vertex.clone()).or_default();
                for line in state.logs.push(*stream, data, *at, state.started) {
                    let number = self.switch(&mut text, vertex, false);
                    let _ = writeln!(text, "#{number} {line}");
                }
            }
            BuildEvent::Progress {
                vertex,
                id,
                current,
                total,
                started,
                at,
                completed,
                ..
            } => {
                if !*completed && !self.progress_due(vertex, id, *current, *total, *at) {
                    return;
                }
                let number = self.switch(&mut text, vertex, false);
                let _ = write!(text, "#{number} {id}");
                text.push_str(&progress_amount(*current, *total));
                if let Some(started) = started {
                    let _ = write!(text, " {}", seconds(between(*started, *at)));
                }
                text.push_str(if *completed { " done\n" } else { "\n" });
                if let Some(state) = self.vertices.get_mut(vertex) {
                    state.shown.insert(id.clone(), (*current, *at));
                }
            }
            BuildEvent::Warning { vertex, short, .. } => {
                let number = self.switch(&mut text, vertex, false);
                let _ = writeln!(text, "#{number} WARN: {short}");
            }
        }
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }

    fn finish(&mut self, error: Option<&str>) {
        if let Some(error) = error {
            let mut text = String::new();
            if let Some(vertex) = self.failed.as_ref().and_then(|id| self.vertices.get(id)) {
                error_box(&mut text, &vertex.name, vertex.logs.tail());
            }
            let _ = writeln!(text, "ERROR: {error}");
            let _ = self.out.write_all(text.as_bytes());
        }
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventDecoder;
    use crate::testing::*;

    const DOCKERFILE: &str = "sha256:0d1e";
    const METADATA: &str = "sha256:8f2a";
    const DOCKERIGNORE: &str = "sha256:a3c4";
    const FROM: &str = "sha256:57b1";
    const CONTEXT: &str = "sha256:c0de";
    const RUN: &str = "sha256:9e77";
    const COPY: &str = "sha256:44aa";
    const FAIL: &str = "sha256:dead";
    const SLEEP: &str = "sha256:5eeb";
    const LAYER: &str = "sha256:c6a83fedfae6ed8a4f5f7cbb6a7b6f1c1ec3d86fea8cb9e5ba2e5e6673fde9f6";
    const IMAGE: &str = "docker.io/library/alpine:3.20@sha256:beefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdead";
    const FAILURE: &str = r#"process "/bin/sh -c echo about to fail && exit 3" did not complete successfully: exit code: 3"#;

    /// A build of a Dockerfile, as BuildKit reports it: the frontend's steps, an image pull, a
    /// step with logs, a cached step, then a failure that cancels a parallel step.
    fn build() -> Vec<bollard_buildkit_proto::moby::buildkit::v1::StatusResponse> {
        let dockerfile = "[internal] load build definition from Dockerfile";
        let metadata = "[internal] load metadata for docker.io/library/alpine:3.20";
        let dockerignore = "[internal] load .dockerignore";
        let from = &format!("[base 1/4] FROM {IMAGE}");
        let context = "[internal] load build context";
        let run = "[base 2/4] RUN echo greeting=hello && printf 'multi\\nchunk\\n' >&2 && printf 'no newline'";
        let copy = "[tools 1/1] COPY --from=busybox /bin/busybox /bin/";
        let fail = "[base 4/4] RUN echo about to fail && exit 3";
        let sleep = "[tools 2/2] RUN sleep 10";
        let layer = |current, ms| since(status(FROM, LAYER, current, 3_355_443, ms), 660);
        vec![
            response(
                vec![started(DOCKERFILE, dockerfile, 0)],
                vec![],
                vec![],
                vec![],
            ),
            response(
                vec![completed(DOCKERFILE, dockerfile, 0, 12)],
                vec![done(status(
                    DOCKERFILE,
                    "transferring dockerfile:",
                    171,
                    0,
                    8,
                ))],
                vec![],
                vec![warning(
                    DOCKERFILE,
                    "FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)",
                )],
            ),
            response(
                vec![started(METADATA, metadata, 20)],
                vec![],
                vec![],
                vec![],
            ),
            response(
                vec![started(DOCKERIGNORE, dockerignore, 22)],
                vec![],
                vec![],
                vec![],
            ),
            response(
                vec![completed(DOCKERIGNORE, dockerignore, 22, 25)],
                vec![done(status(
                    DOCKERIGNORE,
                    "transferring context:",
                    2,
                    0,
                    24,
                ))],
                vec![],
                vec![],
            ),
            // Re-sent without change.
            response(
                vec![started(METADATA, metadata, 20)],
                vec![],
                vec![],
                vec![],
            ),
            response(
                vec![completed(METADATA, metadata, 20, 640)],
                vec![],
                vec![],
                vec![],
            ),
            // The solve announces its graph, then starts.
            response(
                vec![
                    vertex(FROM, from),
                    vertex(CONTEXT, context),
                    vertex(RUN, run),
                    vertex(COPY, copy),
                    vertex(FAIL, fail),
                    vertex(SLEEP, sleep),
                ],
                vec![],
                vec![],
                vec![],
            ),
            response(
                vec![started(FROM, from, 650)],
                vec![done(since(
                    status(FROM, &format!("resolve {IMAGE}"), 0, 0, 651),
                    650,
                ))],
                vec![],
                vec![],
            ),
            response(
                vec![started(CONTEXT, context, 655)],
                vec![
                    status(CONTEXT, "transferring context:", 32_768, 0, 700),
                    layer(1_048_576, 900),
                ],
                vec![],
                vec![],
            ),
            // Less than 5 % more: not shown.
            response(vec![], vec![layer(1_100_000, 950)], vec![], vec![]),
            response(
                vec![completed(CONTEXT, context, 655, 725)],
                vec![done(status(
                    CONTEXT,
                    "transferring context:",
                    32_768,
                    0,
                    720,
                ))],
                vec![],
                vec![],
            ),
            response(vec![], vec![layer(2_202_009, 1200)], vec![], vec![]),
            response(
                vec![completed(FROM, from, 650, 1540)],
                vec![
                    done(layer(3_355_443, 1400)),
                    done(since(
                        status(FROM, &format!("extracting {LAYER}"), 0, 0, 1530),
                        1410,
                    )),
                ],
                vec![],
                vec![],
            ),
            response(
                vec![started(RUN, run, 1550)],
                vec![],
                vec![log(RUN, 1, 1711, "greeting=hello\n")],
                vec![],
            ),
            response(vec![], vec![], vec![log(RUN, 2, 1800, "mul")], vec![]),
            response(
                vec![],
                vec![],
                vec![log(RUN, 2, 1802, "ti\nchunk\n")],
                vec![],
            ),
            response(vec![cached(COPY, copy, 1810)], vec![], vec![], vec![]),
            response(
                vec![completed(RUN, run, 1550, 2100)],
                vec![],
                vec![log(RUN, 1, 2000, "no newline")],
                vec![],
            ),
            response(
                vec![started(FAIL, fail, 2150), started(SLEEP, sleep, 2160)],
                vec![],
                vec![log(FAIL, 1, 2273, "about to fail\n")],
                vec![],
            ),
            response(
                vec![
                    errored(FAIL, fail, 2150, 2300, FAILURE),
                    errored(SLEEP, sleep, 2160, 2301, "context canceled"),
                ],
                vec![],
                vec![],
                vec![],
            ),
        ]
    }

    #[test]
    fn golden_build() {
        let out = SharedBuf::default();
        let mut printer = PlainPrinter::new(
            Box::new(out.clone()),
            Some(r#"building with "default" instance using docker driver"#),
        );
        let mut decoder = EventDecoder::default();
        for response in build() {
            for event in decoder.decode(response) {
                printer.event(&event);
            }
        }
        printer.finish(Some(&format!("failed to solve: {FAILURE}")));
        assert_eq!(out.text(), EXPECTED, "\n{}", out.text());
    }

    /// What the printer shows of [`build`], as buildx would.
    const EXPECTED: &str = r##"#0 building with "default" instance using docker driver

#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 171B done
#1 WARN: FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)
#1 DONE 0.0s

#2 [internal] load metadata for docker.io/library/alpine:3.20
#2 ...

#3 [internal] load .dockerignore
#3 transferring context: 2B done
#3 DONE 0.0s

#2 [internal] load metadata for docker.io/library/alpine:3.20
#2 DONE 0.6s

#4 [base 1/4] FROM docker.io/library/alpine:3.20@sha256:beefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdead
#4 resolve docker.io/library/alpine:3.20@sha256:beefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdead 0.0s done
#4 ...

#5 [internal] load build context
#5 transferring context: 32.77kB
#5 ...

#4 [base 1/4] FROM docker.io/library/alpine:3.20@sha256:beefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdead
#4 sha256:c6a83fedfae6ed8a4f5f7cbb6a7b6f1c1ec3d86fea8cb9e5ba2e5e6673fde9f6 1.05MB / 3.36MB 0.2s
#4 ...

#5 [internal] load build context
#5 transferring context: 32.77kB done
#5 DONE 0.1s

#4 [base 1/4] FROM docker.io/library/alpine:3.20@sha256:beefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdead
#4 sha256:c6a83fedfae6ed8a4f5f7cbb6a7b6f1c1ec3d86fea8cb9e5ba2e5e6673fde9f6 2.20MB / 3.36MB 0.5s
#4 sha256:c6a83fedfae6ed8a4f5f7cbb6a7b6f1c1ec3d86fea8cb9e5ba2e5e6673fde9f6 3.36MB / 3.36MB 0.7s done
#4 extracting sha256:c6a83fedfae6ed8a4f5f7cbb6a7b6f1c1ec3d86fea8cb9e5ba2e5e6673fde9f6 0.1s done
#4 DONE 0.9s

#6 [base 2/4] RUN echo greeting=hello && printf 'multi\nchunk\n' >&2 && printf 'no newline'
#6 0.161 greeting=hello
#6 0.250 multi
#6 0.252 chunk
#6 ...

#7 [tools 1/1] COPY --from=busybox /bin/busybox /bin/
#7 CACHED

#6 [base 2/4] RUN echo greeting=hello && printf 'multi\nchunk\n' >&2 && printf 'no newline'
#6 0.450 no newline
#6 DONE 0.6s

#8 [base 4/4] RUN echo about to fail && exit 3
#8 ...

#9 [tools 2/2] RUN sleep 10
#9 ...

#8 [base 4/4] RUN echo about to fail && exit 3
#8 0.123 about to fail
#8 ERROR: process "/bin/sh -c echo about to fail && exit 3" did not complete successfully: exit code: 3

#9 [tools 2/2] RUN sleep 10
#9 CANCELED
------
 > [base 4/4] RUN echo about to fail && exit 3:
0.123 about to fail
------
ERROR: failed to solve: process "/bin/sh -c echo about to fail && exit 3" did not complete successfully: exit code: 3
"##;

    #[test]
    fn a_vertex_that_runs_again_is_introduced_again() {
        let out = SharedBuf::default();
        let mut printer = PlainPrinter::new(Box::new(out.clone()), None);
        let mut decoder = EventDecoder::default();
        for response in [
            response(
                vec![completed("sha256:a", "merged", 0, 100)],
                vec![],
                vec![],
                vec![],
            ),
            response(
                vec![started("sha256:a", "merged", 500)],
                vec![],
                vec![],
                vec![],
            ),
            response(
                vec![completed("sha256:a", "merged", 500, 800)],
                vec![],
                vec![],
                vec![],
            ),
        ] {
            for event in decoder.decode(response) {
                printer.event(&event);
            }
        }
        printer.finish(None);
        assert_eq!(
            out.text(),
            "#1 merged\n#1 DONE 0.1s\n\n#1 merged\n#1 DONE 0.3s\n"
        );
    }

    #[test]
    fn slow_progress_is_shown_every_five_seconds() {
        let out = SharedBuf::default();
        let mut printer = PlainPrinter::new(Box::new(out.clone()), None);
        let mut decoder = EventDecoder::default();
        let pull = |current, ms| status("sha256:a", "sha256:layer", current, 1_000_000_000, ms);
        for response in [
            response(
                vec![started("sha256:a", "pull", 0)],
                vec![pull(1000, 0)],
                vec![],
                vec![],
            ),
            response(vec![], vec![pull(2000, 4999)], vec![], vec![]),
            response(vec![], vec![pull(3000, 5000)], vec![], vec![]),
            response(vec![], vec![done(pull(4000, 5001))], vec![], vec![]),
        ] {
            for event in decoder.decode(response) {
                printer.event(&event);
            }
        }
        assert_eq!(
            out.text(),
            "#1 pull\n\
             #1 sha256:layer 1.00kB / 1.00GB\n\
             #1 sha256:layer 3.00kB / 1.00GB\n\
             #1 sha256:layer 4.00kB / 1.00GB done\n"
        );
    }
}
