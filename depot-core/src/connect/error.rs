//! Connect error codes and the error type every RPC returns.

use std::fmt;

/// A Connect protocol error code (<https://connectrpc.com/docs/protocol#error-codes>).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// The operation was cancelled, typically by the caller.
    Canceled,
    /// Unknown error.
    Unknown,
    /// The request is invalid regardless of the system state.
    InvalidArgument,
    /// The deadline expired before the operation completed.
    DeadlineExceeded,
    /// A requested entity was not found.
    NotFound,
    /// The entity the caller tried to create already exists.
    AlreadyExists,
    /// The caller is authenticated but lacks permission for the operation.
    PermissionDenied,
    /// A resource (quota, size limit) was exhausted.
    ResourceExhausted,
    /// The system is not in a state required for the operation.
    FailedPrecondition,
    /// The operation was aborted, typically due to a concurrency issue.
    Aborted,
    /// The operation was attempted past the valid range.
    OutOfRange,
    /// The procedure is not implemented or not supported.
    Unimplemented,
    /// An invariant of the server broke.
    Internal,
    /// The service is currently unavailable; retrying may help.
    Unavailable,
    /// Unrecoverable data loss or corruption.
    DataLoss,
    /// The request has no valid authentication credentials.
    Unauthenticated,
}

impl Code {
    /// Every code, in the protocol's numeric order.
    pub const ALL: [Code; 16] = [
        Code::Canceled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// The code's wire name, e.g. `not_found`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Canceled => "canceled",
            Code::Unknown => "unknown",
            Code::InvalidArgument => "invalid_argument",
            Code::DeadlineExceeded => "deadline_exceeded",
            Code::NotFound => "not_found",
            Code::AlreadyExists => "already_exists",
            Code::PermissionDenied => "permission_denied",
            Code::ResourceExhausted => "resource_exhausted",
            Code::FailedPrecondition => "failed_precondition",
            Code::Aborted => "aborted",
            Code::OutOfRange => "out_of_range",
            Code::Unimplemented => "unimplemented",
            Code::Internal => "internal",
            Code::Unavailable => "unavailable",
            Code::DataLoss => "data_loss",
            Code::Unauthenticated => "unauthenticated",
        }
    }

    /// Parses a wire name; unknown names become [`Code::Unknown`].
    pub fn from_wire(name: &str) -> Code {
        Code::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .unwrap_or(Code::Unknown)
    }

    /// The HTTP status a unary error response carries for this code.
    pub fn http_status(self) -> u16 {
        match self {
            Code::Canceled => 499,
            Code::Unknown | Code::Internal | Code::DataLoss => 500,
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
            Code::DeadlineExceeded => 504,
            Code::NotFound => 404,
            Code::AlreadyExists | Code::Aborted => 409,
            Code::PermissionDenied => 403,
            Code::ResourceExhausted => 429,
            Code::Unimplemented => 501,
            Code::Unavailable => 503,
            Code::Unauthenticated => 401,
        }
    }

    /// The code implied by an HTTP status when the body carries no Connect error
    /// (a proxy or a non-Connect server answered).
    pub fn from_http_status(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502..=504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An RPC failure: a Connect code, a human-readable message and, for client-side failures
/// (connection refused, TLS, decoding), the underlying cause.
///
/// Displays as `<code>: <message>`, the form the official CLI prints.
#[derive(Debug)]
pub struct ConnectError {
    code: Code,
    message: String,
    source: Option<Source>,
}

impl ConnectError {
    /// An error with a code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// `invalid_argument`.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    /// `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    /// `permission_denied`.
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(Code::PermissionDenied, message)
    }

    /// `unauthenticated`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(Code::Unauthenticated, message)
    }

    /// `internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }

    /// `unimplemented`.
    pub fn unimplemented(message: impl Into<String>) -> Self {
        Self::new(Code::Unimplemented, message)
    }

    /// `failed_precondition`.
    pub fn failed_precondition(message: impl Into<String>) -> Self {
        Self::new(Code::FailedPrecondition, message)
    }

    /// The error code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The message, without the code.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON body of a Connect error (`{"code":…,"message":…}`).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&WireError {
            code: self.code.as_str().to_owned(),
            message: (!self.message.is_empty()).then(|| self.message.clone()),
        })
        .expect("serializing a Connect error cannot fail")
    }

    /// Parses a Connect error JSON body; `None` if it is not one.
    pub fn from_json(body: &[u8]) -> Option<Self> {
        let wire: WireError = serde_json::from_slice(body).ok()?;
        Some(Self::new(
            Code::from_wire(&wire.code),
            wire.message.unwrap_or_default(),
        ))
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as _)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct WireError {
    code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_wire_names() {
        for code in Code::ALL {
            assert_eq!(Code::from_wire(code.as_str()), code);
        }
        assert_eq!(Code::from_wire("bogus"), Code::Unknown);
    }

    #[test]
    fn error_json_round_trips() {
        let err = ConnectError::not_found("project p1 not found");
        let back = ConnectError::from_json(&err.to_json()).unwrap();
        assert_eq!(back.code(), Code::NotFound);
        assert_eq!(back.message(), "project p1 not found");
        assert_eq!(back.to_string(), "not_found: project p1 not found");
        assert!(ConnectError::from_json(b"<html>").is_none());
    }
}
