//! The native module of the `@depot-rs/sdk` npm package: depot-rs's Rust crates exposed to Node
//! with napi-rs. The package's TypeScript layer (`ts/`) wraps these functions and classes into
//! the public API (`Client`, `BuildHandle`, typed errors); nothing here is meant to be called
//! directly by users.
//!
//! - [`client`]: configuration resolution, projects, pull tokens and the OIDC exchange.
//! - [`builds`]: builds with streamed events, their result and cancellation.
//! - [`bake`]: bakes of buildx bake files, as builds whose events name their target.
//! - [`builder`]: a builder acquired on its own, with its BuildKit connection details.
//! - [`registry`]: pulling, pushing, listing and deleting images.
//! - [`oidc`]: finding the CI job's OIDC token.
//! - [`insights`]: build summaries, steps and logs, sharing, usage and project tokens.
//! - [`error`]: every Rust error mapped to one JSON shape the TypeScript layer turns into
//!   `DepotError` subclasses.

pub mod bake;
pub mod builder;
pub mod builds;
pub mod client;
pub mod error;
pub mod insights;
pub mod oidc;
pub mod registry;
