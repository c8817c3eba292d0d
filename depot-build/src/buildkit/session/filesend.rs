//! `moby.filesync.v1.FileSend/DiffCopy`: exporter output coming back to the client.
//!
//! The exporter's index in the solve request arrives as `buildkit-attachable-exporter-id`
//! metadata (absent before BuildKit 0.13: the only exporter, 0). Tarball exporters (`tar`,
//! `oci`, `docker`) send the raw archive as `BytesMessage` chunks; `local` runs the fsutil
//! protocol with the daemon as sender and this client as receiver.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};

use bollard_buildkit_proto::fsutil::types::Packet;
use bollard_buildkit_proto::moby::filesync::v1::BytesMessage;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt};
use prost::Message;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::body::Body;
use tonic::server::{Grpc, NamedService};
use tonic::{Request, Response, Status, Streaming};

use super::raw::RawCodec;
use crate::buildkit::MAX_MESSAGE_SIZE;
use crate::fsutil::{self, TransferCounters};

const DIFF_COPY: &str = "/moby.filesync.v1.FileSend/DiffCopy";
const EXPORTER_ID_KEY: &str = "buildkit-attachable-exporter-id";

/// Where a tarball exporter's archive goes.
pub enum TarDestination {
    /// A file, written beside its final path and renamed into place once complete.
    File(PathBuf),
    /// A byte sink (stdout, a pipe, an upload body). It is shut down when the archive ends.
    Writer(Box<dyn AsyncWrite + Send + Unpin>),
}

impl std::fmt::Debug for TarDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TarDestination::File(path) => write!(f, "File({})", path.display()),
            TarDestination::Writer(_) => f.write_str("Writer(..)"),
        }
    }
}

/// What the session does with one exporter's output.
#[derive(Debug)]
pub(crate) enum OutputSink {
    /// The exporter keeps its result (image, moby).
    None,
    /// A tarball.
    Tar(Mutex<Option<TarDestination>>),
    /// A directory tree (the `local` exporter), received with fsutil.
    Directory(PathBuf, Arc<TransferCounters>),
}

/// The session's FileSend service.
#[derive(Clone)]
pub(super) struct FileSend {
    pub(super) outputs: Arc<Vec<OutputSink>>,
}

impl NamedService for FileSend {
    const NAME: &'static str = "moby.filesync.v1.FileSend";
}

impl tower::Service<http::Request<Body>> for FileSend {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if request.uri().path() != DIFF_COPY {
            return Box::pin(async { Ok(Status::unimplemented("").into_http()) });
        }
        let outputs = self.outputs.clone();
        let handler = tower::service_fn(move |request: Request<Streaming<Bytes>>| {
            let outputs = outputs.clone();
            async move { diff_copy(&outputs, request).await }
        });
        Box::pin(async move {
            let mut grpc = Grpc::new(RawCodec)
                .apply_max_message_size_config(Some(MAX_MESSAGE_SIZE), Some(MAX_MESSAGE_SIZE));
            Ok(grpc.streaming(handler, request).await)
        })
    }
}

type ResponseStream = BoxStream<'static, Result<Bytes, Status>>;

async fn diff_copy(
    outputs: &[OutputSink],
    request: Request<Streaming<Bytes>>,
) -> Result<Response<ResponseStream>, Status> {
    let id = match request.metadata().get(EXPORTER_ID_KEY) {
        None => 0,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or_else(|| Status::invalid_argument("invalid exporter id"))?,
    };
    let incoming = request.into_inner();
    match outputs.get(id) {
        Some(OutputSink::Tar(destination)) => {
            let destination = destination.lock().await.take().ok_or_else(|| {
                Status::already_exists(format!("the output of exporter {id} was already received"))
            })?;
            receive_tar(destination, incoming).await?;
            Ok(Response::new(stream::empty().boxed()))
        }
        Some(OutputSink::Directory(dir, counters)) => Ok(Response::new(receive_directory(
            dir,
            counters.clone(),
            incoming,
        ))),
        Some(OutputSink::None) | None => Err(Status::not_found(format!(
            "exporter {id} sends no output to this client"
        ))),
    }
}

/// Copies the archive's chunks into `destination`; a file appears only once complete.
async fn receive_tar(
    destination: TarDestination,
    mut incoming: Streaming<Bytes>,
) -> Result<(), Status> {
    match destination {
        TarDestination::Writer(mut writer) => {
            copy_chunks(&mut incoming, &mut writer).await?;
            writer
                .shutdown()
                .await
                .map_err(|err| Status::internal(format!("writing the output: {err}")))
        }
        TarDestination::File(path) => {
            let partial = partial_path(&path);
            let result = async {
                let mut file = tokio::fs::File::create(&partial).await.map_err(|err| {
                    Status::internal(format!("cannot create {}: {err}", partial.display()))
                })?;
                copy_chunks(&mut incoming, &mut file).await?;
                file.sync_all()
                    .await
                    .and(tokio::fs::rename(&partial, &path).await)
                    .map_err(|err| Status::internal(format!("writing {}: {err}", path.display())))
            }
            .await;
            if result.is_err() {
                let _ = tokio::fs::remove_file(&partial).await;
            }
            result
        }
    }
}

/// `<dir>/.<name>.partial`: beside the final file, so the rename stays on one filesystem.
fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    path.with_file_name(format!(".{name}.partial"))
}

async fn copy_chunks(
    incoming: &mut Streaming<Bytes>,
    writer: &mut (impl AsyncWrite + Unpin),
) -> Result<(), Status> {
    while let Some(message) = incoming.message().await? {
        let chunk = BytesMessage::decode(message)
            .map_err(|err| Status::invalid_argument(format!("bad output chunk: {err}")))?;
        writer
            .write_all(&chunk.data)
            .await
            .map_err(|err| Status::internal(format!("writing the output: {err}")))?;
    }
    writer
        .flush()
        .await
        .map_err(|err| Status::internal(format!("writing the output: {err}")))
}

/// Runs the fsutil receiver into `dir`; its packets are the response stream, which ends with
/// the receiver's error if it fails.
fn receive_directory(
    dir: &Path,
    counters: Arc<TransferCounters>,
    incoming: Streaming<Bytes>,
) -> ResponseStream {
    let packets = incoming.map(|message| {
        message.and_then(|bytes| {
            Packet::decode(bytes)
                .map_err(|err| Status::invalid_argument(format!("bad fsutil packet: {err}")))
        })
    });
    let (sender, receiver) = mpsc::channel(64);
    let dir = dir.to_owned();
    let receiving = tokio::spawn(fsutil::receive(dir, Box::pin(packets), sender, counters));
    let outcome = super::outcome(receiving, "receiving the output");
    ReceiverStream::new(receiver)
        .map(|packet: Packet| Ok(Bytes::from(packet.encode_to_vec())))
        .chain(outcome)
        .boxed()
}
