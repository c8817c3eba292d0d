//! Reaching a BuildKit daemon: a standalone buildkitd over a unix socket or TCP (plain h2c or
//! mTLS), or the BuildKit inside a Docker Engine through its `POST /grpc` h2c upgrade.
//!
//! Every transport yields a tonic [`Channel`]; tonic calls the connector again whenever it
//! reconnects, so each connection is dialled (and, for Docker, upgraded) afresh.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tonic::transport::{Channel, Uri};

use super::Error;

/// The Docker Engine's default socket.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// buildkitd's default socket.
pub const BUILDKITD_SOCKET: &str = "/run/buildkit/buildkitd.sock";

/// Where a BuildKit daemon listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// buildkitd on a unix socket (`unix:///run/buildkit/buildkitd.sock`).
    Unix(PathBuf),
    /// buildkitd on TCP (`tcp://host:port`): plain h2c, or mTLS with [`TlsSettings`].
    Tcp {
        /// `host:port`.
        address: String,
        /// Client certificate, CA and server name for mTLS; `None` for plain h2c.
        tls: Option<TlsSettings>,
    },
    /// The BuildKit of a Docker Engine on a unix socket (`docker://` for the default socket,
    /// `docker:///path/to/docker.sock` for another), through `POST /grpc`.
    Docker(PathBuf),
}

/// mTLS settings for a TCP endpoint, as PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// CA certificate(s) the server's certificate must chain to.
    pub ca_pem: Vec<u8>,
    /// The client certificate chain.
    pub cert_pem: Vec<u8>,
    /// The client's private key.
    pub key_pem: Vec<u8>,
    /// Name the server's certificate must carry; default: the endpoint's host.
    pub server_name: Option<String>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl std::str::FromStr for Endpoint {
    type Err = Error;

    /// `unix://<path>`, `tcp://<host>:<port>` (plain; add TLS with [`Endpoint::with_tls`]),
    /// `docker://` or `docker://<socket path>`.
    fn from_str(text: &str) -> Result<Self, Error> {
        let invalid = |why: &str| Error::Endpoint {
            endpoint: text.to_owned(),
            reason: why.to_owned(),
        };
        if let Some(path) = text.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(invalid("the socket path is empty"));
            }
            Ok(Endpoint::Unix(PathBuf::from(path)))
        } else if let Some(address) = text.strip_prefix("tcp://") {
            let address = address.trim_end_matches('/');
            match address.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                    Ok(Endpoint::Tcp {
                        address: address.to_owned(),
                        tls: None,
                    })
                }
                _ => Err(invalid("expected tcp://<host>:<port>")),
            }
        } else if let Some(path) = text.strip_prefix("docker://") {
            Ok(Endpoint::Docker(PathBuf::from(if path.is_empty() {
                DOCKER_SOCKET
            } else {
                path
            })))
        } else {
            Err(invalid(
                "use unix://<socket>, tcp://<host>:<port>, or docker:// (optionally docker://<socket>)",
            ))
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp { address, .. } => write!(f, "tcp://{address}"),
            Endpoint::Docker(path) => write!(f, "docker://{}", path.display()),
        }
    }
}

impl Endpoint {
    /// A TCP endpoint with mTLS; other endpoints are returned unchanged.
    pub fn with_tls(self, settings: TlsSettings) -> Self {
        match self {
            Endpoint::Tcp { address, .. } => Endpoint::Tcp {
                address,
                tls: Some(settings),
            },
            other => other,
        }
    }

    /// Whether this is a Docker Engine rather than a standalone buildkitd.
    pub fn is_docker(&self) -> bool {
        matches!(self, Endpoint::Docker(_))
    }

    /// A channel to the daemon. Connects once now, so an unreachable daemon is reported here.
    pub async fn connect(&self) -> Result<Channel, Error> {
        let tls = self.tls_connect()?;
        let endpoint = self.clone();
        let connector = tower::service_fn(move |_: Uri| {
            let endpoint = endpoint.clone();
            let tls = tls.clone();
            async move { dial(&endpoint, tls.as_deref()).await.map(TokioIo::new) }
        });
        tonic::transport::Endpoint::from_static("http://buildkit")
            .connect_with_connector(connector)
            .await
            .map_err(|source| Error::Connect {
                endpoint: self.to_string(),
                source: Box::new(source),
            })
    }

    /// One raw connection to the daemon carrying its gRPC (HTTP/2) API, after TLS or the
    /// Docker upgrade: for relaying a client's connection to the daemon.
    pub async fn open(&self) -> Result<Pin<Box<dyn ByteStream>>, Error> {
        let tls = self.tls_connect()?;
        dial(self, tls.as_deref())
            .await
            .map_err(|source| Error::Connect {
                endpoint: self.to_string(),
                source: Box::new(source),
            })
    }

    fn tls_connect(&self) -> Result<Option<Arc<TlsConnect>>, Error> {
        match self {
            Endpoint::Tcp {
                address,
                tls: Some(settings),
            } => Ok(Some(Arc::new(TlsConnect::new(address, settings)?))),
            _ => Ok(None),
        }
    }
}

/// A bidirectional byte stream of any transport.
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> ByteStream for T {}

async fn dial(
    endpoint: &Endpoint,
    tls: Option<&TlsConnect>,
) -> std::io::Result<Pin<Box<dyn ByteStream>>> {
    Ok(match endpoint {
        Endpoint::Unix(path) => Box::pin(UnixStream::connect(path).await?),
        Endpoint::Tcp { address, .. } => {
            let tcp = TcpStream::connect(address).await?;
            tcp.set_nodelay(true)?;
            match tls {
                Some(tls) => Box::pin(tls.handshake(tcp).await?),
                None => Box::pin(tcp),
            }
        }
        Endpoint::Docker(socket) => Box::pin(TokioIo::new(docker_grpc_upgrade(socket).await?)),
    })
}

/// `POST /grpc` with `Upgrade: h2c` on the Docker Engine's socket; after `101 Switching
/// Protocols` the connection carries HTTP/2 with the engine as the server. The upgraded stream
/// keeps whatever the engine sent along with the 101 (its SETTINGS frame).
async fn docker_grpc_upgrade(socket: &Path) -> std::io::Result<hyper::upgrade::Upgraded> {
    let io = TokioIo::new(UnixStream::connect(socket).await?);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        // Ends when the connection is handed over to the upgrade.
        let _ = connection.with_upgrades().await;
    });
    let request = http::Request::post("/grpc")
        .header(http::header::HOST, "docker")
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, "h2c")
        .body(Empty::<Bytes>::new())
        .map_err(std::io::Error::other)?;
    let response = sender
        .send_request(request)
        .await
        .map_err(std::io::Error::other)?;
    if response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        return Err(std::io::Error::other(format!(
            "the Docker Engine answered POST /grpc with {} instead of switching to HTTP/2 \
             (is it Docker Engine 23 or newer with BuildKit enabled?)",
            response.status()
        )));
    }
    hyper::upgrade::on(response)
        .await
        .map_err(std::io::Error::other)
}

/// A rustls client set up for one TCP endpoint.
struct TlsConnect {
    connector: tokio_rustls::TlsConnector,
    server_name: rustls_pki_types::ServerName<'static>,
}

impl TlsConnect {
    fn new(address: &str, settings: &TlsSettings) -> Result<Self, Error> {
        let bad = |reason: String| Error::Tls {
            endpoint: format!("tcp://{address}"),
            reason,
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in pem_certs(&settings.ca_pem).map_err(|e| bad(format!("CA: {e}")))? {
            roots
                .add(cert)
                .map_err(|e| bad(format!("CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(bad("the CA bundle has no certificate".into()));
        }
        let chain =
            pem_certs(&settings.cert_pem).map_err(|e| bad(format!("client certificate: {e}")))?;
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(&settings.key_pem)
            .map_err(|e| bad(format!("client key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| bad(format!("client certificate and key: {e}")))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        let host = settings
            .server_name
            .clone()
            .unwrap_or_else(|| host_of(address).to_owned());
        let server_name = rustls_pki_types::ServerName::try_from(host.clone())
            .map_err(|_| bad(format!("{host:?} is not a valid server name")))?;
        Ok(Self {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    async fn handshake(
        &self,
        tcp: TcpStream,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        self.connector.connect(self.server_name.clone(), tcp).await
    }
}

fn pem_certs(
    pem: &[u8],
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, rustls_pki_types::pem::Error> {
    rustls_pki_types::CertificateDer::pem_slice_iter(pem).collect()
}

/// The host of `host:port` (without IPv6 brackets).
fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_like_buildx() {
        assert_eq!(
            "unix:///run/buildkit/buildkitd.sock"
                .parse::<Endpoint>()
                .unwrap(),
            Endpoint::Unix(BUILDKITD_SOCKET.into())
        );
        assert_eq!(
            "docker://".parse::<Endpoint>().unwrap(),
            Endpoint::Docker(DOCKER_SOCKET.into())
        );
        assert_eq!(
            "docker:///tmp/d.sock".parse::<Endpoint>().unwrap(),
            Endpoint::Docker("/tmp/d.sock".into())
        );
        let tcp = "tcp://builder.example:1234".parse::<Endpoint>().unwrap();
        assert_eq!(tcp.to_string(), "tcp://builder.example:1234");
        for bad in [
            "tcp://nohost",
            "tcp://:12",
            "unix://",
            "http://x:1",
            "ssh://x",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
        assert_eq!(host_of("[::1]:1234"), "::1");
        assert_eq!(host_of("b.example:1"), "b.example");
    }
}
