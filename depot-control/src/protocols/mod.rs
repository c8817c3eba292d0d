//! The protocols every procedure answers on its path, besides Connect with the protobuf codec
//! (what the procedures themselves speak): Connect with the JSON codec (`application/json`,
//! `application/connect+json`) and gRPC (`application/grpc`, `application/grpc+proto`, over
//! HTTP/2). A middleware transcodes such a request into Connect+protobuf with the procedure's
//! message types (from the descriptors depot-core embeds), runs the procedure, and transcodes
//! the response back, so `curl` with JSON, connect-web and gRPC clients reach every service.

mod descriptors;
mod grpc;
mod json;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};

use depot_core::connect::{Code, ConnectError, STREAM_PROTO, UNARY_PROTO};

use crate::connect::MAX_REQUEST_BYTES;

/// The content types a procedure takes.
const ACCEPTED: &str = "application/proto, application/connect+proto, application/json, \
                        application/connect+json, application/grpc, application/grpc+proto";

/// Middleware for Connect procedures: each request in the protocol and codec it came in.
pub async fn transcode(request: Request, next: Next) -> Response {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    match content_type.split(';').next().unwrap_or("").trim() {
        UNARY_PROTO | STREAM_PROTO => next.run(request).await,
        "application/json" => json::unary(request, next).await,
        "application/connect+json" => json::streaming(request, next).await,
        "application/grpc" | "application/grpc+proto" => grpc::call(request, next).await,
        _ => unsupported(&content_type, request),
    }
}

/// 415 for a content type no protocol here uses, with those it takes (`Accept-Post`).
fn unsupported(content_type: &str, request: Request) -> Response {
    let error = ConnectError::new(
        Code::InvalidArgument,
        format!(
            "unsupported content type {content_type:?}: depot-server speaks Connect (protobuf \
             or JSON) and gRPC; send one of {ACCEPTED}"
        ),
    );
    crate::http::discard_refused_body(request.into_body());
    (
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        [
            (CONTENT_TYPE, "application/json"),
            (axum::http::HeaderName::from_static("accept-post"), ACCEPTED),
        ],
        error.to_json(),
    )
        .into_response()
}

/// A whole request body, at most [`MAX_REQUEST_BYTES`].
async fn read_body(body: axum::body::Body) -> Result<Bytes, ConnectError> {
    Limited::new(body, MAX_REQUEST_BYTES)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|err| {
            if err.is::<http_body_util::LengthLimitError>() {
                ConnectError::new(
                    Code::ResourceExhausted,
                    format!("request body exceeds {MAX_REQUEST_BYTES} bytes"),
                )
            } else {
                ConnectError::invalid_argument("reading the request body failed")
            }
        })
}

/// The base content type of a response (`application/proto`, `application/json`…).
fn response_type(response: &Response) -> &str {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
}
