//! A BuildKit session: the services this client serves to the daemon during a build.
//!
//! The session is one HTTP/2 connection on which the daemon is the client and we are the
//! server. It travels inside the `Control.Session` stream of `BytesMessage`s, which works on
//! standalone buildkitd and on the Docker Engine alike. The daemon learns the session from
//! request metadata: its id (which the solve request names), a shared key (under which the
//! daemon keeps the previous copy of each local directory, so unchanged files are not sent
//! again), and the gRPC methods served.
//!
//! Services: health (always; the daemon drops sessions that fail it), FileSync (local
//! directories), FileSend (exporter output), Auth, Secrets and SSH when configured.

mod auth;
mod filesend;
mod filesync;
mod health;
mod raw;
mod secrets;
mod ssh;
mod tunnel;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use bollard_buildkit_proto::health::health_server::HealthServer;
use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::SecretsServer;
use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use bollard_buildkit_proto::moby::filesync::v1::auth_server::AuthServer;
use bollard_buildkit_proto::moby::filesync::v1::file_sync_server::FileSyncServer;
use bollard_buildkit_proto::moby::sshforward::v1::ssh_server::SshServer;
use tonic::transport::Channel;

pub use auth::{Credentials, CredentialsProvider, DockerConfigCredentials, StaticCredentials};
pub(crate) use filesend::OutputSink;
pub use filesend::TarDestination;
use filesync::LocalDir;
pub use secrets::{SecretSource, SecretSpec};
pub use ssh::{DEFAULT_SSH_ID, SshSpec};

use super::{Error, MAX_MESSAGE_SIZE};
use crate::fsutil::{TransferCounters, TransferStats};

/// What a session serves; [`Session::attach`] opens it on a daemon.
pub struct Session {
    id: String,
    shared_key: String,
    locals: HashMap<String, LocalDir>,
    credentials: Option<Arc<dyn CredentialsProvider>>,
    secrets: HashMap<String, SecretSource>,
    ssh: HashMap<String, PathBuf>,
    outputs: Vec<OutputSink>,
}

impl Session {
    /// A session with a fresh random id. `shared_key` should be stable for a given client and
    /// context so the daemon can send only what changed; see [`shared_key`].
    pub fn new(shared_key: impl Into<String>) -> Self {
        Session {
            id: random_id(),
            shared_key: shared_key.into(),
            locals: HashMap::new(),
            credentials: None,
            secrets: HashMap::new(),
            ssh: HashMap::new(),
            outputs: Vec::new(),
        }
    }

    /// The session id, which the solve request must name.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Serves `dir` as the local directory `name` (`context`, `dockerfile`, a named context).
    pub fn local(mut self, name: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        self.locals.insert(
            name.into(),
            LocalDir {
                path: dir.into(),
                counters: Arc::default(),
            },
        );
        self
    }

    /// Answers the daemon's registry credential requests from `provider`.
    pub fn credentials(mut self, provider: Arc<dyn CredentialsProvider>) -> Self {
        self.credentials = Some(provider);
        self
    }

    /// Offers a secret to `RUN --mount=type=secret`.
    pub fn secret(mut self, spec: SecretSpec) -> Self {
        self.secrets.insert(spec.id, spec.source);
        self
    }

    /// Forwards an SSH agent to `RUN --mount=type=ssh`.
    pub fn ssh(mut self, spec: SshSpec) -> Self {
        self.ssh.insert(spec.id, spec.socket);
        self
    }

    /// Sets where each exporter's output goes, by its index in the solve request.
    pub(crate) fn outputs(mut self, outputs: Vec<OutputSink>) -> Self {
        self.outputs = outputs;
        self
    }

    /// The gRPC methods this session serves, as advertised to the daemon.
    fn methods(&self) -> Vec<&'static str> {
        let mut methods = vec![
            "/grpc.health.v1.Health/Check",
            "/grpc.health.v1.Health/Watch",
        ];
        if !self.locals.is_empty() {
            methods.push("/moby.filesync.v1.FileSync/DiffCopy");
        }
        if self.outputs.iter().any(|o| !matches!(o, OutputSink::None)) {
            methods.push("/moby.filesync.v1.FileSend/DiffCopy");
        }
        if self.credentials.is_some() {
            methods.push("/moby.filesync.v1.Auth/Credentials");
        }
        if !self.secrets.is_empty() {
            methods.push("/moby.buildkit.secrets.v1.Secrets/GetSecret");
        }
        if !self.ssh.is_empty() {
            methods.push("/moby.sshforward.v1.SSH/CheckAgent");
            methods.push("/moby.sshforward.v1.SSH/ForwardAgent");
        }
        methods
    }

    /// Opens the session on the daemon through `Control.Session`. It stays up until the
    /// returned [`AttachedSession`] is closed or dropped.
    pub async fn attach(self, control: ControlClient<Channel>) -> Result<AttachedSession, Error> {
        let metadata = tunnel::Metadata {
            id: self.id.clone(),
            shared_key: self.shared_key.clone(),
            methods: self.methods(),
        };
        let transfers = self
            .locals
            .iter()
            .map(|(name, local)| (name.clone(), local.counters.clone()))
            .collect();
        let id = self.id.clone();
        let routes = self.routes();
        let tunnel = tunnel::open(control, metadata, routes).await?;
        Ok(AttachedSession {
            id,
            transfers,
            tunnel,
        })
    }

    fn routes(self) -> tonic::service::Routes {
        let mut routes = tonic::service::Routes::builder();
        routes.add_service(HealthServer::new(health::Health));
        if !self.locals.is_empty() {
            routes.add_service(
                FileSyncServer::new(filesync::FileSync {
                    locals: self.locals,
                })
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
            );
        }
        if !self.outputs.is_empty() {
            routes.add_service(filesend::FileSend {
                outputs: Arc::new(self.outputs),
            });
        }
        if let Some(provider) = self.credentials {
            routes.add_service(AuthServer::new(auth::Auth { provider }));
        }
        if !self.secrets.is_empty() {
            routes.add_service(SecretsServer::new(secrets::Secrets {
                specs: self.secrets,
            }));
        }
        if !self.ssh.is_empty() {
            routes.add_service(SshServer::new(ssh::Ssh { agents: self.ssh }));
        }
        routes.routes().prepare()
    }
}

/// An open session. Dropping it closes the session.
pub struct AttachedSession {
    id: String,
    transfers: BTreeMap<String, Arc<TransferCounters>>,
    tunnel: tunnel::Tunnel,
}

impl AttachedSession {
    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What each local directory has sent so far, by name.
    pub fn transfers(&self) -> BTreeMap<String, TransferStats> {
        self.transfers
            .iter()
            .map(|(name, counters)| (name.clone(), counters.snapshot()))
            .collect()
    }

    /// Closes the session.
    pub fn close(self) {
        drop(self.tunnel);
    }
}

/// A stable shared key for `context` as seen by `client`: the daemon keeps the last copy of a
/// local directory under it, so the next build from the same place sends only changes.
pub fn shared_key(context: &std::path::Path, client: &str) -> String {
    use sha2::{Digest, Sha256};
    let absolute = std::path::absolute(context).unwrap_or_else(|_| context.to_owned());
    let mut hash = Sha256::new();
    hash.update(client.as_bytes());
    hash.update([0]);
    hash.update(absolute.as_os_str().as_encoded_bytes());
    hex::encode(&hash.finalize()[..16])
}

/// The end of a response stream fed by `task`: nothing when it succeeds, its error otherwise.
fn outcome<T: Send + 'static>(
    task: tokio::task::JoinHandle<Result<(), crate::fsutil::Error>>,
    what: &'static str,
) -> futures_util::stream::BoxStream<'static, Result<T, tonic::Status>> {
    use futures_util::StreamExt;
    futures_util::stream::once(async move {
        match task.await {
            Ok(Ok(())) => None,
            Ok(Err(err)) => Some(Err(tonic::Status::internal(
                depot_core::ErrorChain(&err).to_string(),
            ))),
            Err(err) => Some(Err(tonic::Status::internal(format!(
                "{what} failed: {err}"
            )))),
        }
    })
    .filter_map(futures_util::future::ready)
    .boxed()
}

/// A random id of 25 base-36 characters, like BuildKit's own.
pub(crate) fn random_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..25)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
