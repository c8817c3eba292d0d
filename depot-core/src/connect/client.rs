//! The client half of the Connect protocol over hyper: unary, client-streaming and
//! server-streaming calls with binary protobuf.
//!
//! Transport follows the official CLI: an `http://` base URL speaks HTTP/2 with prior knowledge
//! (h2c), an `https://` base URL negotiates h2 or HTTP/1.1 through ALPN and trusts the system
//! roots plus an optional extra CA.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::header::{ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::compression;
use super::envelope::{self, EnvelopeReader, FLAG_END_STREAM};
use super::error::{Code, ConnectError};

/// Content type of unary binary-protobuf calls.
pub const UNARY_PROTO: &str = "application/proto";
/// Content type of streaming binary-protobuf calls.
pub const STREAM_PROTO: &str = "application/connect+proto";
/// Largest message accepted from a server (and per streamed message).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

type RequestBody = UnsyncBoxBody<Bytes, std::convert::Infallible>;

/// Settings for a [`Client`].
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// API base URL, e.g. `https://api.depot.dev` or `http://127.0.0.1:8080`. A path prefix is kept.
    pub base_url: String,
    /// Bearer token sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Deadline of each unary call (sent as `connect-timeout-ms` and enforced locally).
    /// Streaming calls are bounded only by their peer and the caller.
    pub timeout: Option<Duration>,
    /// Extra PEM CA certificates trusted for `https://` besides the system roots.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl ClientOptions {
    /// Options for `base_url` with no token, a 30 s unary timeout and depot-rs's user agent.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            token: None,
            timeout: Some(Duration::from_secs(30)),
            extra_ca_pem: None,
            user_agent: format!("depot-rs/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// A Connect client bound to one API base URL. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Client {
    http: HyperClient<HttpsConnector<HttpConnector>, RequestBody>,
    base: Arc<str>,
    token: Option<Arc<str>>,
    timeout: Option<Duration>,
    user_agent: HeaderValue,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Client {
    /// Builds a client; fails on an unusable base URL or CA bundle.
    pub fn new(options: ClientOptions) -> Result<Self, ConnectError> {
        let base = options.base_url.trim_end_matches('/').to_owned();
        let uri: Uri = base.parse().map_err(|e| {
            ConnectError::invalid_argument(format!("invalid API URL {base:?}")).with_source(e)
        })?;
        let tls_roots = match uri.scheme_str() {
            Some("http") => rustls::RootCertStore::empty(),
            Some("https") => trust_roots(options.extra_ca_pem.as_deref())?,
            _ => {
                return Err(ConnectError::invalid_argument(format!(
                    "API URL {base:?} must start with http:// or https://"
                )));
            }
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectError::internal("TLS setup failed").with_source(e))?
        .with_root_certificates(tls_roots)
        .with_no_client_auth();
        // Small Connect messages must not wait for Nagle's algorithm (a 40 ms stall per call
        // against delayed ACKs).
        let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(tcp);
        let mut builder = HyperClient::builder(TokioExecutor::new());
        builder.pool_idle_timeout(Duration::from_secs(60));
        if uri.scheme_str() == Some("http") {
            builder.http2_only(true);
        }
        let user_agent = HeaderValue::from_str(&options.user_agent)
            .map_err(|e| ConnectError::invalid_argument("invalid user agent").with_source(e))?;
        Ok(Self {
            http: builder.build(connector),
            base: base.into(),
            token: options.token.map(Into::into),
            timeout: options.timeout,
            user_agent,
        })
    }

    /// The same client (sharing connections) with a different bearer token.
    pub fn with_token(&self, token: impl Into<String>) -> Self {
        Self {
            token: Some(token.into().into()),
            ..self.clone()
        }
    }

    /// The base URL calls go to.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Calls a unary procedure, e.g. `/depot.cli.v1beta1.ProjectsService/ListProjects`.
    pub async fn unary<Req, Resp>(&self, path: &str, request: &Req) -> Result<Resp, ConnectError>
    where
        Req: Message,
        Resp: Message + Default,
    {
        let body = Full::new(Bytes::from(request.encode_to_vec()))
            .map_err(|never| match never {})
            .boxed_unsync();
        let call = async {
            let response = self.send(path, UNARY_PROTO, body).await?;
            let status = response.status();
            if status != StatusCode::OK {
                return Err(error_from_response(response).await);
            }
            check_content_type(response.headers(), UNARY_PROTO)?;
            let gzip = is_gzip(response.headers(), CONTENT_ENCODING.as_str());
            let bytes = Limited::new(response.into_body(), MAX_MESSAGE_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    ConnectError::new(Code::Unavailable, "reading the response failed")
                        .with_source(e)
                })?
                .to_bytes();
            let bytes = if gzip {
                compression::gunzip(&bytes, MAX_MESSAGE_BYTES)?
            } else {
                bytes
            };
            Resp::decode(bytes).map_err(|e| {
                ConnectError::internal("the server sent an invalid message").with_source(e)
            })
        };
        match self.timeout {
            Some(limit) => tokio::time::timeout(limit, call).await.map_err(|_| {
                ConnectError::new(
                    Code::DeadlineExceeded,
                    format!("no answer from {} within {limit:?}", self.base),
                )
            })?,
            None => call.await,
        }
    }

    /// Calls a client-streaming procedure: sends every message of `requests`, then reads the
    /// single response.
    pub async fn client_stream<Req, Resp, S>(
        &self,
        path: &str,
        requests: S,
    ) -> Result<Resp, ConnectError>
    where
        Req: Message,
        Resp: Message + Default,
        S: Stream<Item = Req> + Send + 'static,
    {
        let frames = requests.map(|msg| {
            Ok::<_, std::convert::Infallible>(Frame::data(envelope::encode(
                0,
                &msg.encode_to_vec(),
            )))
        });
        let body = BodyExt::boxed_unsync(StreamBody::new(frames));
        let mut stream: ResponseStream<Resp> = self.open_stream(path, body).await?;
        let message = stream.message().await?.ok_or_else(|| {
            ConnectError::internal("the server ended the stream without a response")
        })?;
        // Drain to the end-of-stream envelope, which may still carry an error.
        while stream.message().await?.is_some() {}
        Ok(message)
    }

    /// Calls a server-streaming procedure and returns the stream of responses.
    pub async fn server_stream<Req, Resp>(
        &self,
        path: &str,
        request: &Req,
    ) -> Result<ResponseStream<Resp>, ConnectError>
    where
        Req: Message,
        Resp: Message + Default,
    {
        let body = Full::new(envelope::encode(0, &request.encode_to_vec()))
            .map_err(|never| match never {})
            .boxed_unsync();
        self.open_stream(path, body).await
    }

    async fn open_stream<Resp: Message + Default>(
        &self,
        path: &str,
        body: RequestBody,
    ) -> Result<ResponseStream<Resp>, ConnectError> {
        let response = self.send(path, STREAM_PROTO, body).await?;
        if response.status() != StatusCode::OK {
            return Err(error_from_response(response).await);
        }
        check_content_type(response.headers(), STREAM_PROTO)?;
        let gzip = is_gzip(response.headers(), "connect-content-encoding");
        Ok(ResponseStream {
            reader: EnvelopeReader::new(response.into_body(), MAX_MESSAGE_BYTES, gzip),
            ended: false,
            _message: std::marker::PhantomData,
        })
    }

    async fn send(
        &self,
        path: &str,
        content_type: &'static str,
        body: RequestBody,
    ) -> Result<Response<Incoming>, ConnectError> {
        let uri = format!("{}{}", self.base, path);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&uri)
            .header(CONTENT_TYPE, content_type)
            .header("connect-protocol-version", "1")
            .header(USER_AGENT, self.user_agent.clone());
        if content_type == UNARY_PROTO {
            request = request.header(ACCEPT_ENCODING, "gzip");
            if let Some(limit) = self.timeout {
                request = request.header("connect-timeout-ms", limit.as_millis().to_string());
            }
        } else {
            request = request.header("connect-accept-encoding", "gzip");
        }
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(body).map_err(|e| {
            ConnectError::invalid_argument(format!("cannot build a request for {uri}"))
                .with_source(e)
        })?;
        self.http.request(request).await.map_err(|e| {
            ConnectError::new(
                Code::Unavailable,
                format!(
                    "cannot reach the Depot API at {}: {}",
                    self.base,
                    describe(&e)
                ),
            )
            .with_source(e)
        })
    }
}

/// A stream of server messages; the end-of-stream envelope's error, if any, surfaces as `Err`.
pub struct ResponseStream<T> {
    reader: EnvelopeReader<Incoming>,
    ended: bool,
    _message: std::marker::PhantomData<fn() -> T>,
}

impl<T: Message + Default> ResponseStream<T> {
    /// The next message, or `None` once the server ended the stream successfully.
    pub async fn message(&mut self) -> Result<Option<T>, ConnectError> {
        if self.ended {
            return Ok(None);
        }
        let Some(envelope) = self.reader.next().await? else {
            self.ended = true;
            return Err(ConnectError::internal(
                "the stream ended without an end-of-stream message",
            ));
        };
        if envelope.flags & FLAG_END_STREAM != 0 {
            self.ended = true;
            return match end_stream_error(&envelope.payload) {
                Some(err) => Err(err),
                None => Ok(None),
            };
        }
        T::decode(envelope.payload).map(Some).map_err(|e| {
            ConnectError::internal("the server sent an invalid message").with_source(e)
        })
    }
}

fn end_stream_error(payload: &[u8]) -> Option<ConnectError> {
    #[derive(serde::Deserialize)]
    struct EndStream {
        error: Option<serde_json::Value>,
    }
    let end: EndStream = match serde_json::from_slice(payload) {
        Ok(end) => end,
        Err(_) => return Some(ConnectError::internal("invalid end-of-stream message")),
    };
    let error = end.error?;
    Some(
        ConnectError::from_json(error.to_string().as_bytes())
            .unwrap_or_else(|| ConnectError::new(Code::Unknown, error.to_string())),
    )
}

async fn error_from_response(response: Response<Incoming>) -> ConnectError {
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_ERROR_BODY_BYTES)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    ConnectError::from_json(&body).unwrap_or_else(|| {
        ConnectError::new(
            Code::from_http_status(status.as_u16()),
            format!("HTTP {status} from the Depot API"),
        )
    })
}

fn check_content_type(headers: &HeaderMap, expected: &str) -> Result<(), ConnectError> {
    let actual = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if actual.split(';').next().unwrap_or("").trim() == expected {
        Ok(())
    } else {
        Err(ConnectError::internal(format!(
            "the server answered with content-type {actual:?}, expected {expected}"
        )))
    }
}

fn is_gzip(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get(name)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"))
}

fn trust_roots(extra_ca_pem: Option<&[u8]>) -> Result<rustls::RootCertStore, ConnectError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // Skip system certificates rustls cannot parse; the rest still verify.
        let _ = roots.add(cert);
    }
    if let Some(pem) = extra_ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| {
                ConnectError::invalid_argument("the extra CA file is not valid PEM").with_source(e)
            })?;
            roots.add(cert).map_err(|e| {
                ConnectError::invalid_argument("the extra CA certificate is invalid").with_source(e)
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(ConnectError::invalid_argument(
                "the extra CA file holds no PEM certificate",
            ));
        }
    }
    Ok(roots)
}

/// The innermost cause of a transport error, which is what tells the user what went wrong
/// (connection refused, certificate unknown, …).
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
