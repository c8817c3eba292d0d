//! The solve's status stream, decoded into [`BuildEvent`]s and forwarded to the caller.

use std::collections::HashMap;
use std::time::Duration;

use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use bollard_buildkit_proto::moby::buildkit::v1::{StatusRequest, StatusResponse};
use tokio::sync::mpsc;
use tonic::transport::Channel;

use crate::events::{BuildEvent, EventDecoder};

/// Log lines kept per step, for the failure report.
const KEPT_LINES: usize = 10;
/// How often to ask again while the daemon does not know the job yet.
const RETRIES: usize = 50;

/// What the stream showed about a failure.
#[derive(Debug, Default)]
pub(super) struct Summary {
    /// The name of the step that failed, if one did.
    pub(super) failed_step: Option<String>,
    /// The last lines that step wrote.
    pub(super) log: Vec<String>,
}

/// Follows the status of `build_ref` until the job ends, forwarding events (and, to `tap`,
/// the raw messages).
pub(super) async fn follow(
    mut control: ControlClient<Channel>,
    build_ref: String,
    events: mpsc::Sender<BuildEvent>,
    tap: Option<mpsc::Sender<StatusResponse>>,
) -> Summary {
    let mut decoder = EventDecoder::default();
    let mut logs: HashMap<String, LogTail> = HashMap::new();
    let mut summary = Summary::default();
    let mut stream = None;
    for _ in 0..RETRIES {
        match control
            .status(StatusRequest {
                r#ref: build_ref.clone(),
            })
            .await
        {
            Ok(response) => {
                stream = Some(response.into_inner());
                break;
            }
            // The job appears when the solve request arrives.
            Err(status) if status.message().contains("no such job") => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => return summary,
        }
    }
    let Some(mut stream) = stream else {
        return summary;
    };
    let mut forwarding = true;
    while let Ok(Some(response)) = stream.message().await {
        if let Some(tap) = &tap {
            // A full or closed tap loses this message; the build goes on.
            let _ = tap.try_send(response.clone());
        }
        for event in decoder.decode(response) {
            match &event {
                BuildEvent::Log { vertex, data, .. } => {
                    logs.entry(vertex.0.clone()).or_default().push(data);
                }
                BuildEvent::VertexErrored {
                    vertex,
                    name,
                    canceled: false,
                    ..
                } if summary.failed_step.is_none() => {
                    summary.failed_step = Some(name.clone());
                    summary.log = logs
                        .remove(&vertex.0)
                        .map(LogTail::lines)
                        .unwrap_or_default();
                }
                _ => {}
            }
            // A caller that stopped listening does not stop the build.
            if forwarding && events.send(event).await.is_err() {
                forwarding = false;
            }
        }
    }
    summary
}

/// The last lines of one step's output.
#[derive(Default)]
struct LogTail {
    lines: std::collections::VecDeque<String>,
    partial: String,
}

impl LogTail {
    fn push(&mut self, data: &[u8]) {
        self.partial.push_str(&String::from_utf8_lossy(data));
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            self.lines
                .push_back(line.trim_end_matches(['\n', '\r']).to_owned());
            if self.lines.len() > KEPT_LINES {
                self.lines.pop_front();
            }
        }
    }

    fn lines(mut self) -> Vec<String> {
        if !self.partial.is_empty() {
            self.lines.push_back(std::mem::take(&mut self.partial));
            if self.lines.len() > KEPT_LINES {
                self.lines.pop_front();
            }
        }
        self.lines.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tail_keeps_the_last_lines_across_chunks() {
        let mut tail = LogTail::default();
        for i in 0..12 {
            tail.push(format!("line {i}\n").as_bytes());
        }
        tail.push(b"split ");
        tail.push(b"line\nno newline");
        let lines = tail.lines();
        assert_eq!(lines.len(), KEPT_LINES);
        assert_eq!(lines[KEPT_LINES - 2], "split line");
        assert_eq!(lines[KEPT_LINES - 1], "no newline");
        assert_eq!(lines[0], "line 4");
    }
}
