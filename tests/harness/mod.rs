//! Test harness: real `depot-server` processes on loopback ports with their own database
//! (a SQLite file, or a fresh PostgreSQL database when `DEPOT_TEST_DATABASE_URL` names a
//! server), and CLI runners with scratch homes.
//!
//! Binaries come from the workspace target directory (`cargo build --workspace` first; the test
//! script does it). The official CLI is found through `DEPOT_OFFICIAL_CLI`. Servers log
//! warnings to the test's stderr; `DEPOT_TEST_SERVER_LOG=info` (any `DEPOT_SERVER_LOG` filter)
//! shows more.
//!
//! Modules by what they drive: [`server`], [`cli`], [`registry_client`], [`http_client`],
//! [`images`], [`distribution`], [`docker`] and [`binaries`]; everything is re-exported here.

pub mod binaries;
pub mod browser;
pub mod cli;
pub mod distribution;
pub mod docker;
pub mod http_client;
pub mod images;
pub mod registry_client;
pub mod server;

pub use binaries::*;
pub use browser::*;
pub use cli::*;
pub use distribution::*;
pub use docker::*;
pub use http_client::*;
pub use images::*;
pub use registry_client::*;
pub use server::*;
