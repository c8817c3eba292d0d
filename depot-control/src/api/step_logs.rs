//! Build step logs: the lines BuildKit's status stream carries (`VertexLog` chunks, split
//! into lines), kept per build up to a byte limit, served paged by
//! `depot.build.v1.BuildService/GetBuildStepLogs`, and dropped a while after the build finished.

use std::collections::HashMap;
use std::time::Duration;

use super::{ControlPlane, timestamp};
use crate::auth::Principal;
use crate::store::now_ms;
use depot_core::connect::ConnectError;
use depot_core::proto::depot::build::v1 as build_api;
use depot_core::proto::moby::buildkit::v1::VertexLog;

use build_api::get_build_step_logs_response::Log;

/// Longest line kept: longer output is cut into lines of this size.
const MAX_LINE_BYTES: usize = 16 << 10;
/// Steps × streams with an unfinished line held at once; beyond it, the oldest are flushed.
const MAX_OPEN_LINES: usize = 1024;
/// Lines returned per page when the request does not say.
const DEFAULT_LOGS_PAGE: i32 = 100;
/// Most lines per page.
const MAX_LOGS_PAGE: i32 = 1000;

/// A line of a step's log: `(vertex digest, ms since epoch, text)`.
pub(super) type LogLine = (String, i64, String);

/// Splits the log chunks of one status stream into lines, holding a step's unfinished line
/// until its end arrives (BuildKit cuts output at arbitrary bytes).
#[derive(Debug, Default)]
pub(super) struct LineSplitter {
    /// Unfinished line per (vertex, stream): when its first byte came, its bytes.
    open: HashMap<(String, i64), (i64, Vec<u8>)>,
}

impl LineSplitter {
    /// The lines `logs` complete.
    pub(super) fn push<'a>(
        &mut self,
        logs: impl IntoIterator<Item = &'a VertexLog>,
    ) -> Vec<LogLine> {
        let mut lines = Vec::new();
        for log in logs.into_iter().filter(|l| !l.vertex.is_empty()) {
            let at = log
                .timestamp
                .as_ref()
                .map_or_else(now_ms, super::build_lifecycle::millis);
            let key = (log.vertex.clone(), log.stream);
            let (started, buffer) = self.open.entry(key).or_insert_with(|| (at, Vec::new()));
            for &byte in &log.msg {
                if byte == b'\n' {
                    lines.push(line(&log.vertex, *started, buffer));
                    *started = at;
                    continue;
                }
                buffer.push(byte);
                if buffer.len() >= MAX_LINE_BYTES {
                    lines.push(line(&log.vertex, *started, buffer));
                    *started = at;
                }
            }
        }
        self.open.retain(|_, (_, buffer)| !buffer.is_empty());
        if self.open.len() > MAX_OPEN_LINES {
            lines.extend(self.flush());
        }
        lines
    }

    /// The unfinished lines, ended (the stream is over).
    pub(super) fn flush(&mut self) -> Vec<LogLine> {
        let mut lines: Vec<LogLine> = self
            .open
            .drain()
            .map(|((vertex, _), (started, mut buffer))| line(&vertex, started, &mut buffer))
            .collect();
        lines.sort_by_key(|(_, at, _)| *at);
        lines
    }
}

/// `buffer` as a line of `vertex` (emptying it): lossy UTF-8, a trailing `\r` dropped.
fn line(vertex: &str, at: i64, buffer: &mut Vec<u8>) -> LogLine {
    let text = String::from_utf8_lossy(buffer);
    let text = text.strip_suffix('\r').unwrap_or(&text).to_owned();
    buffer.clear();
    (vertex.to_owned(), at, text)
}

impl ControlPlane {
    /// Keeps `lines` in the build's log, up to the configured limit.
    pub(super) async fn keep_step_logs(
        &self,
        build_id: &str,
        lines: &[LogLine],
    ) -> Result<(), ConnectError> {
        let limit = i64::try_from(self.config.build_log_limit).unwrap_or(i64::MAX);
        self.store.append_step_logs(build_id, lines, limit).await?;
        Ok(())
    }

    /// `depot.build.v1.BuildService/GetBuildStepLogs`: one step's lines in the order they were
    /// printed, paged.
    pub(super) async fn get_build_step_logs(
        &self,
        principal: Principal,
        request: build_api::GetBuildStepLogsRequest,
    ) -> Result<build_api::GetBuildStepLogsResponse, ConnectError> {
        let build = self
            .readable_build_in(&principal, &request.build_id, &request.project_id)
            .await?;
        if request.build_step_digest.is_empty() {
            return Err(ConnectError::invalid_argument(
                "build_step_digest is required: a digest GetBuildSteps returned",
            ));
        }
        let page_size = match request.page_size.unwrap_or(DEFAULT_LOGS_PAGE) {
            n if (1..=MAX_LOGS_PAGE).contains(&n) => i64::from(n),
            n => {
                return Err(ConnectError::invalid_argument(format!(
                    "page_size {n} is out of range 1-{MAX_LOGS_PAGE}"
                )));
            }
        };
        let after = match request.page_token.as_deref() {
            None | Some("") => 0,
            Some(token) => token
                .parse::<i64>()
                .ok()
                .filter(|seq| *seq >= 0)
                .ok_or_else(|| ConnectError::invalid_argument("invalid page_token"))?,
        };
        let mut lines = self
            .store
            .step_logs(&build.id, &request.build_step_digest, after, page_size + 1)
            .await?;
        let next_page_token = if lines.len() as i64 > page_size {
            lines.truncate(page_size as usize);
            lines.last().map(|line| line.seq.to_string())
        } else {
            None
        };
        Ok(build_api::GetBuildStepLogsResponse {
            logs: lines
                .into_iter()
                .map(|line| Log {
                    message: line.message,
                    timestamp: Some(timestamp(line.logged_at)),
                })
                .collect(),
            next_page_token,
        })
    }

    /// Drops the step logs of builds that finished longer than the retention ago, every few
    /// minutes (and at once).
    pub fn spawn_step_log_expiry(&self) -> tokio::task::JoinHandle<()> {
        let plane = self.clone();
        let retention = self.config.build_log_retention;
        let every = (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(10 * 60));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let before = now_ms() - retention.as_millis() as i64;
                match plane.store.expire_step_logs(before).await {
                    Ok(0) => {}
                    Ok(builds) => tracing::info!(builds, "expired build step logs"),
                    Err(err) => {
                        tracing::warn!(err = %depot_core::ErrorChain(&err), "expiring step logs failed")
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(vertex: &str, stream: i64, msg: &[u8], seconds: i64) -> VertexLog {
        VertexLog {
            vertex: vertex.into(),
            stream,
            msg: msg.to_vec(),
            timestamp: Some(prost_types::Timestamp { seconds, nanos: 0 }),
        }
    }

    #[test]
    fn chunks_become_lines_across_batches() {
        let mut splitter = LineSplitter::default();
        let lines = splitter.push(&[
            chunk("sha256:a", 1, b"one\ntw", 1),
            chunk("sha256:b", 2, b"err\r\n", 1),
        ]);
        assert_eq!(
            lines,
            [
                ("sha256:a".into(), 1000, "one".into()),
                ("sha256:b".into(), 1000, "err".into())
            ]
        );
        let lines = splitter.push(&[chunk("sha256:a", 1, b"o\nthree", 2)]);
        assert_eq!(lines, [("sha256:a".into(), 1000, "two".into())]);
        assert_eq!(
            splitter.flush(),
            [("sha256:a".into(), 2000, "three".into())]
        );
        assert!(splitter.flush().is_empty());
    }

    #[test]
    fn long_output_is_cut_and_bad_utf8_replaced() {
        let mut splitter = LineSplitter::default();
        let mut long = vec![b'x'; MAX_LINE_BYTES + 10];
        long.extend_from_slice(b"\n\xff\n");
        let lines = splitter.push(&[chunk("sha256:a", 1, &long, 1)]);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].2.len(), MAX_LINE_BYTES);
        assert_eq!(lines[1].2, "x".repeat(10));
        assert_eq!(lines[2].2, "\u{fffd}");
    }
}
