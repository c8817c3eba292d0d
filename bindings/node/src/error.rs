//! Errors crossing into JavaScript. Every failure becomes a napi error whose message is
//! [`MARKER`] followed by a JSON object — `code` (stable, e.g. `not_found`, `build_failed`),
//! `message`, `causes` (the source chain, outermost first) and, for failed builds, `step` and
//! `log` — which the TypeScript layer turns into the matching `DepotError` subclass. This module
//! is the one place Rust errors are classified.

use std::error::Error as StdError;

use depot_build::buildkit;
use depot_build::run;
use depot_core::connect::{Code, ConnectError};
use depot_registry::client::ClientError;
use serde_json::json;

/// What starts every error message made here.
pub const MARKER: &str = "depot-rs-error:";

/// A classified failure, ready to cross into JavaScript.
#[derive(Debug)]
pub struct Failure {
    code: &'static str,
    message: String,
    causes: Vec<String>,
    step: Option<String>,
    log: Vec<String>,
    build_id: Option<String>,
}

impl Failure {
    /// A failure with `code` described by `error` and its source chain.
    pub fn new(code: &'static str, error: &(dyn StdError + 'static)) -> Self {
        let mut causes = Vec::new();
        let mut source = error.source();
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        Failure {
            code,
            message: error.to_string(),
            causes,
            step: None,
            log: Vec::new(),
            build_id: None,
        }
    }

    /// A failure with `code` and only a message.
    pub fn message(code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            causes: Vec::new(),
            step: None,
            log: Vec::new(),
            build_id: None,
        }
    }

    /// Names the build the failure belongs to.
    pub fn for_build(mut self, build_id: &str) -> Self {
        self.build_id = Some(build_id.to_owned());
        self
    }
}

impl From<Failure> for napi::Error {
    fn from(failure: Failure) -> Self {
        let body = json!({
            "code": failure.code,
            "message": failure.message,
            "causes": failure.causes,
            "step": failure.step,
            "log": failure.log,
            "buildId": failure.build_id,
        });
        napi::Error::from_reason(format!("{MARKER}{body}"))
    }
}

/// The stable code for a Connect error code.
fn connect_code(code: Code) -> &'static str {
    match code {
        Code::Unauthenticated => "unauthenticated",
        Code::PermissionDenied => "permission_denied",
        Code::NotFound => "not_found",
        Code::InvalidArgument | Code::OutOfRange => "invalid_argument",
        Code::AlreadyExists => "already_exists",
        Code::FailedPrecondition => "failed_precondition",
        Code::Unavailable | Code::DeadlineExceeded => "unavailable",
        Code::Canceled => "canceled",
        Code::ResourceExhausted => "resource_exhausted",
        Code::Unimplemented => "unimplemented",
        _ => "internal",
    }
}

impl From<ConnectError> for Failure {
    fn from(error: ConnectError) -> Self {
        Failure::new(connect_code(error.code()), &error)
    }
}

impl From<depot_core::Error> for Failure {
    fn from(error: depot_core::Error) -> Self {
        let code = match &error {
            depot_core::Error::Api(api) => connect_code(api.code()),
            depot_core::Error::MissingToken => "unauthenticated",
            _ => "config",
        };
        Failure::new(code, &error)
    }
}

impl From<depot_build::builder::Error> for Failure {
    fn from(error: depot_build::builder::Error) -> Self {
        let code = match &error {
            depot_build::builder::Error::Api { source, .. } => connect_code(source.code()),
            depot_build::builder::Error::Unsupported(_) => "invalid_argument",
            _ => "unavailable",
        };
        Failure::new(code, &error)
    }
}

impl From<buildkit::Error> for Failure {
    fn from(error: buildkit::Error) -> Self {
        match &error {
            buildkit::Error::Build(failure) if failure.is_canceled() => {
                Failure::new("canceled", &error)
            }
            buildkit::Error::Build(failure) => Failure {
                step: failure.step.clone(),
                log: failure.log.clone(),
                ..Failure::new("build_failed", &error)
            },
            buildkit::Error::InvalidOptions(_) | buildkit::Error::Unsupported(_) => {
                Failure::new("invalid_argument", &error)
            }
            _ => Failure::new("unavailable", &error),
        }
    }
}

impl From<run::Error> for Failure {
    fn from(error: run::Error) -> Self {
        match error {
            run::Error::Invalid(_) => Failure::new("invalid_argument", &error),
            run::Error::Register(inner) | run::Error::Connect(inner) | run::Error::Plan(inner) => {
                inner.into()
            }
            run::Error::Build(inner) => inner.into(),
            run::Error::Canceled { ref build_id, .. } => {
                let build_id = build_id.clone();
                Failure::new("canceled", &error).for_build(&build_id)
            }
            run::Error::Task(_) => Failure::new("internal", &error),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        Failure::new("registry", &error)
    }
}

/// Converts any classified error into the napi error thrown to JavaScript (for `map_err`).
pub fn fail(error: impl Into<Failure>) -> napi::Error {
    error.into().into()
}
