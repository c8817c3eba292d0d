//! depot-core: Depot's public API for Rust.
//!
//! - [`proto`]: the protocol's messages and a typed Connect client per service, generated at
//!   build time from depot-core's own `.proto` files (field numbers as Depot's API defines them);
//! - [`connect`]: the Connect protocol over HTTP/2 (h2c for `http://`) and TLS;
//! - [`config`]: API URL, token and project resolution exactly as the official `depot` CLI does it;
//! - [`DepotClient`]: one entry point that hands out the per-service clients;
//! - [`ErrorChain`]: an error and its causes as one line of text;
//! - [`ErrorKind`] and [`Classify`]: the stable error codes every depot-rs crate and package
//!   classifies its errors by, and [`ErrorReport`], a classified error as data, which the
//!   packages raise; [`naming`]: the key naming of the JSON shapes they hand out.
//!
//! The server half of the API (storage, tokens, the services behind `depot-server`) lives in
//! the `depot-control` crate, which depends on this one.
//!
//! ```no_run
//! # async fn demo() -> Result<(), depot_core::Error> {
//! use depot_core::{DepotClient, config::{Environment, ResolvedConfig}};
//! let config = ResolvedConfig::resolve(&Environment::from_process(), None, None).await?;
//! let client = DepotClient::new(config.client_options())?;
//! for project in client.projects().list_projects(Default::default()).await?.projects {
//!     println!("{} {}", project.id, project.name);
//! }
//! # Ok(()) }
//! ```

pub mod config;
pub mod connect;
mod depot_client;
mod error;
mod error_chain;
mod error_kind;
mod error_report;
pub mod insights;
pub mod naming;
pub mod proto;

pub use depot_client::DepotClient;
pub use error::Error;
pub use error_chain::ErrorChain;
pub use error_kind::{Classify, ErrorKind, FailedStep};
pub use error_report::ErrorReport;
