//! depot-control: the control plane behind `depot-server`.
//!
//! - [`store`]: durable state (organizations, users, projects, tokens, builds, trust policies,
//!   logins) in SQLite or PostgreSQL through one sqlx code path, with its migrations;
//! - [`tokens`] and [`auth`]: random tokens stored hashed, and who a request is (API tokens, and
//!   CI OIDC tokens verified with `depot-oidc`'s server half) and what it may do;
//! - [`connect`]: the server side of the Connect protocol (decoding requests, encoding unary and
//!   streamed responses and errors), over `depot_core::connect`'s codec;
//! - [`http`]: one-port serving of HTTP/1.1, h2c and TLS;
//! - [`api`]: Depot's API services ([`ControlPlane`]), and [`builders`]: the trait the builder
//!   fleet implements to hand builds a BuildKit.
//!
//! The registry (`depot-registry`'s `server` feature) and the builder fleet (`depot-build`'s
//! `server` feature) build on this crate; depot-oidc and depot-core do not depend on it.

pub mod api;
pub mod auth;
pub mod builders;
pub mod connect;
pub mod http;
pub mod ids;
pub mod protocols;
pub mod store;
pub mod tokens;

pub use api::{ControlPlane, ControlPlaneConfig, approve_login};
pub use store::Store;
