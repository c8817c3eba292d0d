//! BuildKit's status messages forwarded to `ReportStatusStream`: one client stream per build,
//! a batch a second. depot-core's `StatusResponse` has BuildKit's wire format, so messages are
//! re-encoded as they came. Reporting never holds a build back: a failed stream is reopened for
//! the next batch, and messages it could not take are lost.

use std::time::Duration;

use bollard_buildkit_proto::moby::buildkit::v1::StatusResponse as BuildKitStatus;
use depot_core::DepotClient;
use depot_core::proto::depot::cli::v1::ReportStatusStreamRequest;
use depot_core::proto::moby::buildkit::v1::StatusResponse;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Raw status messages buffered between the build and the reporter.
pub(super) const TAP_CAPACITY: usize = 4096;
/// How often a batch goes out.
const BATCH_INTERVAL: Duration = Duration::from_secs(1);
/// How long to wait before reopening a failed stream.
const REOPEN_DELAY: Duration = Duration::from_secs(1);

/// Forwards `statuses` until the build drops its end of the channel.
pub(super) async fn forward(
    client: DepotClient,
    build_id: String,
    mut statuses: mpsc::Receiver<BuildKitStatus>,
) {
    let builds = client.builds();
    let mut ended = false;
    while !ended {
        let (batches, stream) = mpsc::channel(4);
        let call = builds.report_status_stream(ReceiverStream::new(stream));
        tokio::pin!(call);
        let pump = async {
            loop {
                let Some(batch) = next_batch(&mut statuses, &build_id).await else {
                    return true;
                };
                if batches.send(batch).await.is_err() {
                    return false;
                }
            }
        };
        tokio::select! {
            // The stream failed or the server ended it early: reopen it for what follows.
            _ = &mut call => tokio::time::sleep(REOPEN_DELAY).await,
            source_ended = pump => {
                ended = source_ended;
                drop(batches);
                let _ = call.await;
            }
        }
    }
}

/// The statuses of the next second (at least one), or `None` once the build ended and
/// everything was sent.
async fn next_batch(
    statuses: &mut mpsc::Receiver<BuildKitStatus>,
    build_id: &str,
) -> Option<ReportStatusStreamRequest> {
    let first = statuses.recv().await?;
    let mut batch = vec![convert(&first)];
    let deadline = tokio::time::Instant::now() + BATCH_INTERVAL;
    while let Ok(Some(next)) = tokio::time::timeout_at(deadline, statuses.recv()).await {
        batch.push(convert(&next));
    }
    Some(ReportStatusStreamRequest {
        build_id: build_id.to_owned(),
        statuses: batch,
        stable_digests: Default::default(),
    })
}

/// BuildKit's message as depot-core's type: the same bytes, decoded again.
fn convert(status: &BuildKitStatus) -> StatusResponse {
    StatusResponse::decode(status.encode_to_vec().as_slice()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_buildkit_proto::moby::buildkit::v1::{Vertex, VertexLog};

    #[test]
    fn statuses_convert_without_loss() {
        let status = BuildKitStatus {
            vertexes: vec![Vertex {
                digest: "sha256:ab".into(),
                name: "[1/2] RUN make".into(),
                cached: true,
                ..Vertex::default()
            }],
            logs: vec![VertexLog {
                vertex: "sha256:ab".into(),
                stream: 2,
                msg: b"hello\n".to_vec(),
                ..VertexLog::default()
            }],
            ..BuildKitStatus::default()
        };
        let converted = convert(&status);
        assert_eq!(converted.vertexes[0].name, "[1/2] RUN make");
        assert_eq!(converted.logs[0].msg, b"hello\n");
        assert_eq!(converted.encode_to_vec(), status.encode_to_vec());
    }

    #[tokio::test]
    async fn batches_a_second_of_statuses() {
        let (sender, mut receiver) = mpsc::channel(16);
        for _ in 0..3 {
            sender.send(BuildKitStatus::default()).await.unwrap();
        }
        let batch = next_batch(&mut receiver, "b1").await.unwrap();
        assert_eq!(batch.build_id, "b1");
        assert_eq!(batch.statuses.len(), 3);
        sender.send(BuildKitStatus::default()).await.unwrap();
        drop(sender);
        assert_eq!(
            next_batch(&mut receiver, "b1")
                .await
                .unwrap()
                .statuses
                .len(),
            1
        );
        assert!(next_batch(&mut receiver, "b1").await.is_none());
    }
}
