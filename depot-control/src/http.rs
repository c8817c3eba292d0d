//! Serving an axum app on one TCP port: HTTP/1.1 and HTTP/2 with prior knowledge (h2c) side by
//! side, or TLS with ALPN (`h2`, `http/1.1`) when a certificate is configured, within
//! [`ConnectionLimits`] (header timeouts, a body read timeout, HTTP/2 keep-alive pings and
//! stream limits, and caps on connections overall and per client address).

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower_http::timeout::TimeoutBody;

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How much of a refused request's body is read and thrown away, and for how long.
const DISCARD_BYTES: usize = 64 << 20;
const DISCARD_TIME: Duration = Duration::from_secs(10);

/// Loads a PEM certificate chain and private key into a TLS config offering h2 and HTTP/1.1.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read TLS certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{} holds no PEM certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read TLS key {}: {e}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| format!("the TLS certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Reads and throws away, in the background, the body of a request refused before it was read
/// (up to 64 MiB within 10 s), so that a client still sending it reads the refusal instead of
/// a connection reset under its feet; past that the connection is closed.
pub fn discard_refused_body(body: axum::body::Body) {
    use http_body_util::BodyExt;
    let mut body = http_body_util::Limited::new(body, DISCARD_BYTES);
    tokio::spawn(tokio::time::timeout(DISCARD_TIME, async move {
        while let Some(Ok(_)) = body.frame().await {}
    }));
}

/// Limits on a listener's connections, against clients that hold connections open, send
/// slowly or open too many.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// How long a client has to send a request's headers: the first bytes of a new connection
    /// (or its TLS handshake), each request's headers, and the next request on a kept-alive
    /// HTTP/1.1 connection. Clients that take longer are disconnected.
    pub header_timeout: Duration,
    /// Connections served at once; further ones are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Connections served at once per client address.
    pub max_connections_per_client: usize,
    /// HTTP/2: an idle connection is pinged this often, and closed if the ping is not answered
    /// within as long.
    pub http2_keepalive: Duration,
    /// HTTP/2: streams (requests) at once per connection.
    pub http2_max_streams: u32,
    /// How long a request body may go without sending anything (a minimum upload rate: a
    /// client that stalls longer has its request failed).
    pub body_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_connections_per_client: 512,
            http2_keepalive: Duration::from_secs(30),
            http2_max_streams: 256,
            body_read_timeout: Duration::from_secs(60),
        }
    }
}

/// How often refused connections are logged (once per interval, with a count).
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The connections a listener serves, counted overall and per client address against its
/// [`ConnectionLimits`] (the HTTP listeners here, and the builder bridges of depot-build).
#[derive(Debug)]
pub struct ConnectionGate {
    limits: ConnectionLimits,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
    refused: usize,
    last_logged: Option<Instant>,
}

/// A served connection; dropping it frees its place.
pub struct OpenConnection {
    gate: Arc<ConnectionGate>,
    client: IpAddr,
}

impl ConnectionGate {
    /// A gate with nothing open yet.
    pub fn new(limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(ConnectionGate {
            limits,
            counts: Mutex::default(),
        })
    }

    /// The limits it keeps.
    pub fn limits(&self) -> &ConnectionLimits {
        &self.limits
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a connection from `client`, or `None` when a limit is reached (the refusal
    /// is logged once per interval).
    pub fn admit(self: &Arc<Self>, client: IpAddr) -> Option<OpenConnection> {
        let mut counts = self.counts();
        let from_client = counts.per_client.get(&client).copied().unwrap_or(0);
        if counts.total >= self.limits.max_connections
            || from_client >= self.limits.max_connections_per_client
        {
            counts.refused += 1;
            let due = counts
                .last_logged
                .is_none_or(|at| at.elapsed() >= REFUSAL_LOG_INTERVAL);
            if due {
                tracing::warn!(
                    refused = counts.refused,
                    open = counts.total,
                    %client,
                    "refusing connections over the limits (--max-connections, \
                     --max-connections-per-client)"
                );
                counts.refused = 0;
                counts.last_logged = Some(Instant::now());
            }
            return None;
        }
        counts.total += 1;
        *counts.per_client.entry(client).or_default() += 1;
        Some(OpenConnection {
            gate: self.clone(),
            client,
        })
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let mut counts = self.gate.counts();
        counts.total -= 1;
        if let Some(count) = counts.per_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                counts.per_client.remove(&self.client);
            }
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then lets open requests
/// finish for a short grace period.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: axum::Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.http2_keepalive)
        .keep_alive_timeout(limits.http2_keepalive)
        .max_concurrent_streams(limits.http2_max_streams);
    let header_timeout = limits.header_timeout;
    let body_read_timeout = limits.body_read_timeout;
    let gate = ConnectionGate::new(limits);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(admitted) = gate.admit(peer.ip()) else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            app.clone(),
            move |request: hyper::Request<hyper::body::Incoming>| {
                request.map(|body| axum::body::Body::new(TimeoutBody::new(body_read_timeout, body)))
            },
        ));
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _admitted = admitted;
            // A client that opens a connection and sends nothing is gone after the header
            // timeout (hyper's own timeout starts once a protocol has been chosen).
            let mut first = [0u8; 1];
            match tokio::time::timeout(header_timeout, tcp.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let result = match acceptor {
                None => {
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => {
                    let handshake = header_timeout.min(TLS_HANDSHAKE_TIMEOUT);
                    let tls = match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(err)) => {
                            tracing::debug!(%peer, %err, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(err) = result {
                tracing::debug!(%peer, %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}
