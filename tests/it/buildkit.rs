//! depot-build's BuildKit client against the real BuildKit of Docker Engine 26 (containerd
//! image store), which scripts/test.sh installs and starts: every transport and capability
//! probing. TCP transports reach the same daemon through a relay on loopback (plain, or
//! terminating mTLS), the way depot-server's builders are reached.

use std::sync::Arc;

use depot_build::buildkit::{BuildKit, DaemonKind, Endpoint, Exporter, TlsSettings};
use depot_tests::docker_buildkit as docker;
use tokio::net::TcpListener;

/// Relays every connection accepted on a loopback port to the Docker Engine's BuildKit,
/// optionally terminating TLS that requires a client certificate; returns the port.
async fn relay(tls: Option<Arc<rustls::ServerConfig>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let tls = tls.clone();
            tokio::spawn(async move {
                let mut daemon = docker().open().await.expect("reaching dockerd");
                match tls {
                    Some(config) => {
                        let Ok(mut client) =
                            tokio_rustls::TlsAcceptor::from(config).accept(tcp).await
                        else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut daemon).await;
                    }
                    None => {
                        let mut client = tcp;
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut daemon).await;
                    }
                }
            });
        }
    });
    port
}

struct Pki {
    ca_pem: String,
    server: (String, String),
    client: (String, String),
}

/// A CA with a server certificate for `buildkit.test` and a client certificate.
fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issue = |names: Vec<String>| {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        server: issue(vec!["buildkit.test".into()]),
        client: issue(vec!["client".into()]),
        ca_pem: ca.pem(),
    }
}

fn server_tls(pki: &Pki) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(pki.server.0.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(pki.server.1.as_bytes()).unwrap(),
        )
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

#[tokio::test]
async fn the_docker_engine_buildkit_is_probed_through_its_grpc_upgrade() {
    let buildkit = BuildKit::connect(docker()).await.unwrap();
    let caps = buildkit.capabilities().await.unwrap();
    assert_eq!(caps.kind, DaemonKind::DockerContainerd, "{caps:?}");
    assert!(caps.version.is_some(), "Docker 26 implements Info");
    for exporter in [
        Exporter::Image,
        Exporter::Oci,
        Exporter::Docker,
        Exporter::Local,
    ] {
        assert!(caps.exporters.contains(&exporter), "{exporter}: {caps:?}");
    }
    assert!(caps.multiple_exporters);
    caps.check_exporters(&[Exporter::Image, Exporter::Local])
        .unwrap();
    assert!(
        caps.workers
            .iter()
            .any(|w| w.platforms.iter().any(|p| p.starts_with("linux/"))),
        "{caps:?}"
    );

    let missing = BuildKit::connect("docker:///nonexistent/docker.sock".parse().unwrap())
        .await
        .unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("cannot reach BuildKit at docker:///nonexistent"),
        "{missing}"
    );
}

#[tokio::test]
async fn tcp_transports_plain_and_mutual_tls() {
    let plain = relay(None).await;
    let endpoint: Endpoint = format!("tcp://127.0.0.1:{plain}").parse().unwrap();
    let caps = BuildKit::connect(endpoint)
        .await
        .unwrap()
        .capabilities()
        .await
        .unwrap();
    assert_eq!(
        caps.kind,
        DaemonKind::Buildkitd,
        "a TCP daemon is taken as buildkitd"
    );
    assert!(!caps.workers.is_empty());

    let pki = pki();
    let secure = relay(Some(server_tls(&pki))).await;
    let settings = |client: &(String, String)| TlsSettings {
        ca_pem: pki.ca_pem.clone().into_bytes(),
        cert_pem: client.0.clone().into_bytes(),
        key_pem: client.1.clone().into_bytes(),
        server_name: Some("buildkit.test".into()),
    };
    let endpoint = format!("tcp://127.0.0.1:{secure}")
        .parse::<Endpoint>()
        .unwrap()
        .with_tls(settings(&pki.client));
    let caps = BuildKit::connect(endpoint)
        .await
        .unwrap()
        .capabilities()
        .await
        .unwrap();
    assert!(!caps.workers.is_empty());

    // A certificate from another CA is turned away; so is the wrong server name.
    let stranger = self::pki();
    let endpoint = format!("tcp://127.0.0.1:{secure}")
        .parse::<Endpoint>()
        .unwrap()
        .with_tls(TlsSettings {
            ca_pem: pki.ca_pem.clone().into_bytes(),
            ..settings(&stranger.client)
        });
    let refused = match BuildKit::connect(endpoint).await {
        Ok(buildkit) => buildkit.capabilities().await.err(),
        Err(err) => Some(err),
    };
    assert!(
        refused.is_some(),
        "a foreign client certificate must not get through"
    );
    let endpoint = format!("tcp://127.0.0.1:{secure}")
        .parse::<Endpoint>()
        .unwrap()
        .with_tls(TlsSettings {
            server_name: Some("other.test".into()),
            ..settings(&pki.client)
        });
    assert!(BuildKit::connect(endpoint).await.is_err());

    // Unusable settings are reported before dialling.
    let endpoint = format!("tcp://127.0.0.1:{secure}")
        .parse::<Endpoint>()
        .unwrap()
        .with_tls(TlsSettings {
            ca_pem: b"not a certificate".to_vec(),
            ..settings(&pki.client)
        });
    let err = BuildKit::connect(endpoint).await.unwrap_err();
    assert!(err.to_string().contains("cannot set up TLS"), "{err}");
}
