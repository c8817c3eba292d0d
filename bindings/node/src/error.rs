//! Errors crossing into JavaScript. Every failure is a [`depot_core::ErrorReport`] (the fields
//! the Python package raises too), thrown as a napi error whose message is [`MARKER`] followed
//! by the report as JSON with camelCase keys — `code`, `message`, `causes` (outermost first),
//! `step`, `logs`, `exitCode`, `buildId` — which the TypeScript layer turns into the matching
//! `DepotError` subclass.

use depot_core::naming::camel_case_keys;
use depot_core::{Classify, ErrorKind, ErrorReport};

/// What starts every error message made here.
pub const MARKER: &str = "depot-rs-error:";

/// A classified failure, ready to cross into JavaScript.
#[derive(Debug)]
pub struct Failure(Box<ErrorReport>);

impl Failure {
    /// A failure of `kind` with only a message.
    pub fn message(kind: ErrorKind, message: impl Into<String>) -> Self {
        Failure(Box::new(ErrorReport::new(kind, message)))
    }

    /// Names the build the failure belongs to.
    pub fn for_build(self, build_id: &str) -> Self {
        Failure(Box::new(self.0.for_build(build_id)))
    }
}

impl From<Failure> for napi::Error {
    fn from(failure: Failure) -> Self {
        let body = serde_json::to_value(&failure.0).map(camel_case_keys);
        match body {
            Ok(body) => napi::Error::from_reason(format!("{MARKER}{body}")),
            // The report is plain data; should it ever not serialize, keep its message.
            Err(_) => napi::Error::from_reason(failure.0.message),
        }
    }
}

impl<E: Classify> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure(Box::new(ErrorReport::from(error)))
    }
}

/// Converts any classified error into the napi error thrown to JavaScript (for `map_err`).
pub fn fail(error: impl Into<Failure>) -> napi::Error {
    error.into().into()
}
