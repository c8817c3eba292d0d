//! The server side of builder provisioning (feature `server`), used by depot-server.
//!
//! - [`ca`]: the installation's builder CA, which signs builders' server certificates and a
//!   client certificate per build.
//! - [`pool`]: the [`BuilderPool`], depot-core's [`BuilderProvider`] over a list of
//!   [`Builder`]s: one builder per build, concurrency limits, project cache affinity.
//! - [`local`]: the embedded builder, the local Docker Engine's BuildKit exposed on a TCP port
//!   with mTLS that accepts only the certificates of builds currently holding it.
//! - [`remote`]: standalone buildkitd endpoints started with the CA as their client CA.
//! - [`engines`]: per-project builder instances, a Docker Engine each, started by the server
//!   ([`Fleet`], the provider depot-server uses by default).
//!
//! [`BuilderProvider`]: depot_control::builders::BuilderProvider

mod admission;
pub mod ca;
pub mod engines;
pub mod local;
pub mod pool;
pub mod remote;
mod solve_tap;

use depot_control::builders::{ActiveBuilder, BuilderArch, BuilderError, BuilderRequest, Tenant};
use futures_util::future::BoxFuture;

pub use ca::{BuilderCa, CaError, Fingerprint, IssuedCertificate};
pub use engines::{Fleet, FleetConfig, Slots};
pub use local::{LocalBuilder, LocalBuilderConfig};
pub use pool::BuilderPool;
pub use remote::{RemoteBuilder, RemoteBuilderSpec};

/// The name builders' certificates carry unless configured otherwise.
pub const DEFAULT_SERVER_NAME: &str = "builder.depot-rs.local";

/// One builder of a [`BuilderPool`]: a BuildKit endpoint that runs a number of builds at once.
pub trait Builder: Send + Sync + std::fmt::Debug + 'static {
    /// Where clients reach it: `tcp://host:port`.
    fn endpoint(&self) -> &str;

    /// The name its server certificate carries.
    fn server_name(&self) -> &str;

    /// The architectures it builds for.
    fn arches(&self) -> &[BuilderArch];

    /// How many builds it runs at once.
    fn concurrency(&self) -> usize;

    /// Checks, before a build is given this builder, that it can be used now; the error says
    /// what is wrong and what to do.
    fn ready(&self) -> BoxFuture<'_, Result<(), String>>;

    /// `build_id` now holds this builder and connects with the client certificate
    /// `certificate`.
    fn admit(&self, build_id: &str, certificate: Fingerprint);

    /// `build_id` no longer holds this builder: refuse its certificate and close its
    /// connections.
    fn evict(&self, build_id: &str);

    /// Who it belongs to; `None`: every project may use it.
    fn tenant(&self) -> Option<&Tenant> {
        None
    }

    /// Empties its build cache (all of it), as an isolated builder does between builds. Only
    /// called while no build holds it. Builders that cannot do this refuse to be isolated.
    fn reset(&self) -> BoxFuture<'_, Result<(), String>> {
        let problem = format!("{} cannot empty its build cache", self.endpoint());
        Box::pin(async move { Err(problem) })
    }
}

/// What a build is handed for `builder`: its endpoint and server name, the CA, and a client
/// certificate minted for the build alone (valid no longer than its token); with the
/// certificate's fingerprint, for the builder to admit.
fn hand_out(
    ca: &BuilderCa,
    builder: &dyn Builder,
    request: &BuilderRequest,
) -> Result<(ActiveBuilder, Fingerprint), BuilderError> {
    let certificate = ca
        .client_certificate(&request.build_id, request.expires_at)
        .map_err(|e| BuilderError::Unavailable(depot_core::ErrorChain(&e).to_string()))?;
    let answer = ActiveBuilder {
        endpoint: builder.endpoint().to_owned(),
        server_name: builder.server_name().to_owned(),
        client_cert: Some(certificate.pair),
        ca_cert_pem: Some(ca.cert_pem().to_owned()),
    };
    Ok((answer, certificate.fingerprint))
}

/// The error for a build released while its builder was being prepared.
fn released_meanwhile(request: &BuilderRequest) -> BuilderError {
    BuilderError::Unavailable(format!(
        "build {} was released while its builder was being prepared",
        request.build_id
    ))
}

/// Why a builder could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The builder CA failed.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// The builder's port could not be opened.
    #[error("cannot listen on {address} for builder connections")]
    Listen {
        /// The address.
        address: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The builder's TLS settings could not be made.
    #[error("cannot set up builder TLS: {0}")]
    Tls(String),
    /// A builder's description is not valid.
    #[error("invalid builder {spec:?}: {reason}")]
    Spec {
        /// The description.
        spec: String,
        /// What is wrong.
        reason: String,
    },
}
