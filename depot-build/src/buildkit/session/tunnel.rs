//! The session's HTTP/2 connection carried inside `Control.Session`: each `BytesMessage`
//! holds a run of connection bytes. The daemon is the HTTP/2 client; we serve it.

use bollard_buildkit_proto::moby::buildkit::v1::BytesMessage;
use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_util::io::ReaderStream;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use crate::buildkit::{Error, call_error};

/// Bytes buffered between the HTTP/2 server and the stream.
const BUFFER: usize = 256 * 1024;
/// Largest run of bytes per message (Go's session uses the same).
const CHUNK: usize = 32 * 1024;

/// What the daemon is told about the session.
pub(super) struct Metadata {
    pub(super) id: String,
    pub(super) shared_key: String,
    pub(super) methods: Vec<&'static str>,
}

/// The running session; dropping it stops serving and ends the stream.
pub(super) struct Tunnel {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts serving `routes` and opens the stream that carries them to the daemon.
pub(super) async fn open(
    mut control: ControlClient<Channel>,
    metadata: Metadata,
    routes: tonic::service::Routes,
) -> Result<Tunnel, Error> {
    let (ours, theirs) = tokio::io::duplex(BUFFER);
    let server = tokio::spawn(async move {
        let service = TowerToHyperService::new(routes);
        // The connection ends when the daemon closes the session or the tunnel is dropped.
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(ours), service)
            .await;
    });
    let (from_server, mut to_server) = tokio::io::split(theirs);
    let outbound = ReaderStream::with_capacity(from_server, CHUNK)
        .map_while(|chunk| chunk.ok())
        .map(|data| BytesMessage {
            data: data.to_vec(),
        });
    let mut request = tonic::Request::new(outbound);
    let headers = request.metadata_mut();
    let value = |text: &str| {
        MetadataValue::try_from(text).map_err(|_| {
            Error::Unsupported(format!("session metadata {text:?} is not valid ASCII"))
        })
    };
    headers.insert("x-docker-expose-session-uuid", value(&metadata.id)?);
    headers.insert("x-docker-expose-session-name", value("depot-rs")?);
    headers.insert(
        "x-docker-expose-session-sharedkey",
        value(&metadata.shared_key)?,
    );
    for method in metadata.methods {
        headers.append("x-docker-expose-session-grpc-method", value(method)?);
    }
    let mut inbound = match control.session(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => {
            server.abort();
            return Err(call_error("Session")(status));
        }
    };
    let pump = tokio::spawn(async move {
        while let Ok(Some(message)) = inbound.message().await {
            if to_server.write_all(&message.data).await.is_err() {
                break;
            }
        }
        let _ = to_server.shutdown().await;
    });
    Ok(Tunnel {
        tasks: vec![server, pump],
    })
}
