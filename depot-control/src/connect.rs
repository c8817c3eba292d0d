//! The server half of the Connect protocol: decoding requests and encoding responses for
//! unary, client-streaming and server-streaming procedures on axum.

use axum::body::Body;
use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http_body_util::{BodyExt, Limited};
use prost::Message;

use depot_core::connect::compression;
use depot_core::connect::envelope::{self, EnvelopeReader, FLAG_END_STREAM};
use depot_core::connect::{Code, ConnectError, STREAM_PROTO, UNARY_PROTO};

/// Largest request message (unary body or one streamed message) the server accepts.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// A request whose declared `Content-Length` is over the limit is refused before its body is
/// read.
fn refuse_declared_over_limit(headers: &HeaderMap) -> Result<(), ConnectError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(declared) if declared > MAX_REQUEST_BYTES as u64 => Err(ConnectError::new(
            Code::ResourceExhausted,
            format!("request body exceeds {MAX_REQUEST_BYTES} bytes"),
        )),
        _ => Ok(()),
    }
}

/// Decodes a unary request body (binary protobuf, optionally gzip-encoded).
pub async fn decode_unary<T: Message + Default>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ConnectError> {
    require_content_type(headers, UNARY_PROTO)?;
    if let Err(refused) = refuse_declared_over_limit(headers) {
        crate::http::discard_refused_body(body);
        return Err(refused);
    }
    let gzip = match headers.get(CONTENT_ENCODING).map(HeaderValue::as_bytes) {
        None | Some(b"identity") => false,
        Some(b"gzip") => true,
        Some(other) => {
            return Err(ConnectError::unimplemented(format!(
                "unsupported content-encoding {:?}; use gzip or identity",
                String::from_utf8_lossy(other)
            )));
        }
    };
    let bytes = Limited::new(body, MAX_REQUEST_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ConnectError::new(
                    Code::ResourceExhausted,
                    format!("request body exceeds {MAX_REQUEST_BYTES} bytes"),
                )
            } else {
                ConnectError::invalid_argument("reading the request body failed")
            }
        })?
        .to_bytes();
    let bytes = if gzip {
        compression::gunzip(&bytes, MAX_REQUEST_BYTES)?
    } else {
        bytes
    };
    decode_message(bytes)
}

/// Opens a streamed request (client-streaming or server-streaming procedures).
pub fn decode_stream<T: Message + Default>(
    headers: &HeaderMap,
    body: Body,
) -> Result<RequestStream<T>, ConnectError> {
    require_content_type(headers, STREAM_PROTO)?;
    let gzip = match headers
        .get("connect-content-encoding")
        .map(HeaderValue::as_bytes)
    {
        None | Some(b"identity") => false,
        Some(b"gzip") => true,
        Some(_) => {
            return Err(ConnectError::unimplemented(
                "unsupported connect-content-encoding; use gzip or identity",
            ));
        }
    };
    Ok(RequestStream {
        reader: EnvelopeReader::new(body, MAX_REQUEST_BYTES, gzip),
        _message: std::marker::PhantomData,
    })
}

/// Messages a client streams to the server.
pub struct RequestStream<T> {
    reader: EnvelopeReader<Body>,
    _message: std::marker::PhantomData<fn() -> T>,
}

impl<T: Message + Default> RequestStream<T> {
    /// The next message, or `None` when the client closed its side.
    pub async fn message(&mut self) -> Result<Option<T>, ConnectError> {
        match self.reader.next().await? {
            None => Ok(None),
            Some(envelope) if envelope.flags & FLAG_END_STREAM != 0 => Ok(None),
            Some(envelope) => decode_message(envelope.payload).map(Some),
        }
    }
}

fn decode_message<T: Message + Default>(bytes: Bytes) -> Result<T, ConnectError> {
    T::decode(bytes).map_err(|e| {
        ConnectError::invalid_argument(format!(
            "the request is not a valid {}: {e}",
            short_type_name::<T>()
        ))
    })
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

fn require_content_type(headers: &HeaderMap, expected: &str) -> Result<(), ConnectError> {
    let actual = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if actual.split(';').next().unwrap_or("").trim() == expected {
        return Ok(());
    }
    let hint = if actual.starts_with("application/connect+") || actual.starts_with("application/") {
        format!("this procedure takes {expected}, not {actual:?}")
    } else {
        format!("missing or unsupported content-type {actual:?}; send {expected}")
    };
    Err(ConnectError::new(Code::InvalidArgument, hint))
}

/// The response of a unary procedure.
pub fn unary_response<T: Message>(result: Result<T, ConnectError>) -> Response {
    match result {
        Ok(message) => (
            StatusCode::OK,
            [(CONTENT_TYPE, UNARY_PROTO)],
            message.encode_to_vec(),
        )
            .into_response(),
        Err(err) => error_response(&err),
    }
}

/// A unary (non-streaming) Connect error response: the code's HTTP status and JSON body.
pub fn error_response(err: &ConnectError) -> Response {
    let status =
        StatusCode::from_u16(err.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(CONTENT_TYPE, "application/json")], err.to_json()).into_response()
}

/// The response of a streaming procedure: each message as an envelope, then the
/// end-of-stream envelope (carrying the first error, which also ends the stream).
pub fn stream_response<T, S>(messages: S) -> Response
where
    T: Message + 'static,
    S: Stream<Item = Result<T, ConnectError>> + Send + 'static,
{
    let frames = async_stream_frames(messages);
    (
        StatusCode::OK,
        [(CONTENT_TYPE, STREAM_PROTO)],
        Body::from_stream(frames),
    )
        .into_response()
}

/// A streaming response that fails before its first message.
pub fn stream_error_response(err: &ConnectError) -> Response {
    (
        StatusCode::OK,
        [(CONTENT_TYPE, STREAM_PROTO)],
        envelope::end_stream(Some(err)),
    )
        .into_response()
}

fn async_stream_frames<T, S>(
    messages: S,
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + Send
where
    T: Message + 'static,
    S: Stream<Item = Result<T, ConnectError>> + Send + 'static,
{
    let messages = Box::pin(messages);
    futures_util::stream::unfold(Some(messages), |state| async move {
        let mut messages = state?;
        match messages.next().await {
            Some(Ok(message)) => Some((
                Ok(envelope::encode(0, &message.encode_to_vec())),
                Some(messages),
            )),
            Some(Err(err)) => Some((Ok(envelope::end_stream(Some(&err))), None)),
            None => Some((Ok(envelope::end_stream(None)), None)),
        }
    })
}
