//! gRPC (HTTP/2, `application/grpc`): the request's length-prefixed message(s) handed to the
//! procedure as Connect+protobuf (the framing of a streamed request is the same), the
//! response's message(s) framed back, and the outcome in the `grpc-status`/`grpc-message`
//! trailers (an error before any message: in the headers, "trailers-only").

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, TE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{StreamExt, stream};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};

use depot_core::connect::envelope::{self, EnvelopeReader, FLAG_END_STREAM};
use depot_core::connect::{Code, ConnectError, STREAM_PROTO, UNARY_PROTO};

use super::{descriptors, response_type};
use crate::connect::MAX_REQUEST_BYTES;

const GRPC: &str = "application/grpc";
const GRPC_STATUS: &str = "grpc-status";
const GRPC_MESSAGE: &str = "grpc-message";

/// A procedure called with gRPC.
pub(super) async fn call(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let Some(method) = descriptors::method(&path) else {
        crate::http::discard_refused_body(request.into_body());
        return trailers_only(&ConnectError::unimplemented(format!(
            "{path} is not a procedure this depot-server implements"
        )));
    };
    let (mut parts, body) = request.into_parts();
    let gzip = match parts
        .headers
        .get("grpc-encoding")
        .map(HeaderValue::as_bytes)
    {
        None | Some(b"identity") => false,
        Some(b"gzip") => true,
        Some(_) => {
            crate::http::discard_refused_body(body);
            return trailers_only(&ConnectError::unimplemented(
                "unsupported grpc-encoding; use gzip or identity",
            ));
        }
    };
    for header in ["grpc-encoding", "grpc-accept-encoding", "grpc-timeout"] {
        parts.headers.remove(header);
    }
    parts.headers.remove(TE);
    parts.headers.remove(CONTENT_LENGTH);
    let response = if method.is_client_streaming() || method.is_server_streaming() {
        // A streamed request is framed as Connect frames it.
        parts
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static(STREAM_PROTO));
        if gzip {
            parts.headers.insert(
                HeaderName::from_static("connect-content-encoding"),
                HeaderValue::from_static("gzip"),
            );
        }
        next.run(Request::from_parts(parts, body)).await
    } else {
        let mut reader = EnvelopeReader::new(body, MAX_REQUEST_BYTES, gzip);
        let message = match reader.next().await {
            Ok(Some(envelope)) => envelope.payload,
            Ok(None) => Bytes::new(),
            Err(err) => return trailers_only(&err),
        };
        parts
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static(UNARY_PROTO));
        next.run(Request::from_parts(parts, Body::from(message)))
            .await
    };
    let status = response.status();
    match response_type(&response) {
        UNARY_PROTO if status == StatusCode::OK => {
            let message = match response.into_body().collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => {
                    return trailers_only(&ConnectError::internal("reading the response failed"));
                }
            };
            framed(stream::iter([
                Frame::data(envelope::encode(0, &message)),
                Frame::trailers(status_trailers(None)),
            ]))
        }
        STREAM_PROTO => {
            let reader = EnvelopeReader::new(response.into_body(), usize::MAX, false);
            framed(stream::unfold(Some(reader), |state| async move {
                let mut reader = state?;
                match reader.next().await {
                    Ok(Some(env)) if env.flags & FLAG_END_STREAM != 0 => {
                        let error = end_stream_error(&env.payload);
                        Some((Frame::trailers(status_trailers(error.as_ref())), None))
                    }
                    Ok(Some(env)) => {
                        Some((Frame::data(envelope::encode(0, &env.payload)), Some(reader)))
                    }
                    Ok(None) => {
                        let error = ConnectError::internal("the stream ended without a status");
                        Some((Frame::trailers(status_trailers(Some(&error))), None))
                    }
                    Err(err) => Some((Frame::trailers(status_trailers(Some(&err))), None)),
                }
            }))
        }
        _ => {
            // A Connect error (JSON), or an answer that is no message.
            let body = response
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let error = ConnectError::from_json(&body).unwrap_or_else(|| {
                ConnectError::new(
                    Code::from_http_status(status.as_u16()),
                    String::from_utf8_lossy(&body).into_owned(),
                )
            });
            trailers_only(&error)
        }
    }
}

/// The error an end-of-stream message (`{"error": {…}}`) carries, if any.
fn end_stream_error(payload: &[u8]) -> Option<ConnectError> {
    let end: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let error = end.get("error")?;
    ConnectError::from_json(error.to_string().as_bytes()).or_else(|| {
        Some(ConnectError::internal(
            "the stream ended with an unreadable error",
        ))
    })
}

/// A gRPC response whose body is `frames`.
fn framed(frames: impl futures_util::Stream<Item = Frame<Bytes>> + Send + 'static) -> Response {
    let body = StreamBody::new(frames.map(Ok::<_, std::convert::Infallible>));
    (
        StatusCode::OK,
        [(CONTENT_TYPE, HeaderValue::from_static(GRPC))],
        Body::new(body),
    )
        .into_response()
}

/// An error before any message: the status in the response headers, no body.
fn trailers_only(error: &ConnectError) -> Response {
    let mut response = (
        StatusCode::OK,
        [(CONTENT_TYPE, HeaderValue::from_static(GRPC))],
    )
        .into_response();
    response.headers_mut().extend(status_trailers(Some(error)));
    response
}

/// `grpc-status` (and `grpc-message`) for `error`, or success.
fn status_trailers(error: Option<&ConnectError>) -> HeaderMap {
    let mut trailers = HeaderMap::new();
    let code = error.map_or(0, |err| grpc_code(err.code()));
    trailers.insert(GRPC_STATUS, HeaderValue::from(code));
    if let Some(message) =
        error.and_then(|err| HeaderValue::from_str(&percent_encode(err.message())).ok())
    {
        trailers.insert(GRPC_MESSAGE, message);
    }
    trailers
}

/// gRPC's number for a code (the codes are the same, in the same order, from 1).
fn grpc_code(code: Code) -> u16 {
    Code::ALL
        .iter()
        .position(|known| *known == code)
        .map_or(2, |index| index as u16 + 1)
}

/// `grpc-message`'s encoding: bytes outside printable ASCII, and `%`, as `%XX`.
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for byte in message.bytes() {
        if (0x20..0x7f).contains(&byte) && byte != b'%' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages_are_grpcs() {
        assert_eq!(grpc_code(Code::Canceled), 1);
        assert_eq!(grpc_code(Code::NotFound), 5);
        assert_eq!(grpc_code(Code::Unauthenticated), 16);
        assert_eq!(percent_encode("bad 100% é\n"), "bad 100%25 %C3%A9%0A");
        let error =
            end_stream_error(br#"{"error":{"code":"not_found","message":"gone"}}"#).unwrap();
        assert_eq!(error.code(), Code::NotFound);
        assert!(end_stream_error(b"{}").is_none());
    }
}
