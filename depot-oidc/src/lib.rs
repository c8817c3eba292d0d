//! CI identity for depot-rs.
//!
//! A CI job proves who it is with its provider's OIDC token (a JWT). This crate has both sides:
//!
//! - [`client`] (feature `client`, default): finds the job's token the way the official `depot`
//!   CLI does (GitHub Actions, GitLab, CircleCI, Buildkite, in that order).
//! - [`server`] (feature `server`): verifies a token against its issuer's discovery document and
//!   JWKS (cached), and turns its claims into a [`CiIdentity`] that [`TrustPolicy`]s match.
//! - [`test_issuer`] (feature `test-issuer`): a local issuer for tests.

#[cfg(feature = "client")]
pub mod client;
mod identity;
mod policy;

pub use identity::{CiIdentity, Provider, ProviderClaims};
pub use policy::TrustPolicy;

#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "test-issuer")]
pub mod test_issuer;

/// The audience Depot's CLI asks CI providers for, and the default audience depot-server expects.
pub const DEFAULT_AUDIENCE: &str = "https://depot.dev";

/// An HTTP client for token endpoints, discovery documents and JWKS: `timeout` bounds each whole
/// request (connecting through reading the body), and it identifies as `depot-rs/<version>`.
/// TLS uses rustls with the process-wide crypto provider, installing ring's if none is yet.
///
/// # Panics
///
/// If the TLS backend cannot be initialized (reqwest's builder fails only then).
#[cfg(any(feature = "client", feature = "server"))]
pub(crate) fn http_client(timeout: std::time::Duration) -> reqwest::Client {
    // Installing a provider when one is already installed is a harmless error.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("depot-rs/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("initializing the HTTP client's TLS backend")
}
