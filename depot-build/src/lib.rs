//! depot-build: builds for depot-rs.
//!
//! - [`buildkit`]: a BuildKit client — transports to buildkitd and the Docker Engine, and
//!   capability probing.
//! - [`dockerignore`]: Docker's `.dockerignore` pattern semantics, used to filter build contexts.
//! - [`fsutil`]: BuildKit's fsutil DiffCopy packet protocol, which sends build contexts to the
//!   daemon and receives `local` exports from it.

pub mod buildkit;
pub mod dockerignore;
pub mod fsutil;
