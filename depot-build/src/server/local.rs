//! The embedded builder: the local Docker Engine's BuildKit, offered on a TCP port with mTLS.
//!
//! Each connection presents a client certificate minted by the builder CA for a build that
//! currently holds this builder (anything else fails the handshake). It is then bridged to the
//! Engine's BuildKit: a fresh `POST /grpc` h2c upgrade per connection, with HTTP/2 requests
//! forwarded until either side closes or the build is evicted; solves are watched on the way
//! ([`super::solve_tap`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bollard_buildkit_proto::moby::buildkit::v1::PruneRequest;
use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use depot_control::builders::{BuilderArch, StatusTap};
use depot_control::http::{ConnectionGate, ConnectionLimits};
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::admission::{Admissions, AdmittedClients};
use super::solve_tap;
use super::{Builder, BuilderCa, Fingerprint, SetupError};
use crate::buildkit::Endpoint;

/// How long the builder's server certificate is valid (it is minted at every start).
const SERVER_CERT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// How long the readiness check waits for the Engine's socket.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of a [`LocalBuilder`].
#[derive(Clone, Debug)]
pub struct LocalBuilderConfig {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Host clients are told to connect to; default: the listen address (127.0.0.1 when it
    /// is unspecified).
    pub advertise_host: Option<String>,
    /// The name the server certificate carries.
    pub server_name: String,
    /// The Docker Engine's socket.
    pub docker_socket: PathBuf,
    /// How many builds run at once.
    pub concurrency: usize,
    /// Connections the bridge serves at once (overall and per client), and how long a client
    /// has for its TLS handshake.
    pub connection_limits: ConnectionLimits,
    /// Where the status of every solve on this builder is sent (see [`super::solve_tap`]).
    pub status_tap: StatusTap,
}

/// The local Docker Engine's BuildKit behind an mTLS listener. Stops listening when dropped.
#[derive(Debug)]
pub struct LocalBuilder {
    endpoint: String,
    server_name: String,
    arches: Vec<BuilderArch>,
    concurrency: usize,
    docker_socket: PathBuf,
    local_addr: SocketAddr,
    admissions: Arc<Admissions>,
    accept: JoinHandle<()>,
}

impl LocalBuilder {
    /// Binds the listener and starts accepting connections, with a server certificate for
    /// `config.server_name` from `ca`. The Engine is not contacted until a build connects.
    pub async fn start(ca: &BuilderCa, config: LocalBuilderConfig) -> Result<Self, SetupError> {
        let admissions = Arc::new(Admissions::default());
        let acceptor = tls_acceptor(ca, &config.server_name, admissions.clone())?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| SetupError::Listen {
                    address: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| SetupError::Listen {
            address: config.listen,
            source,
        })?;
        let host = config
            .advertise_host
            .clone()
            .unwrap_or_else(|| match local_addr.ip() {
                ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
                std::net::IpAddr::V4(ip) => ip.to_string(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            });
        let bridge = Bridge {
            acceptor,
            admissions: admissions.clone(),
            engine: Endpoint::Docker(config.docker_socket.clone()),
            gate: ConnectionGate::new(config.connection_limits.clone()),
            tap: config.status_tap.clone(),
        };
        Ok(Self {
            endpoint: format!("tcp://{host}:{}", local_addr.port()),
            server_name: config.server_name,
            arches: BuilderArch::host().into_iter().collect(),
            concurrency: config.concurrency,
            docker_socket: config.docker_socket,
            local_addr,
            admissions,
            accept: tokio::spawn(bridge.accept_loop(listener)),
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for LocalBuilder {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Builder for LocalBuilder {
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn server_name(&self) -> &str {
        &self.server_name
    }

    fn arches(&self) -> &[BuilderArch] {
        &self.arches
    }

    fn concurrency(&self) -> usize {
        self.concurrency
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), String>> {
        async move {
            let socket = &self.docker_socket;
            let reached =
                tokio::time::timeout(READY_TIMEOUT, tokio::net::UnixStream::connect(socket)).await;
            let problem = match reached {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(err)) => err.to_string(),
                Err(_) => "no answer".to_owned(),
            };
            Err(format!(
                "the local builder's Docker Engine at unix://{} cannot be reached ({problem}): \
                 start dockerd (Docker Engine 26 or newer with the containerd image store), or \
                 run depot-server with --builder none and --remote-builder",
                socket.display()
            ))
        }
        .boxed()
    }

    fn admit(&self, build_id: &str, certificate: Fingerprint) {
        self.admissions.admit(build_id, certificate);
    }

    fn evict(&self, build_id: &str) {
        self.admissions.evict(build_id);
    }

    fn reset(&self) -> BoxFuture<'_, Result<(), String>> {
        async move {
            let engine = Endpoint::Docker(self.docker_socket.clone());
            let channel = engine
                .connect()
                .await
                .map_err(|e| depot_core::ErrorChain(&e).to_string())?;
            let pruned = ControlClient::new(channel)
                .prune(PruneRequest {
                    all: true,
                    ..PruneRequest::default()
                })
                .await
                .map_err(|status| format!("BuildKit refused to prune: {}", status.message()))?;
            let mut records = pruned.into_inner();
            let mut removed = 0_usize;
            while records
                .message()
                .await
                .map_err(|status| format!("pruning failed: {}", status.message()))?
                .is_some()
            {
                removed += 1;
            }
            tracing::debug!(engine = %engine, removed, "emptied the build cache");
            Ok(())
        }
        .boxed()
    }
}

/// The server TLS settings: the CA-signed certificate for `server_name`, ALPN `h2`, and
/// client certificates required, from the CA and admitted.
fn tls_acceptor(
    ca: &BuilderCa,
    server_name: &str,
    admissions: Arc<Admissions>,
) -> Result<TlsAcceptor, SetupError> {
    let tls = |e: &dyn std::fmt::Display| SetupError::Tls(e.to_string());
    let certificate = ca.server_certificate(server_name, SERVER_CERT_VALIDITY)?;
    let key =
        PrivateKeyDer::from_pem_slice(certificate.pair.key_pem.as_bytes()).map_err(|e| tls(&e))?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der().clone()).map_err(|e| tls(&e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| tls(&e))?;
    let verifier = Arc::new(AdmittedClients::new(webpki, admissions));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![certificate.der], key)
        .map_err(|e| tls(&e))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts builder connections and relays them to the Engine.
struct Bridge {
    acceptor: TlsAcceptor,
    admissions: Arc<Admissions>,
    engine: Endpoint,
    /// Connections over the limits are closed as soon as they are accepted.
    gate: Arc<ConnectionGate>,
    /// Where the solves of admitted builds are reported.
    tap: StatusTap,
}

impl Bridge {
    async fn accept_loop(self, listener: TcpListener) {
        let bridge = Arc::new(self);
        loop {
            match listener.accept().await {
                Ok((tcp, peer)) => {
                    let Some(open) = bridge.gate.admit(peer.ip()) else {
                        continue;
                    };
                    let bridge = bridge.clone();
                    tokio::spawn(async move {
                        let _open = open;
                        if let Err(err) = bridge.serve(tcp).await {
                            tracing::debug!(%peer, "builder connection ended: {}", depot_core::ErrorChain(&err));
                        }
                    });
                }
                Err(err) => {
                    tracing::warn!("accepting a builder connection failed: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// One connection: the handshake (which checks admission), then the relay, until either
    /// side closes or the build is evicted.
    async fn serve(&self, tcp: TcpStream) -> std::io::Result<()> {
        tcp.set_nodelay(true)?;
        let handshake_timeout = self.gate.limits().header_timeout;
        let client = tokio::time::timeout(handshake_timeout, self.acceptor.accept(tcp))
            .await
            .map_err(|_| std::io::Error::other("the TLS handshake timed out"))??;
        let certificate = client
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|der| Fingerprint::of(der))
            .ok_or_else(|| std::io::Error::other("no client certificate"))?;
        let Some((build, closed)) = self.admissions.find(certificate) else {
            return Err(std::io::Error::other("the build was released"));
        };
        tracing::debug!(%build, "bridging a builder connection to the Docker Engine");
        solve_tap::proxy(client, &self.engine, build, self.tap.clone(), closed).await
    }
}
