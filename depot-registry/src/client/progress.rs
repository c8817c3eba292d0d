//! Progress reporting: client operations describe what happens to each blob through a
//! [`ProgressSink`], and the caller decides how to show it (live bars, plain lines, nothing).

/// How a blob reached its destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlobTransfer {
    /// The destination already had it.
    Present,
    /// Mounted from the source repository on the same registry.
    Mounted,
    /// Streamed from the source.
    Copied,
}

/// Something that happened during a pull, push or copy.
///
/// `target` names the destination the event is about (a registry image, a layout directory or
/// the Docker Engine's image); `digest` names the blob (the Docker Engine reports shortened
/// digests). A blob may finish without having started: blobs found at the destination are
/// reported only once, as [`ProgressEvent::BlobDone`] with [`BlobTransfer::Present`].
///
/// Serialized (for the Node and Python packages) as an object tagged by `type`
/// (`blob_started`, `blob_progress`, `blob_status`, `blob_done`, `manifest`, `message`) with
/// the variant's fields in snake_case.
#[derive(Clone, Copy, Debug, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProgressEvent<'a> {
    /// A blob started to travel.
    BlobStarted {
        /// The destination.
        target: &'a str,
        /// The blob.
        digest: &'a str,
        /// Its size, if known yet.
        size: Option<u64>,
    },
    /// Bytes of a blob travelled.
    BlobProgress {
        /// The destination.
        target: &'a str,
        /// The blob.
        digest: &'a str,
        /// Bytes so far.
        current: u64,
        /// Its size, if known.
        total: Option<u64>,
    },
    /// A blob entered another phase of its journey (the Docker Engine's "Verifying Checksum",
    /// "Extracting" and so on).
    BlobStatus {
        /// The destination.
        target: &'a str,
        /// The blob.
        digest: &'a str,
        /// The phase.
        status: &'a str,
    },
    /// A blob is at its destination.
    BlobDone {
        /// The destination.
        target: &'a str,
        /// The blob.
        digest: &'a str,
        /// Its size, if known.
        size: Option<u64>,
        /// How it got there.
        transfer: BlobTransfer,
    },
    /// A manifest was written to its destination.
    Manifest {
        /// The destination.
        target: &'a str,
        /// The manifest's digest.
        digest: &'a str,
    },
    /// A message about the whole operation (e.g. the Docker Engine's "Digest: …").
    Message {
        /// The destination.
        target: &'a str,
        /// The message.
        text: &'a str,
    },
}

/// Receives progress events; implementations must be cheap, as byte progress is reported for
/// every chunk that arrives.
pub trait ProgressSink: Send + Sync {
    /// Handles one event.
    fn report(&self, event: ProgressEvent<'_>);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_tagged_by_type() {
        let done = ProgressEvent::BlobDone {
            target: "registry.test/app:v1",
            digest: "sha256:aa",
            size: Some(3),
            transfer: BlobTransfer::Mounted,
        };
        assert_eq!(
            serde_json::to_value(done).unwrap(),
            serde_json::json!({
                "type": "blob_done",
                "target": "registry.test/app:v1",
                "digest": "sha256:aa",
                "size": 3,
                "transfer": "mounted",
            })
        );
    }
}
