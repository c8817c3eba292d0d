//! Errors crossing into JavaScript. Every failure is a [`depot_core::ErrorReport`] (the fields
//! the Python package raises too), thrown as a napi error whose message is [`MARKER`] followed
//! by the report as JSON with camelCase keys — `code`, `message`, `causes` (outermost first),
//! `step`, `logs`, `exitCode`, `buildId` — which the TypeScript layer turns into the matching
//! `DepotError` subclass.

use depot_core::ErrorReport;
use depot_core::naming::camel_case_keys;

/// What starts every error message made here.
pub const MARKER: &str = "depot-rs-error:";

/// The napi error thrown to JavaScript for a failure: any classified error of the crates, or
/// an [`ErrorReport`] made here (for `map_err`).
pub fn fail(error: impl Into<ErrorReport>) -> napi::Error {
    let report = error.into();
    match serde_json::to_value(&report).map(camel_case_keys) {
        Ok(body) => napi::Error::from_reason(format!("{MARKER}{body}")),
        // The report is plain data; should it ever not serialize, keep its message.
        Err(_) => napi::Error::from_reason(report.to_string()),
    }
}
