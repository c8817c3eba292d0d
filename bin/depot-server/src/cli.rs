//! Command-line arguments.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use depot_oidc::server::{TrustedIssuer, VerifierConfig};

/// Self-hosted, Depot-compatible remote container build platform.
///
/// Without a subcommand, serves Depot's API. Point the `depot` CLI (ours or the official one) at
/// it with DEPOT_API_URL=http://<listen address>.
#[derive(Parser, Debug)]
#[command(name = "depot-server", version, args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(subcommand)]
    pub command: Option<TopCommand>,
}

/// Every subcommand: the admin commands on the database, and the builder CA.
#[derive(Subcommand, Debug)]
pub enum TopCommand {
    /// Admin commands on the database.
    #[command(flatten)]
    Admin(Command),
    /// The builder CA (`<data-dir>/builder-ca`): create it if needed and print the path of its
    /// certificate, or mint a server certificate for a standalone buildkitd.
    BuilderCa(BuilderCaArgs),
}

/// `builder-ca …`
#[derive(ClapArgs, Debug)]
pub struct BuilderCaArgs {
    /// What to do (default: print the CA certificate's path).
    #[command(subcommand)]
    pub command: Option<BuilderCaCommand>,
}

/// `builder-ca` subcommands.
#[derive(Subcommand, Debug)]
pub enum BuilderCaCommand {
    /// Mint a server certificate and key for a standalone buildkitd used with
    /// --remote-builder, and print how to start it.
    ServerCert {
        /// The name clients verify (a DNS name or IP address), given to --remote-builder as
        /// `server_name=` unless it is the builder's host.
        #[arg(long)]
        server_name: String,
        /// Directory to write `cert.pem` and `key.pem` to.
        #[arg(long)]
        out: PathBuf,
        /// How long the certificate is valid.
        #[arg(long, default_value = "365d", value_parser = humantime::parse_duration)]
        valid_for: Duration,
    },
}

/// Where state lives.
#[derive(ClapArgs, Debug, Clone)]
pub struct StoreArgs {
    /// Directory for the embedded SQLite database and the registry's blobs.
    #[arg(long, env = "DEPOT_SERVER_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database: a `postgres://` URL, a `sqlite:` URL or a file path. Default:
    /// `<data-dir>/depot.db`.
    #[arg(long, env = "DEPOT_SERVER_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// The data directory: `--data-dir`, else `$XDG_DATA_HOME/depot-server`, else
    /// `~/.local/share/depot-server`, else `./depot-data`.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.data_dir {
            return dir.clone();
        }
        let base = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".local/share"))
            });
        match base {
            Some(base) => base.join("depot-server"),
            None => PathBuf::from("depot-data"),
        }
    }

    /// Where the registry's filesystem blob store lives: `<data-dir>/registry`.
    pub fn registry_dir(&self) -> PathBuf {
        self.data_dir().join("registry")
    }

    /// The database URL or path.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| self.data_dir().join("depot.db").display().to_string())
    }
}

/// How the API is served.
#[derive(ClapArgs, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, env = "DEPOT_SERVER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// URL clients use to reach this server (login approve links are built from it).
    /// Default: derived from the listen address.
    #[arg(long, env = "DEPOT_SERVER_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Serve the registry (`/v2/` and its token endpoint) on this address of its own instead
    /// of on --listen (port 0 picks a free port; the address is printed).
    #[arg(long, env = "DEPOT_SERVER_REGISTRY_LISTEN")]
    pub registry_listen: Option<SocketAddr>,
    /// `host[:port]` of the registry saved builds are pushed to and pulled from.
    /// Default: the registry's own address with --registry-listen, else the public URL's host
    /// and port.
    #[arg(long, env = "DEPOT_SERVER_REGISTRY_HOST")]
    pub registry_host: Option<String>,
    /// PEM certificate chain: serve HTTPS (h2 and HTTP/1.1 via ALPN). Needs --tls-key.
    #[arg(long, env = "DEPOT_SERVER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "DEPOT_SERVER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Lifetime of pull tokens handed out by GetPullToken.
    #[arg(long, env = "DEPOT_SERVER_PULL_TOKEN_TTL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub pull_token_ttl: Duration,
    /// A running build whose client has not reported health for this long is failed and its
    /// builder released (clients report every 5 s).
    #[arg(long, env = "DEPOT_SERVER_BUILD_HEALTH_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub build_health_timeout: Duration,
    /// Bytes of step logs kept per build (what steps print beyond it is dropped, and the log
    /// says so).
    #[arg(long, env = "DEPOT_SERVER_BUILD_LOG_LIMIT", default_value_t = depot_control::ControlPlaneConfig::DEFAULT_BUILD_LOG_LIMIT)]
    pub build_log_limit: u64,
    /// How long a build's step logs are kept after it finished.
    #[arg(long, env = "DEPOT_SERVER_BUILD_LOG_RETENTION", default_value = "30d", value_parser = humantime::parse_duration)]
    pub build_log_retention: Duration,
    /// Where the registry keeps blobs: `fs` (under `<data-dir>/registry/blobs`) or
    /// `s3://<bucket>[/<prefix>]` (credentials, region and endpoint from AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP). Uploads are staged
    /// under `<data-dir>/registry/uploads` either way.
    #[arg(long, env = "DEPOT_SERVER_REGISTRY_STORAGE", default_value = "fs")]
    pub registry_storage: depot_registry::server::BlobBackend,
    /// Time between registry garbage collections (`0s` turns collection off).
    #[arg(long, env = "DEPOT_SERVER_REGISTRY_GC_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub registry_gc_interval: Duration,
    /// Unreferenced registry blobs younger than this are kept (pushes in flight).
    #[arg(long, env = "DEPOT_SERVER_REGISTRY_GC_GRACE", default_value = "1h", value_parser = humantime::parse_duration)]
    pub registry_gc_grace: Duration,
    /// Registry upload sessions untouched for this long are removed (a client resuming a chunked
    /// upload must do so within it).
    #[arg(long, env = "DEPOT_SERVER_REGISTRY_UPLOAD_TTL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub registry_upload_ttl: Duration,
    /// Bytes one project may hold in unfinished registry uploads at once.
    #[arg(long, env = "DEPOT_SERVER_REGISTRY_UPLOAD_QUOTA", default_value_t = depot_registry::server::StagingLimits::default().bytes_per_project)]
    pub registry_upload_quota: u64,
    /// Unfinished registry upload sessions one project may have open at once.
    #[arg(long, env = "DEPOT_SERVER_REGISTRY_UPLOAD_SESSIONS", default_value_t = depot_registry::server::StagingLimits::default().sessions_per_project)]
    pub registry_upload_sessions: usize,
    /// The largest blob the registry accepts; an upload declaring more is refused before its
    /// body is read.
    #[arg(long, env = "DEPOT_SERVER_MAX_BLOB_BYTES", default_value_t = depot_registry::server::RegistryConfig::DEFAULT_MAX_BLOB_BYTES)]
    pub max_blob_bytes: u64,
    /// How long a registry bearer token minted by `/auth/token` lives (clients ask for a new
    /// one when it runs out).
    #[arg(long, env = "DEPOT_SERVER_REGISTRY_TOKEN_TTL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub registry_token_ttl: Duration,
    /// How long a client has to send a request's headers (and the first bytes of a connection,
    /// and the next request on a kept-alive one) before it is disconnected.
    #[arg(long, env = "DEPOT_SERVER_HEADER_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,
    /// How long a request body may go without sending anything before the request fails (a
    /// stalled upload's staged bytes are cut back to what was acknowledged).
    #[arg(long, env = "DEPOT_SERVER_BODY_READ_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub body_read_timeout: Duration,
    /// Connections served at once per listener; further ones are closed when accepted.
    #[arg(long, env = "DEPOT_SERVER_MAX_CONNECTIONS", default_value = "4096")]
    pub max_connections: usize,
    /// Connections served at once per listener from one client address.
    #[arg(
        long,
        env = "DEPOT_SERVER_MAX_CONNECTIONS_PER_CLIENT",
        default_value = "512"
    )]
    pub max_connections_per_client: usize,
    /// Builders.
    #[command(flatten)]
    pub builders: BuilderArgs,
    /// CI identity (OIDC).
    #[command(flatten)]
    pub oidc: OidcArgs,
    /// Print the resolved configuration as JSON and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// Which CI jobs' OIDC tokens are accepted in place of API tokens.
#[derive(ClapArgs, Debug, Clone)]
pub struct OidcArgs {
    /// Trust CI tokens from this issuer: `PROVIDER=URL`, with PROVIDER one of github, gitlab,
    /// circleci, buildkite (it says which claims trust policies match), and a URL ending in `*`
    /// trusting every issuer under it. Repeat (or separate with commas) for several.
    /// Default: the public issuers of GitHub Actions, GitLab.com, CircleCI and Buildkite.
    #[arg(long = "oidc-issuer", env = "DEPOT_SERVER_OIDC_ISSUERS", value_delimiter = ',', value_parser = TrustedIssuer::parse)]
    pub oidc_issuers: Vec<TrustedIssuer>,
    /// Accept no CI tokens at all.
    #[arg(long, conflicts_with = "oidc_issuers")]
    pub no_oidc: bool,
    /// The audience (`aud`) CI tokens must be issued for; Depot's CLI asks for its default.
    #[arg(long, env = "DEPOT_SERVER_OIDC_AUDIENCE", default_value = depot_oidc::DEFAULT_AUDIENCE)]
    pub oidc_audience: String,
    /// Longest lifetime of a project token exchanged for a CI token (it never outlives the CI
    /// token either).
    #[arg(long, env = "DEPOT_SERVER_OIDC_TOKEN_TTL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub oidc_token_ttl: Duration,
}

impl OidcArgs {
    /// The verifier settings, or `None` with --no-oidc.
    pub fn verifier_config(&self) -> Option<VerifierConfig> {
        if self.no_oidc {
            return None;
        }
        let issuers = if self.oidc_issuers.is_empty() {
            TrustedIssuer::public_defaults()
        } else {
            self.oidc_issuers.clone()
        };
        Some(VerifierConfig::new(issuers, self.oidc_audience.clone()))
    }
}

/// An architecture `--builder-test-arch` names.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestArch {
    /// `linux/amd64`.
    Amd64,
    /// `linux/arm64`.
    Arm64,
}

impl From<TestArch> for depot_control::builders::BuilderArch {
    fn from(arch: TestArch) -> Self {
        match arch {
            TestArch::Amd64 => Self::Amd64,
            TestArch::Arm64 => Self::Arm64,
        }
    }
}

/// The embedded builders.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalBuilderKind {
    /// A builder per project: a Docker Engine that depot-server starts for each project (and
    /// stops when idle), with the project's own persistent cache. Needs root.
    Engines,
    /// One builder shared by every project: the Docker Engine at --docker-host, offered on
    /// --builder-listen. For a single team: projects share its cache, and cache resets are
    /// refused.
    Local,
    /// No embedded builder (only --remote-builder ones).
    None,
}

/// Which builders builds run on.
#[derive(ClapArgs, Debug, Clone)]
pub struct BuilderArgs {
    /// The embedded builders: `engines` (a Docker Engine per project, started on demand),
    /// `local` (the Docker Engine at --docker-host, shared by every project) or `none`.
    #[arg(
        long,
        env = "DEPOT_SERVER_BUILDER",
        value_enum,
        default_value = "engines"
    )]
    pub builder: LocalBuilderKind,
    /// The dockerd that per-project builders run (Docker Engine 26+).
    #[arg(long, env = "DEPOT_SERVER_DOCKERD", default_value = "dockerd")]
    pub dockerd: PathBuf,
    /// How long a per-project builder with no build keeps running (its cache stays on disk).
    #[arg(long, env = "DEPOT_SERVER_BUILDER_IDLE_TIMEOUT", default_value = "10m", value_parser = humantime::parse_duration)]
    pub builder_idle_timeout: Duration,
    /// How many per-project builders run at once; to start another, the least recently used
    /// idle one is stopped, and builds wait when none is idle.
    #[arg(long, env = "DEPOT_SERVER_MAX_BUILDERS", default_value = "8", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub max_builders: u16,
    /// How many per-project builders (per architecture) a project may have unless it says
    /// (`depot projects builders`): when all of them run --builder-concurrency builds, the
    /// next build starts another.
    #[arg(long, env = "DEPOT_SERVER_BUILDERS_PER_PROJECT", default_value = "2", value_parser = clap::value_parser!(u16).range(1..=16))]
    pub builders_per_project: u16,
    /// For testing only, on single-architecture hosts: per-project builders for these
    /// architectures too (`arm64` on an amd64 host), which are really this host's engines. They
    /// build what needs no emulation (COPY-only stages, cross-compiling Dockerfiles) and nothing
    /// else; real deployments use `--remote-builder …,arch=` or hosts of that architecture.
    #[arg(
        long = "builder-test-arch",
        env = "DEPOT_SERVER_BUILDER_TEST_ARCHES",
        value_delimiter = ',',
        value_enum
    )]
    pub builder_test_arches: Vec<TestArch>,
    /// Refuse builds for an architecture no builder here has, instead of running those
    /// platforms on a builder of this host's architecture (which builds only what needs no
    /// emulation: COPY-only stages, cross-compiling Dockerfiles).
    #[arg(long, env = "DEPOT_SERVER_STRICT_BUILDER_ARCH")]
    pub strict_builder_arch: bool,
    /// Where per-project builders' run directories and locks live; shared by every
    /// depot-server on the host.
    #[arg(
        long,
        env = "DEPOT_SERVER_BUILDER_RUN_DIR",
        default_value = "/run/depot-rs/engines"
    )]
    pub builder_run_dir: PathBuf,
    /// The Docker Engine of the local builder (Docker Engine 26+ with the containerd image
    /// store).
    #[arg(
        long,
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock"
    )]
    pub docker_host: String,
    /// Address the local builder listens on for builds' mTLS connections (port 0 picks a free
    /// port; the endpoint is printed).
    #[arg(
        long,
        env = "DEPOT_SERVER_BUILDER_LISTEN",
        default_value = "127.0.0.1:0"
    )]
    pub builder_listen: SocketAddr,
    /// Host builds are told to connect to the local builder at. Default: the listen address
    /// (127.0.0.1 when it is unspecified).
    #[arg(long, env = "DEPOT_SERVER_BUILDER_HOST")]
    pub builder_host: Option<String>,
    /// The name the local builder's certificate carries (TLS server name).
    #[arg(long, env = "DEPOT_SERVER_BUILDER_SERVER_NAME", default_value = depot_build::server::DEFAULT_SERVER_NAME)]
    pub builder_server_name: String,
    /// How many builds a builder runs at once (a project's builders unless the project says,
    /// the shared local one, and remote ones that do not say).
    #[arg(long, env = "DEPOT_SERVER_BUILDER_CONCURRENCY", default_value = "4", value_parser = clap::value_parser!(u16).range(1..))]
    pub builder_concurrency: u16,
    /// A standalone buildkitd builder (repeatable):
    /// `tcp://host:port[?arch=amd64|arm64][&server_name=name][&concurrency=n][&project=id|&org=id]`.
    /// `project=`/`org=` assign it to one project or organization: no other tenant's build runs
    /// on it. It must trust the builder CA; see `depot-server builder-ca server-cert`.
    #[arg(
        long = "remote-builder",
        env = "DEPOT_SERVER_REMOTE_BUILDERS",
        value_delimiter = ','
    )]
    pub remote_builders: Vec<depot_build::server::RemoteBuilderSpec>,
    /// Let remote builders assigned to no project or organization run every tenant's builds
    /// (their caches are then shared across tenants). Without it, such builders are refused.
    #[arg(long, env = "DEPOT_SERVER_SHARE_REMOTE_BUILDERS")]
    pub share_remote_builders: bool,
    /// A second Docker Engine (its own data root, so its own BuildKit cache) for isolated
    /// builds: those of pull requests from forks, started with their CI token. It runs one
    /// build at a time, and its build cache is emptied after each. Without it, such builds are
    /// refused. Offered on --builder-listen's address, on a free port.
    #[arg(
        long,
        env = "DEPOT_SERVER_ISOLATED_DOCKER_HOST",
        value_name = "DOCKER_HOST"
    )]
    pub isolated_docker_host: Option<String>,
}

/// Output format of admin commands.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Human-readable lines.
    Text,
    /// One JSON document.
    Json,
}

/// Admin commands; they act on the database directly.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Users.
    #[command(subcommand)]
    User(UserCommand),
    /// Projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// API tokens (secrets are shown once, when created).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Device logins started by `depot login`.
    #[command(subcommand)]
    Login(LoginCommand),
    /// Builds: their steps, and canceling a running one.
    #[command(subcommand)]
    Build(BuildCommand),
    /// The per-project builders of this data directory.
    #[command(subcommand)]
    Builders(BuildersCommand),
    /// Create an organization, a user in it, a project and a user token, and print them:
    /// everything a fresh install needs to be used.
    Bootstrap {
        /// Organization name.
        #[arg(long, default_value = "default")]
        org: String,
        /// User name (must be new).
        #[arg(long, default_value = "admin")]
        user: String,
        /// Project name.
        #[arg(long, default_value = "default")]
        project: String,
        /// Output format.
        #[arg(long, short, value_enum, default_value = "text")]
        output: Output,
    },
    /// Check the database and print what it holds.
    Status {
        /// Output format.
        #[arg(long, short, value_enum, default_value = "text")]
        output: Output,
    },
}

/// `org …`
#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// Create an organization.
    Create {
        /// Name.
        name: String,
        /// Output format.
        #[arg(long, short, value_enum, default_value = "text")]
        output: Output,
    },
    /// List organizations.
    List {
        /// Output format.
        #[arg(long, short, value_enum, default_value = "text")]
        output: Output,
    },
}

/// `user …`
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user, optionally as a member of organizations.
    Create {
        /// Unique name.
        name: String,
        /// Organization ids to join (repeatable).
        #[arg(long = "org")]
        orgs: Vec<String>,
        /// Output format.
        #[arg(long, short, value_enum, default_value = "text")]
        output: Output,
    },
    /// Add an existing user to an organization.
    Join {
        /// User id or name.
        user: String,
        /// Organization id.
        #[arg(long)]
        org: String,
    },
    /// List users.
    List {
        /// Output format.
        #[arg(long, short, value_enum, default_value = "text")]
        output: Output,
    },
}

/// `project …`
#[derive(Subcommand, Debug)]
pub enum ProjectCommand {
    /// Create a project.
    Create {
        /// Name.
        name: String,
        /// Owning organization id.
        #[arg(long)]
        org: String,
        /// Region label.
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// Output format.
        #[arg(long, short, value_enum, default_value = "text")]
        output: Output,
    },
    /// List projects.
    List {
        /// Output format.
        #[arg(long, short, value_enum, default_value = "text")]
        output: Output,
    },
}

/// `token …`
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print its secret (shown only now).
    #[command(group(clap::ArgGroup::new("scope").required(true)))]
    Create {
        /// A user token for this user (id or name).
        #[arg(long, group = "scope")]
        user: Option<String>,
        /// An organization token for this organization id.
        #[arg(long, group = "scope")]
        org: Option<String>,
        /// A project token for this project id.
        #[arg(long, group = "scope")]
        project: Option<String>,
        /// Free-text description shown by `token list`.
        #[arg(long, default_value = "")]
        description: String,
        /// Lifetime, e.g. `30d` (default: no expiry).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
        /// Output format.
        #[arg(long, short, value_enum, default_value = "text")]
        output: Output,
    },
    /// List tokens (never their secrets).
    List {
        /// Output format.
        #[arg(long, short, value_enum, default_value = "text")]
        output: Output,
    },
    /// Revoke a token by id; requests using it then get `unauthenticated`.
    Revoke {
        /// Token id (from `token list` or `token create`).
        id: String,
    },
}

/// `login …`
#[derive(Subcommand, Debug)]
pub enum LoginCommand {
    /// Approve a pending `depot login`, which then receives a new token for the user.
    Approve {
        /// The login id: the last part of the approve URL the CLI printed.
        id: String,
        /// The user to log in as (id or name).
        #[arg(long)]
        user: String,
    },
}

/// `builders …`
#[derive(Subcommand, Debug)]
pub enum BuildersCommand {
    /// List the per-project builders: project, architecture, state (running or stopped), the
    /// cache it held after its last build, running builds, last use.
    List {
        /// Output format.
        #[arg(long, short, value_enum, default_value = "text")]
        output: Output,
    },
}

/// `build …`
#[derive(Subcommand, Debug)]
pub enum BuildCommand {
    /// Show a build: status, error and the steps its client reported.
    Show {
        /// Build id.
        id: String,
        /// Output format.
        #[arg(long, short, value_enum, default_value = "text")]
        output: Output,
    },
    /// Ask a running build to stop: its client is told on its next health report (within
    /// seconds) and cancels; a client that does not stop is cut off after the health timeout.
    Cancel {
        /// Build id.
        id: String,
    },
}
