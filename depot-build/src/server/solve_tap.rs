//! The bridge's HTTP/2 proxy: a build's connection to a builder is served as HTTP/2 and each
//! request forwarded to the Engine's BuildKit over one connection, so that the bridge sees
//! the gRPC calls go by. A `Control/Solve` call is read whole (it is unary) for its ref, and
//! that solve's status is then followed on a connection of the server's own and handed to the
//! [`StatusTap`]: the server learns every build's steps and logs, whichever client runs it.

use std::convert::Infallible;
use std::time::Duration;

use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use bollard_buildkit_proto::moby::buildkit::v1::{SolveRequest, StatusRequest, StatusResponse};
use bytes::Bytes;
use depot_control::builders::StatusTap;
use futures_util::StreamExt as _;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::buildkit::Endpoint;

/// The gRPC path of BuildKit's solve.
const SOLVE: &str = "/moby.buildkit.v1.Control/Solve";
/// The largest solve request read for its ref (BuildKit itself takes up to 16 MiB).
const MAX_SOLVE_REQUEST: usize = 32 << 20;
/// Header bytes a request may carry.
const MAX_HEADERS: u32 = 1 << 20;
/// How often the status of a solve is asked for while BuildKit does not know it yet.
const STATUS_RETRIES: usize = 50;

type Error = Box<dyn std::error::Error + Send + Sync>;
type ProxyBody = UnsyncBoxBody<Bytes, Error>;

/// Serves `client`'s HTTP/2 connection by forwarding every request to `engine`, watching
/// solves of `build_id` for `tap`, until either side closes or `closed` is cancelled.
pub(super) async fn proxy<C>(
    client: C,
    engine: &Endpoint,
    build_id: String,
    tap: StatusTap,
    closed: CancellationToken,
) -> std::io::Result<()>
where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let upstream = engine
        .open()
        .await
        .map_err(|e| std::io::Error::other(depot_core::ErrorChain(&e).to_string()))?;
    let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .adaptive_window(true)
        .handshake::<_, ProxyBody>(TokioIo::new(upstream))
        .await
        .map_err(std::io::Error::other)?;
    let upstream_closed = CancellationToken::new();
    let upstream_done = upstream_closed.clone();
    tokio::spawn(async move {
        let _ = connection.await;
        upstream_done.cancel();
    });
    let engine = engine.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let sender = sender.clone();
        let engine = engine.clone();
        let build_id = build_id.clone();
        let tap = tap.clone();
        async move { Ok::<_, Infallible>(forward(sender, request, &engine, build_id, &tap).await) }
    });
    let serving = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .adaptive_window(true)
        // BuildKit sessions name every method they expose in headers.
        .max_header_list_size(MAX_HEADERS)
        .serve_connection(TokioIo::new(client), service);
    tokio::select! {
        served = serving => served.map_err(std::io::Error::other),
        () = closed.cancelled() => Ok(()),
        () = upstream_closed.cancelled() => Ok(()),
    }
}

/// One request, forwarded; a solve's ref is taken on the way.
async fn forward(
    mut sender: hyper::client::conn::http2::SendRequest<ProxyBody>,
    request: Request<Incoming>,
    engine: &Endpoint,
    build_id: String,
    tap: &StatusTap,
) -> Response<ProxyBody> {
    let (mut parts, body) = request.into_parts();
    // The upstream connection needs a scheme and authority; the Engine ignores them.
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    parts.uri = match format!("http://buildkit{path}").parse() {
        Ok(uri) => uri,
        Err(_) => return grpc_error("invalid request path"),
    };
    let body: ProxyBody = if path == SOLVE && tap.observer().is_some() {
        let bytes = match Limited::new(body, MAX_SOLVE_REQUEST).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) => return grpc_error(&format!("reading the solve request: {err}")),
        };
        if let Some(solve_ref) = solve_ref(&bytes) {
            watch(engine.clone(), build_id, solve_ref, tap);
        }
        Full::new(bytes)
            .map_err(|never| match never {})
            .boxed_unsync()
    } else {
        body.map_err(Error::from).boxed_unsync()
    };
    match sender.send_request(Request::from_parts(parts, body)).await {
        Ok(response) => response.map(|body| body.map_err(Error::from).boxed_unsync()),
        Err(err) => grpc_error(&format!("the builder's BuildKit did not answer: {err}")),
    }
}

/// The ref of a gRPC-framed `SolveRequest` (uncompressed, one message).
fn solve_ref(frame: &[u8]) -> Option<String> {
    let (&[compressed, a, b, c, d], message) = frame.split_first_chunk::<5>()?;
    let length = u32::from_be_bytes([a, b, c, d]) as usize;
    if compressed != 0 || message.len() != length {
        return None;
    }
    let request = SolveRequest::decode(message).ok()?;
    Some(request.r#ref).filter(|r| !r.is_empty())
}

/// Hands the status of `solve_ref` to the tap at once (so the build is known to be watched
/// before any of its output can arrive another way); the stream itself connects to BuildKit
/// on a connection of its own.
fn watch(engine: Endpoint, build_id: String, solve_ref: String, tap: &StatusTap) {
    let Some(observer) = tap.observer().cloned() else {
        return;
    };
    let following = build_id.clone();
    // BuildKit's messages as depot-core's type: the same bytes, decoded again.
    let statuses = futures_util::stream::once(status_stream(engine, following, solve_ref))
        .filter_map(std::future::ready)
        .flat_map(|stream| stream.take_while(|message| std::future::ready(message.is_ok())))
        .filter_map(|message| {
            std::future::ready(message.ok().and_then(|status| {
                depot_core::proto::moby::buildkit::v1::StatusResponse::decode(
                    status.encode_to_vec().as_slice(),
                )
                .ok()
            }))
        })
        .boxed();
    tokio::spawn(observer.observe(build_id, statuses));
}

/// BuildKit's status stream of the solve `solve_ref`, once BuildKit knows it.
async fn status_stream(
    engine: Endpoint,
    build_id: String,
    solve_ref: String,
) -> Option<tonic::Streaming<StatusResponse>> {
    let channel = match engine.connect().await {
        Ok(channel) => channel,
        Err(err) => {
            tracing::warn!(build = %build_id, "cannot follow a solve: {}", depot_core::ErrorChain(&err));
            return None;
        }
    };
    let mut control = ControlClient::new(channel);
    for _ in 0..STATUS_RETRIES {
        match control
            .status(StatusRequest {
                r#ref: solve_ref.clone(),
            })
            .await
        {
            Ok(response) => return Some(response.into_inner()),
            // The job appears once BuildKit has taken the solve request.
            Err(status) if status.message().contains("no such job") => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => {
                tracing::debug!(build = %build_id, "no status for a solve: {status}");
                return None;
            }
        }
    }
    None
}

/// A trailers-only gRPC answer: `unavailable` with `message`.
fn grpc_error(message: &str) -> Response<ProxyBody> {
    let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        http::HeaderValue::from_static("application/grpc"),
    );
    headers.insert("grpc-status", http::HeaderValue::from_static("14"));
    if let Ok(value) = http::HeaderValue::from_str(&message.replace(['\r', '\n'], " ")) {
        headers.insert("grpc-message", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_solve_frame_gives_its_ref() {
        let message = SolveRequest {
            r#ref: "abc123".into(),
            ..SolveRequest::default()
        }
        .encode_to_vec();
        let mut frame = vec![0];
        frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
        frame.extend_from_slice(&message);
        assert_eq!(solve_ref(&frame).as_deref(), Some("abc123"));
        frame[0] = 1;
        assert_eq!(solve_ref(&frame), None, "compressed frames are not read");
        assert_eq!(solve_ref(&frame[..3]), None);
    }
}
