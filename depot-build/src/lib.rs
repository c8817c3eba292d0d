//! depot-build: builds for depot-rs.
//!
//! - [`dockerignore`]: Docker's `.dockerignore` pattern semantics, used to filter build contexts.

pub mod dockerignore;
