//! depot-core's error type.

use std::path::PathBuf;

use crate::connect::ConnectError;

/// Everything depot-core's client side can fail with. Messages say what to do next.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed (the Connect code says how).
    #[error(transparent)]
    Api(#[from] ConnectError),
    /// No token was found in `--token`, `DEPOT_TOKEN`, the user config or CI.
    #[error(
        "missing API token: run `depot login`, pass --token, set DEPOT_TOKEN, or run in a CI job with an OIDC trust policy"
    )]
    MissingToken,
    /// No project was found in `--project`, `DEPOT_PROJECT_ID` or a `depot.json`.
    #[error(
        "unknown project ID: pass --project, set DEPOT_PROJECT_ID, or run `depot init` to write a depot.json"
    )]
    MissingProject,
    /// A configuration file could not be read or parsed.
    #[error("cannot use config file {path}: {message}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{action} {path}")]
    Io {
        /// What was being done (`"reading"`, `"writing"`).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
