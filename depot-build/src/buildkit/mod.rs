//! A BuildKit client: [`transport`] reaches the daemon; [`BuildKit`] talks to its control API
//! and knows, from [`Capabilities`], what the daemon can do; [`session`] serves the daemon
//! what a build needs from this side (files, credentials, secrets, outputs); [`build`] runs
//! Dockerfile builds and streams their events.

pub mod build;
pub mod capabilities;
pub mod session;
pub mod transport;

use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use tonic::transport::Channel;

pub use build::{
    Build, BuildFailure, BuildOptions, BuildResult, CacheSpec, Descriptor, ExporterResponse,
    Output, OutputSpec,
};
pub use capabilities::{Capabilities, DaemonKind, Exporter};
pub use session::TarDestination;
pub use transport::{ByteStream, Endpoint, TlsSettings};

/// Largest gRPC message sent or accepted, like buildx (16 MiB).
pub const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// A BuildKit failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The endpoint text is not one we understand.
    #[error("invalid BuildKit endpoint {endpoint:?}: {reason}")]
    Endpoint {
        /// The text.
        endpoint: String,
        /// What is wrong.
        reason: String,
    },
    /// The mTLS settings cannot be used.
    #[error("cannot set up TLS for {endpoint}: {reason}")]
    Tls {
        /// The endpoint.
        endpoint: String,
        /// What is wrong.
        reason: String,
    },
    /// The daemon could not be reached.
    #[error("cannot reach BuildKit at {endpoint}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The daemon answered a call with an error.
    #[error("BuildKit {call} failed: {}", .status.message())]
    Call {
        /// The call (`ListWorkers`, `Solve`, …).
        call: &'static str,
        /// The gRPC status.
        #[source]
        status: Box<tonic::Status>,
    },
    /// The daemon cannot do what was asked.
    #[error("{0}")]
    Unsupported(String),
    /// The build's options are not usable (missing context, bad flag values).
    #[error("{0}")]
    InvalidOptions(String),
    /// The build ran and failed (or was cancelled).
    #[error("build failed: {0}")]
    Build(Box<BuildFailure>),
}

/// A connection to one BuildKit daemon. Cheap to clone; clones share the connection and what
/// the daemon said it can do.
#[derive(Clone, Debug)]
pub struct BuildKit {
    endpoint: Endpoint,
    control: ControlClient<Channel>,
    capabilities: std::sync::Arc<tokio::sync::OnceCell<Capabilities>>,
}

impl BuildKit {
    /// Connects to the daemon at `endpoint`.
    pub async fn connect(endpoint: Endpoint) -> Result<Self, Error> {
        let channel = endpoint.connect().await?;
        let control = ControlClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE);
        Ok(Self {
            endpoint,
            control,
            capabilities: Default::default(),
        })
    }

    /// Where the daemon is.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The control API client (16 MiB message limits).
    pub fn control(&self) -> ControlClient<Channel> {
        self.control.clone()
    }

    /// What the daemon is and what it can do: asked once per connection (each build checks
    /// its exporters against it; several builds on one connection, a bake's, ask once).
    pub async fn capabilities(&self) -> Result<Capabilities, Error> {
        self.capabilities
            .get_or_try_init(|| capabilities::probe(self))
            .await
            .cloned()
    }
}

/// A failed call's error.
pub(crate) fn call_error(call: &'static str) -> impl FnOnce(tonic::Status) -> Error {
    move |status| Error::Call {
        call,
        status: Box::new(status),
    }
}
