//! Registry errors in the OCI Distribution Spec's format:
//! `{"errors":[{"code":"BLOB_UNKNOWN","message":"…"}]}` with the spec's HTTP statuses.

use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error code from the spec (plus `RANGE_INVALID` for unsatisfiable ranges).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The blob is not in the repository.
    BlobUnknown,
    /// The upload is invalid (bad range, bad state).
    BlobUploadInvalid,
    /// The upload session does not exist.
    BlobUploadUnknown,
    /// The content does not match its digest, or the digest is malformed.
    DigestInvalid,
    /// A manifest references a blob the repository does not have.
    ManifestBlobUnknown,
    /// The manifest is malformed.
    ManifestInvalid,
    /// The manifest is not in the repository.
    ManifestUnknown,
    /// The repository name is malformed.
    NameInvalid,
    /// The repository does not exist.
    NameUnknown,
    /// The content length does not match.
    SizeInvalid,
    /// Authentication is required.
    Unauthorized,
    /// The credentials do not allow the operation.
    Denied,
    /// The operation is not supported.
    Unsupported,
    /// The requested range cannot be served, or an upload chunk is out of order
    /// (`RANGE_INVALID`, as the reference registry names it).
    RangeInvalid,
    /// The server failed.
    Internal,
}

impl ErrorCode {
    fn wire(self) -> (&'static str, StatusCode) {
        match self {
            ErrorCode::BlobUnknown => ("BLOB_UNKNOWN", StatusCode::NOT_FOUND),
            ErrorCode::BlobUploadInvalid => ("BLOB_UPLOAD_INVALID", StatusCode::BAD_REQUEST),
            ErrorCode::BlobUploadUnknown => ("BLOB_UPLOAD_UNKNOWN", StatusCode::NOT_FOUND),
            ErrorCode::DigestInvalid => ("DIGEST_INVALID", StatusCode::BAD_REQUEST),
            ErrorCode::ManifestBlobUnknown => ("MANIFEST_BLOB_UNKNOWN", StatusCode::BAD_REQUEST),
            ErrorCode::ManifestInvalid => ("MANIFEST_INVALID", StatusCode::BAD_REQUEST),
            ErrorCode::ManifestUnknown => ("MANIFEST_UNKNOWN", StatusCode::NOT_FOUND),
            ErrorCode::NameInvalid => ("NAME_INVALID", StatusCode::BAD_REQUEST),
            ErrorCode::NameUnknown => ("NAME_UNKNOWN", StatusCode::NOT_FOUND),
            ErrorCode::SizeInvalid => ("SIZE_INVALID", StatusCode::BAD_REQUEST),
            ErrorCode::Unauthorized => ("UNAUTHORIZED", StatusCode::UNAUTHORIZED),
            ErrorCode::Denied => ("DENIED", StatusCode::FORBIDDEN),
            ErrorCode::Unsupported => ("UNSUPPORTED", StatusCode::METHOD_NOT_ALLOWED),
            ErrorCode::RangeInvalid => ("RANGE_INVALID", StatusCode::RANGE_NOT_SATISFIABLE),
            ErrorCode::Internal => ("UNKNOWN", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

/// A failed registry request.
#[derive(Debug)]
pub struct RegistryError {
    code: ErrorCode,
    message: String,
    /// Headers of the response (a `WWW-Authenticate` challenge, a `Content-Range`).
    headers: Vec<(HeaderName, String)>,
    status: Option<StatusCode>,
}

impl RegistryError {
    /// An error with a spec code and a message for the client.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            headers: Vec::new(),
            status: None,
        }
    }

    /// Overrides the HTTP status (e.g. 413 for oversized manifests).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// Adds a header to the response.
    pub fn with_header(mut self, name: HeaderName, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// A 401 carrying a `WWW-Authenticate` challenge.
    pub fn unauthorized(message: impl Into<String>, challenge: String) -> Self {
        Self::new(ErrorCode::Unauthorized, message).with_header(WWW_AUTHENTICATE, challenge)
    }

    /// A 403 `DENIED` for a bearer that lacks the scope a request needs, with the challenge
    /// naming it (`error="insufficient_scope"`, RFC 6750 § 3.1), so clients ask for a bearer
    /// with that scope.
    pub fn insufficient_scope(message: impl Into<String>, challenge: String) -> Self {
        Self::new(ErrorCode::Denied, message).with_header(WWW_AUTHENTICATE, challenge)
    }

    /// A server-side failure; the detail goes to the log, not the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "registry failure");
        Self::new(
            ErrorCode::Internal,
            "internal registry error; see the server log",
        )
    }

    /// The spec code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.wire().0, self.message)
    }
}

impl std::error::Error for RegistryError {}

impl From<std::io::Error> for RegistryError {
    fn from(err: std::io::Error) -> Self {
        Self::internal(format!("storage: {err}"))
    }
}

impl From<sqlx::Error> for RegistryError {
    fn from(err: sqlx::Error) -> Self {
        Self::internal(format!("database: {err}"))
    }
}

#[cfg(feature = "s3")]
impl From<object_store::Error> for RegistryError {
    fn from(err: object_store::Error) -> Self {
        Self::internal(format!("object store: {err}"))
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let (code, default_status) = self.code.wire();
        let body = serde_json::json!({
            "errors": [{"code": code, "message": self.message}]
        });
        let mut response = (
            self.status.unwrap_or(default_status),
            [(CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

/// Result of a registry handler.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
