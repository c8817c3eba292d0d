//! depot-build: builds for depot-rs.
//!
//! - [`buildkit`]: a BuildKit client — transports to buildkitd and the Docker Engine, and
//!   capability probing.
//! - [`dockerignore`]: Docker's `.dockerignore` pattern semantics, used to filter build contexts.

pub mod buildkit;
pub mod dockerignore;
