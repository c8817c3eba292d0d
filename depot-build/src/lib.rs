//! depot-build: builds for depot-rs.
//!
//! - [`buildkit`]: a BuildKit client — transports to buildkitd and the Docker Engine, and
//!   capability probing.
//! - [`dockerignore`]: Docker's `.dockerignore` pattern semantics, used to filter build contexts.
//! - [`events`]: typed build events (vertices started, done, cached or failed; logs; progress;
//!   warnings), decoded from BuildKit's status stream.
//! - [`progress`]: build events rendered for people, as buildx's `plain` lines or a live
//!   terminal view.

pub mod buildkit;
pub mod dockerignore;
pub mod events;
pub mod progress;

#[cfg(test)]
mod testing;
