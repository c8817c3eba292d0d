//! The server half of Depot's API, used by depot-server (and by depot-registry and depot-oidc
//! to authenticate tokens): the Connect server codec, one-port HTTP serving (HTTP/1.1, h2c,
//! TLS), durable storage, tokens, authorization and the control-plane services.

pub mod api;
pub mod auth;
pub mod builders;
pub mod connect;
pub mod http;
pub mod ids;
pub mod store;
pub mod tokens;

pub use api::{ControlPlane, ControlPlaneConfig, approve_login};
pub use store::Store;
