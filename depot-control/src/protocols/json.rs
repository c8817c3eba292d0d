//! Connect with the JSON codec: a unary request's JSON body (or a stream's JSON envelopes)
//! decoded into the procedure's input message and re-encoded as protobuf; the procedure's
//! protobuf response encoded as JSON (the protobuf JSON mapping: camelCase names, defaults
//! left out). Errors are already JSON in every codec.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, Response as HttpResponse};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream;
use http_body_util::BodyExt;
use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor};

use depot_core::connect::envelope::{self, EnvelopeReader, FLAG_END_STREAM};
use depot_core::connect::{ConnectError, STREAM_PROTO, UNARY_PROTO, compression};

use super::{descriptors, read_body, response_type};
use crate::connect::{MAX_REQUEST_BYTES, error_response};

const CONNECT_CONTENT_ENCODING: &str = "connect-content-encoding";

/// A unary procedure called with `application/json`.
pub(super) async fn unary(request: Request, next: Next) -> Response {
    let Some(method) = descriptors::method(request.uri().path()) else {
        // Not a procedure: the dispatcher says so.
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    let proto = async {
        let bytes = read_body(body).await?;
        let bytes = match parts
            .headers
            .get(CONTENT_ENCODING)
            .map(HeaderValue::as_bytes)
        {
            None | Some(b"identity") => bytes,
            Some(b"gzip") => compression::gunzip(&bytes, MAX_REQUEST_BYTES)?,
            Some(_) => {
                return Err(ConnectError::unimplemented(
                    "unsupported content-encoding; use gzip or identity",
                ));
            }
        };
        from_json(&method.input(), &bytes)
    };
    let proto = match proto.await {
        Ok(proto) => proto,
        Err(err) => return error_response(&err),
    };
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static(UNARY_PROTO));
    parts.headers.remove(CONTENT_ENCODING);
    parts.headers.remove(CONTENT_LENGTH);
    let response = next
        .run(Request::from_parts(parts, Body::from(proto)))
        .await;
    if response_type(&response) != UNARY_PROTO {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let json = match body.collect().await {
        Ok(collected) => to_json(&method.output(), collected.to_bytes()),
        Err(_) => Err(ConnectError::internal("reading the response failed")),
    };
    match json {
        Ok(json) => {
            parts
                .headers
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            parts.headers.remove(CONTENT_LENGTH);
            HttpResponse::from_parts(parts, Body::from(json))
        }
        Err(err) => error_response(&err),
    }
}

/// A streaming procedure called with `application/connect+json`.
pub(super) async fn streaming(request: Request, next: Next) -> Response {
    let Some(method) = descriptors::method(request.uri().path()) else {
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    let gzip = parts
        .headers
        .get(CONNECT_CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() == b"gzip");
    let input = method.input();
    let reader = EnvelopeReader::new(body, MAX_REQUEST_BYTES, gzip);
    let messages = stream::unfold(Some(reader), move |state| {
        let input = input.clone();
        async move {
            let mut reader = state?;
            match reader.next().await {
                Ok(Some(env)) if env.flags & FLAG_END_STREAM != 0 => None,
                Ok(Some(env)) => match from_json(&input, &env.payload) {
                    Ok(proto) => Some((Ok(envelope::encode(0, &proto)), Some(reader))),
                    Err(err) => Some((Err(err), None)),
                },
                Ok(None) => None,
                Err(err) => Some((Err(err), None)),
            }
        }
    });
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static(STREAM_PROTO));
    parts.headers.remove(CONNECT_CONTENT_ENCODING);
    parts.headers.remove(CONTENT_LENGTH);
    let response = next
        .run(Request::from_parts(parts, Body::from_stream(messages)))
        .await;
    if response_type(&response) != STREAM_PROTO {
        return response;
    }
    let output = method.output();
    let (mut parts, body) = response.into_parts();
    let reader = EnvelopeReader::new(body, usize::MAX, false);
    let envelopes = stream::unfold(Some(reader), move |state| {
        let output = output.clone();
        async move {
            let mut reader = state?;
            let frame = match reader.next().await {
                Ok(Some(env)) if env.flags & FLAG_END_STREAM != 0 => {
                    return Some((Ok(envelope::encode(FLAG_END_STREAM, &env.payload)), None));
                }
                Ok(Some(env)) => to_json(&output, env.payload)
                    .map(|json| envelope::encode(0, &json))
                    .unwrap_or_else(|err| envelope::end_stream(Some(&err))),
                Ok(None) => return None,
                Err(err) => envelope::end_stream(Some(&err)),
            };
            Some((Ok::<_, std::convert::Infallible>(frame), Some(reader)))
        }
    });
    parts.headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/connect+json"),
    );
    HttpResponse::from_parts(parts, Body::from_stream(envelopes))
}

/// A message of type `descriptor` given as JSON, encoded as protobuf. An empty body is the
/// empty message.
fn from_json(descriptor: &MessageDescriptor, json: &[u8]) -> Result<Vec<u8>, ConnectError> {
    let json: &[u8] = if json.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        json
    };
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let message = DynamicMessage::deserialize(descriptor.clone(), &mut deserializer)
        .and_then(|message| deserializer.end().map(|()| message))
        .map_err(|err| {
            ConnectError::invalid_argument(format!(
                "the request is not a valid {} in JSON: {err}",
                descriptor.full_name()
            ))
        })?;
    Ok(message.encode_to_vec())
}

/// A protobuf message of type `descriptor` as JSON.
fn to_json(descriptor: &MessageDescriptor, proto: Bytes) -> Result<Vec<u8>, ConnectError> {
    let message = DynamicMessage::decode(descriptor.clone(), proto).map_err(|err| {
        ConnectError::internal(format!(
            "the response is not a valid {}: {err}",
            descriptor.full_name()
        ))
    })?;
    serde_json::to_vec(&message).map_err(|err| ConnectError::internal(err.to_string()))
}
