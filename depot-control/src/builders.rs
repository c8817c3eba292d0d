//! Builder provisioning as the control plane sees it: something that hands a running build a
//! BuildKit connection (`GetBuildKitConnection`) and takes it back when the build ends.
//!
//! The control plane owns the build's lifecycle (rows, health, timeouts, cancellation); a
//! [`BuilderProvider`] owns the builders. depot-build's builder pool is the provider
//! depot-server wires in.

use std::fmt::Debug;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use depot_core::proto::moby::buildkit::v1::StatusResponse;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

/// The CPU architecture a build asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BuilderArch {
    /// `linux/amd64`.
    Amd64,
    /// `linux/arm64`.
    Arm64,
}

impl BuilderArch {
    /// The architecture's name (`amd64`, `arm64`).
    pub fn as_str(self) -> &'static str {
        match self {
            BuilderArch::Amd64 => "amd64",
            BuilderArch::Arm64 => "arm64",
        }
    }

    /// The architecture of the machine this runs on, if it is one builders exist for.
    pub fn host() -> Option<Self> {
        match std::env::consts::ARCH {
            "x86_64" => Some(BuilderArch::Amd64),
            "aarch64" => Some(BuilderArch::Arm64),
            _ => None,
        }
    }
}

/// Who a builder belongs to: one project, or every project of one organization. A builder with
/// no tenant is shared by every project (which an operator must allow explicitly).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Tenant {
    /// One project, by ID.
    Project(String),
    /// Every project of one organization, by ID.
    Organization(String),
}

impl Tenant {
    /// Whether `request`'s build may run on a builder of this tenant.
    pub fn admits(&self, request: &BuilderRequest) -> bool {
        match self {
            Tenant::Project(project) => *project == request.project_id,
            Tenant::Organization(org) => *org == request.org_id,
        }
    }
}

impl std::fmt::Display for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tenant::Project(id) => write!(f, "project={id}"),
            Tenant::Organization(id) => write!(f, "org={id}"),
        }
    }
}

/// A project's cache policy, which its builders apply after each build.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CachePolicy {
    /// The cache is pruned (least recently used first) to at most this many bytes; 0: no limit.
    pub keep_bytes: u64,
    /// Cache not used for this many days is pruned; 0: no limit.
    pub keep_days: u32,
}

/// What one of a project's builders caches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheUsage {
    /// The builder's architecture.
    pub arch: BuilderArch,
    /// Bytes its cache holds.
    pub bytes: u64,
    /// Cache records.
    pub entries: u64,
    /// When a build last used it.
    pub last_used: Option<SystemTime>,
    /// `running`, `starting`, `stopping` or `stopped`.
    pub state: &'static str,
    /// Builds running on it now.
    pub running_builds: usize,
    /// 0 for the project's main builder of the architecture, 1… for those started when it was
    /// busy.
    pub index: u16,
}

/// A running build asking for a builder.
#[derive(Clone, Debug)]
pub struct BuilderRequest {
    /// The build.
    pub build_id: String,
    /// Its project (builds of one project share a builder's cache).
    pub project_id: String,
    /// The project's organization.
    pub org_id: String,
    /// The architecture asked for.
    pub arch: BuilderArch,
    /// When the build's token expires; nothing minted for the build outlives it.
    pub expires_at: SystemTime,
    /// The build is isolated (a fork's pull request): it must get a builder whose cache no
    /// other build shares, emptied before anything else builds there.
    pub isolated: bool,
    /// The project's cache policy.
    pub cache_policy: CachePolicy,
    /// Builds one of the project's builders runs at once.
    pub builds_per_builder: usize,
    /// Builders the project may have per architecture.
    pub max_builders: usize,
}

/// The answer to a [`BuilderRequest`].
#[derive(Clone, Debug)]
pub enum BuilderConnection {
    /// No builder is free yet: ask again after this long.
    Pending {
        /// How long the client should wait before asking again.
        retry_after: Duration,
    },
    /// A builder is ready for this build.
    Active(ActiveBuilder),
}

/// How a build reaches its builder.
#[derive(Clone)]
pub struct ActiveBuilder {
    /// `tcp://host:port`.
    pub endpoint: String,
    /// The name the builder's certificate carries (TLS SNI and verification).
    pub server_name: String,
    /// The client certificate minted for this build; `None` for a plaintext builder.
    pub client_cert: Option<CertificatePair>,
    /// PEM CA certificate that signed the builder's certificate.
    pub ca_cert_pem: Option<String>,
}

impl Debug for ActiveBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveBuilder")
            .field("endpoint", &self.endpoint)
            .field("server_name", &self.server_name)
            .field("mtls", &self.client_cert.is_some())
            .finish_non_exhaustive()
    }
}

/// A PEM certificate and its PEM private key.
#[derive(Clone)]
pub struct CertificatePair {
    /// The certificate (chain), PEM.
    pub cert_pem: String,
    /// Its private key, PEM.
    pub key_pem: String,
}

/// Why no builder could be handed out.
#[derive(Debug, thiserror::Error)]
pub enum BuilderError {
    /// No configured builder can ever run this request (e.g. no arm64 builders).
    #[error("{0}")]
    Unsupported(String),
    /// The builders cannot be used right now (the engine is down, a certificate cannot be
    /// minted).
    #[error("{0}")]
    Unavailable(String),
}

/// Hands out builders to running builds. Implementations must be safe to call again for a
/// build that already holds a builder (the client retries): the same builder is returned.
pub trait BuilderProvider: Send + Sync + Debug + 'static {
    /// A builder for `request`, or how long to wait for one.
    fn connect(
        &self,
        request: BuilderRequest,
    ) -> BoxFuture<'_, Result<BuilderConnection, BuilderError>>;

    /// The build has ended (finished, failed with `failure`, canceled or timed out): free its
    /// builder and refuse its certificate from now on, closing connections still open.
    /// Releasing a build that holds nothing does nothing.
    fn release(&self, build_id: &str, failure: Option<&str>) -> BoxFuture<'_, ()>;

    /// Empties `project_id`'s build cache, so that its next build starts from nothing (builds
    /// running now may finish first). A provider whose builders several projects share cannot,
    /// and says so.
    fn reset_cache(&self, project_id: &str) -> BoxFuture<'_, Result<(), BuilderError>>;

    /// What `project_id`'s builders cache, one entry per builder (none before its first
    /// build). A provider whose builders several projects share cannot say, and says so.
    fn cache_usage(&self, project_id: &str)
    -> BoxFuture<'_, Result<Vec<CacheUsage>, BuilderError>>;
}

/// Takes the status of builds' solves as the builder sees them (BuildKit's own status stream
/// of each solve), whatever the client: the official CLI reports only its own steps, so the
/// server watches what runs on its builders.
pub trait SolveObserver: Send + Sync + Debug + 'static {
    /// The statuses of one solve of `build_id`, until it ends; the future consumes them.
    fn observe(
        &self,
        build_id: String,
        statuses: BoxStream<'static, StatusResponse>,
    ) -> BoxFuture<'static, ()>;
}

/// Where builders send solve statuses: a slot the control plane fills once it exists (the
/// builders start first). Cheap to clone; empty, it observes nothing.
#[derive(Clone, Debug, Default)]
pub struct StatusTap(Arc<OnceLock<Arc<dyn SolveObserver>>>);

impl StatusTap {
    /// Sends every later solve's statuses to `observer` (the first observer set stays).
    pub fn connect(&self, observer: Arc<dyn SolveObserver>) {
        let _ = self.0.set(observer);
    }

    /// The observer, once connected.
    pub fn observer(&self) -> Option<&Arc<dyn SolveObserver>> {
        self.0.get()
    }
}

/// `failed_precondition` for what no builder here can do, `unavailable` for what cannot be
/// done right now.
impl From<BuilderError> for depot_core::connect::ConnectError {
    fn from(err: BuilderError) -> Self {
        use depot_core::connect::{Code, ConnectError};
        match err {
            BuilderError::Unsupported(message) => ConnectError::failed_precondition(message),
            BuilderError::Unavailable(message) => ConnectError::new(Code::Unavailable, message),
        }
    }
}
