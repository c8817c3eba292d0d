//! Translating the Docker Engine's pull messages (`{"id", "status", "progressDetail"}` from
//! `POST /images/create`) into [`ProgressEvent`]s: "Pulling fs layer" starts a layer,
//! "Download complete" finishes it ("Already exists" finishes it as present), byte counts are
//! progress, and any other status (e.g. "Extracting", which only the classic image store sends
//! after the download) is a phase.

use std::collections::HashMap;

use super::progress::{BlobTransfer, ProgressEvent, ProgressSink};

/// The state of one pull's messages.
pub(crate) struct EngineProgress<'a> {
    target: &'a str,
    sink: &'a dyn ProgressSink,
    /// The last status of each layer, so a phase is reported once, not with every byte count.
    phases: HashMap<String, String>,
}

impl<'a> EngineProgress<'a> {
    /// Reports to `sink` with `target` as the destination.
    pub fn new(target: &'a str, sink: &'a dyn ProgressSink) -> Self {
        Self {
            target,
            sink,
            phases: HashMap::new(),
        }
    }

    /// Handles one message: `id` is a (shortened) layer digest, or for whole-pull messages a
    /// tag or nothing.
    pub fn update(
        &mut self,
        id: Option<&str>,
        status: Option<&str>,
        (current, total): (Option<i64>, Option<i64>),
    ) {
        let target = self.target;
        let Some(status) = status.filter(|s| !s.is_empty()) else {
            return;
        };
        let layer = id.filter(|id| !id.is_empty() && !status.starts_with("Pulling from "));
        let Some(digest) = layer else {
            let text = match id.filter(|id| !id.is_empty()) {
                Some(id) => format!("{id}: {status}"),
                None => status.to_owned(),
            };
            self.sink.report(ProgressEvent::Message {
                target,
                text: &text,
            });
            return;
        };
        let done = |transfer| ProgressEvent::BlobDone {
            target,
            digest,
            size: None,
            transfer,
        };
        match status {
            "Pulling fs layer" => self.sink.report(ProgressEvent::BlobStarted {
                target,
                digest,
                size: None,
            }),
            "Already exists" => self.sink.report(done(BlobTransfer::Present)),
            "Download complete" => self.sink.report(done(BlobTransfer::Copied)),
            _ => {
                if self.phases.get(digest).is_none_or(|last| last != status) {
                    self.phases.insert(digest.to_owned(), status.to_owned());
                    self.sink.report(ProgressEvent::BlobStatus {
                        target,
                        digest,
                        status,
                    });
                }
                if let Some(current) = current.and_then(|c| u64::try_from(c).ok()) {
                    self.sink.report(ProgressEvent::BlobProgress {
                        target,
                        digest,
                        current,
                        total: total.and_then(|t| u64::try_from(t).ok()).filter(|&t| t > 0),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl ProgressSink for Recorder {
        fn report(&self, event: ProgressEvent<'_>) {
            let line = match event {
                ProgressEvent::BlobStarted { digest, .. } => format!("start {digest}"),
                ProgressEvent::BlobProgress {
                    digest,
                    current,
                    total,
                    ..
                } => format!("{digest} {current}/{total:?}"),
                ProgressEvent::BlobStatus { digest, status, .. } => format!("{digest} {status}"),
                ProgressEvent::BlobDone {
                    digest, transfer, ..
                } => format!("done {digest} {transfer:?}"),
                ProgressEvent::Manifest { digest, .. } => format!("manifest {digest}"),
                ProgressEvent::Message { text, .. } => text.to_owned(),
            };
            self.0.lock().unwrap().push(line);
        }
    }

    #[test]
    fn engine_messages_become_layer_events() {
        let recorder = Recorder::default();
        let mut progress = EngineProgress::new("host/p:v1", &recorder);
        let none = (None, None);
        progress.update(Some("v1"), Some("Pulling from p"), none);
        progress.update(Some("aaa"), Some("Pulling fs layer"), none);
        progress.update(Some("bbb"), Some("Already exists"), none);
        progress.update(Some("aaa"), Some("Downloading"), (Some(10), Some(30)));
        progress.update(Some("aaa"), Some("Downloading"), (Some(30), Some(30)));
        progress.update(Some("aaa"), Some("Download complete"), none);
        progress.update(Some("aaa"), Some("Extracting"), (Some(5), None));
        progress.update(Some("aaa"), Some("Pull complete"), none);
        progress.update(None, Some("Digest: sha256:123"), none);
        progress.update(None, None, none);
        assert_eq!(
            recorder.0.into_inner().unwrap(),
            [
                "v1: Pulling from p",
                "start aaa",
                "done bbb Present",
                "aaa Downloading",
                "aaa 10/Some(30)",
                "aaa 30/Some(30)",
                "done aaa Copied",
                "aaa Extracting",
                "aaa 5/None",
                "aaa Pull complete",
                "Digest: sha256:123",
            ]
        );
    }
}
