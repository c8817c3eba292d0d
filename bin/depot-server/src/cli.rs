//! Command-line arguments.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};

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
    pub command: Option<Command>,
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
    /// Registry upload sessions untouched for this long are removed by garbage collection.
    #[arg(long, env = "DEPOT_SERVER_REGISTRY_UPLOAD_TTL", default_value = "24h", value_parser = humantime::parse_duration)]
    pub registry_upload_ttl: Duration,
    /// Print the resolved configuration as JSON and exit.
    #[arg(long)]
    pub print_config: bool,
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
