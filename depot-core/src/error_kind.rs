//! What kind of failure an error is, as programs using depot-rs see it: one stable code per
//! kind (`not_found`, `build_failed`, …). The Node and Python packages turn kinds into their
//! exception classes; each crate says which kind its own errors are by implementing
//! [`Classify`], so both languages classify alike.

use crate::Error;
use crate::connect::{Code, ConnectError};

/// The kinds of failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No credentials, or invalid ones.
    Unauthenticated,
    /// Credentials without access to what was asked.
    PermissionDenied,
    /// The project, build or image does not exist.
    NotFound,
    /// The request cannot be served as made.
    InvalidArgument,
    /// What was to be created exists.
    AlreadyExists,
    /// The state does not allow the request (e.g. pulling a build that was not saved).
    FailedPrecondition,
    /// A limit was reached.
    ResourceExhausted,
    /// The server or builder does not support the request.
    Unimplemented,
    /// The server, a builder or the Docker Engine cannot be reached or is not ready.
    Unavailable,
    /// The work was canceled, by the caller or the server.
    Canceled,
    /// A bug or an unexpected answer.
    Internal,
    /// The local configuration cannot be used (no project, an unreadable config file).
    Config,
    /// A registry refused or failed a pull, push or copy.
    Registry,
    /// A build ran and failed.
    BuildFailed,
}

impl ErrorKind {
    /// The stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::NotFound => "not_found",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::FailedPrecondition => "failed_precondition",
            ErrorKind::ResourceExhausted => "resource_exhausted",
            ErrorKind::Unimplemented => "unimplemented",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Canceled => "canceled",
            ErrorKind::Internal => "internal",
            ErrorKind::Config => "config",
            ErrorKind::Registry => "registry",
            ErrorKind::BuildFailed => "build_failed",
        }
    }
}

impl From<Code> for ErrorKind {
    fn from(code: Code) -> Self {
        match code {
            Code::Unauthenticated => ErrorKind::Unauthenticated,
            Code::PermissionDenied => ErrorKind::PermissionDenied,
            Code::NotFound => ErrorKind::NotFound,
            Code::InvalidArgument | Code::OutOfRange => ErrorKind::InvalidArgument,
            Code::AlreadyExists => ErrorKind::AlreadyExists,
            Code::FailedPrecondition | Code::Aborted => ErrorKind::FailedPrecondition,
            Code::ResourceExhausted => ErrorKind::ResourceExhausted,
            Code::Unimplemented => ErrorKind::Unimplemented,
            Code::Unavailable | Code::DeadlineExceeded => ErrorKind::Unavailable,
            Code::Canceled => ErrorKind::Canceled,
            Code::Unknown | Code::Internal | Code::DataLoss => ErrorKind::Internal,
        }
    }
}

/// The step a build failed in, for errors of kind [`ErrorKind::BuildFailed`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailedStep {
    /// The step's name, e.g. `[2/3] RUN make`.
    pub name: Option<String>,
    /// Its last log lines.
    pub log: Vec<String>,
    /// The exit code of its process, if it ran one.
    pub exit_code: Option<i32>,
}

/// An error that knows its [`ErrorKind`]: what the Node and Python packages turn into their
/// exceptions.
pub trait Classify: std::error::Error {
    /// The kind of failure.
    fn kind(&self) -> ErrorKind;

    /// The failed build step behind the error, if it is a failed build.
    fn failed_step(&self) -> Option<FailedStep> {
        None
    }

    /// The messages of the error's sources, outermost first.
    fn causes(&self) -> Vec<String> {
        std::iter::successors(self.source(), |cause| cause.source())
            .map(ToString::to_string)
            .collect()
    }
}

impl Classify for ConnectError {
    fn kind(&self) -> ErrorKind {
        self.code().into()
    }
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Api(api) => api.kind(),
            Error::MissingToken => ErrorKind::Unauthenticated,
            Error::MissingProject | Error::ConfigFile { .. } | Error::Io { .. } => {
                ErrorKind::Config
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_take_their_connect_code() {
        let denied = Error::Api(ConnectError::new(Code::PermissionDenied, "no"));
        assert_eq!(denied.kind().code(), "permission_denied");
        assert_eq!(
            ConnectError::new(Code::DeadlineExceeded, "slow").kind(),
            ErrorKind::Unavailable
        );
        assert_eq!(Error::MissingToken.kind(), ErrorKind::Unauthenticated);
        assert_eq!(Error::MissingProject.kind().code(), "config");
    }

    #[test]
    fn causes_follow_the_source_chain() {
        let io = Error::Io {
            action: "reading",
            path: "/etc/depot.json".into(),
            source: std::io::Error::other("disk on fire"),
        };
        assert_eq!(io.causes(), ["disk on fire"]);
        assert_eq!(io.failed_step(), None);
    }
}
