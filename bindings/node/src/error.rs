//! Errors crossing into JavaScript. Every failure becomes a napi error whose message is
//! [`MARKER`] followed by a JSON object — `code` (the error's [`ErrorKind`] code, e.g.
//! `not_found`, `build_failed`), `message`, `causes` (the source chain, outermost first) and,
//! for failed builds, `step` and `log` — which the TypeScript layer turns into the matching
//! `DepotError` subclass. The kinds come from the Rust crates ([`Classify`]), so Node and
//! Python classify alike.

use depot_core::{Classify, ErrorKind};
use serde_json::json;

/// What starts every error message made here.
pub const MARKER: &str = "depot-rs-error:";

/// A classified failure, ready to cross into JavaScript.
#[derive(Debug)]
pub struct Failure {
    kind: ErrorKind,
    message: String,
    causes: Vec<String>,
    step: Option<String>,
    log: Vec<String>,
    build_id: Option<String>,
}

impl Failure {
    /// A failure of `kind` with only a message.
    pub fn message(kind: ErrorKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
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
            "code": failure.kind.code(),
            "message": failure.message,
            "causes": failure.causes,
            "step": failure.step,
            "log": failure.log,
            "buildId": failure.build_id,
        });
        napi::Error::from_reason(format!("{MARKER}{body}"))
    }
}

impl<E: Classify> From<E> for Failure {
    fn from(error: E) -> Self {
        let step = error.failed_step().unwrap_or_default();
        Failure {
            kind: error.kind(),
            message: error.to_string(),
            causes: error.causes(),
            step: step.name,
            log: step.log,
            build_id: None,
        }
    }
}

/// Converts any classified error into the napi error thrown to JavaScript (for `map_err`).
pub fn fail(error: impl Into<Failure>) -> napi::Error {
    error.into().into()
}
