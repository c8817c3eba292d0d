//! depot-build: builds for depot-rs.
//!
//! - [`builder`]: builders from Depot's API — `CreateBuild`, waiting for the BuildKit
//!   connection, health and status reports, and `FinishBuild`.
//! - [`buildkit`]: a BuildKit client — transports to buildkitd and the Docker Engine,
//!   capability probing, the session the daemon calls back into, and Dockerfile builds.
//! - [`dockerignore`]: Docker's `.dockerignore` pattern semantics, used to filter build contexts.
//! - [`fsutil`]: BuildKit's fsutil DiffCopy packet protocol, which sends build contexts to the
//!   daemon and receives `local` exports from it.
//! - [`events`]: typed build events (vertices started, done, cached or failed; logs; progress;
//!   warnings), decoded from BuildKit's status stream.
//! - [`flags`]: a build as `depot build`'s flags write it (outputs, secrets, caches, build
//!   arguments…), parsed once into a [`run::BuildSpec`] for the CLI and every package.
//! - [`run`]: a whole build as `depot build` runs it — register, connect, plan outputs, build
//!   with streamed events, cancel, release — with its result and metadata.
//! - [`progress`]: build events rendered for people, as buildx's `plain` lines or a live
//!   terminal view.
//! - [`server`] (feature `server`): the server side of builder provisioning — the builder CA,
//!   the builder pool depot-server hands builders out from, and its backends.

pub mod builder;
pub mod buildkit;
pub mod dockerignore;
mod error_kind;
pub mod events;
pub mod flags;
pub mod fsutil;
pub mod progress;
pub mod run;
#[cfg(feature = "server")]
pub mod server;

#[cfg(test)]
mod testing;
