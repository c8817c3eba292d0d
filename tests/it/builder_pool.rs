//! The builder pool with the local builder: the Docker Engine 26 BuildKit (which
//! scripts/test.sh starts) offered over TCP with per-build mTLS certificates, reached with
//! depot-build's BuildKit client exactly as a build would after `GetBuildKitConnection`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use depot_build::buildkit::{BuildKit, BuildOptions, Endpoint, Output, TlsSettings};
use depot_build::server::{
    Builder, BuilderCa, BuilderPool, DEFAULT_SERVER_NAME, Fingerprint, LocalBuilder,
    LocalBuilderConfig, RemoteBuilder, RemoteBuilderSpec,
};
use depot_control::builders::{
    ActiveBuilder, BuilderArch, BuilderConnection, BuilderError, BuilderProvider, BuilderRequest,
    CertificatePair,
};
use depot_core::proto::depot::cli::v1::{
    BuilderPlatform, CreateBuildRequest, CreateBuildResponse, FinishBuildRequest,
    GetBuildKitConnectionRequest, finish_build_request,
    get_build_kit_connection_response as connection,
};
use depot_tests::{Server, busybox_rootfs, docker_buildkit};
use futures_util::StreamExt as _;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The HTTP/2 client preface and an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

/// The test Engine's socket.
fn docker_socket() -> PathBuf {
    match docker_buildkit() {
        Endpoint::Docker(socket) => socket,
        other => panic!("not a Docker endpoint: {other}"),
    }
}

/// A builder CA in a scratch directory, a local builder and a pool of it.
struct Fixture {
    dir: tempfile::TempDir,
    local: Arc<LocalBuilder>,
    pool: BuilderPool,
}

impl Fixture {
    async fn start(concurrency: usize) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let ca = Arc::new(BuilderCa::open(&dir.path().join("builder-ca")).unwrap());
        let (local, pool) = local_pool(ca, concurrency, docker_socket()).await;
        Fixture { dir, local, pool }
    }

    /// The builder `build` (of project `p`) holds; panics unless one is handed out.
    async fn active(&self, build: &str) -> ActiveBuilder {
        match self.pool.connect(request(build)).await.unwrap() {
            BuilderConnection::Active(active) => active,
            BuilderConnection::Pending { .. } => panic!("{build} is waiting for a builder"),
        }
    }
}

async fn local_pool(
    ca: Arc<BuilderCa>,
    concurrency: usize,
    docker_socket: PathBuf,
) -> (Arc<LocalBuilder>, BuilderPool) {
    let local = Arc::new(
        LocalBuilder::start(
            &ca,
            LocalBuilderConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                advertise_host: None,
                server_name: DEFAULT_SERVER_NAME.into(),
                docker_socket,
                concurrency,
                connection_limits: Default::default(),
                status_tap: Default::default(),
            },
        )
        .await
        .unwrap(),
    );
    let pool = BuilderPool::new(ca, vec![local.clone() as Arc<dyn Builder>]);
    (local, pool)
}

fn request(build: &str) -> BuilderRequest {
    BuilderRequest {
        build_id: build.into(),
        project_id: "p".into(),
        org_id: "o".into(),
        arch: BuilderArch::host().expect("an amd64 or arm64 machine"),
        expires_at: SystemTime::now() + Duration::from_secs(3600),
        isolated: false,
        cache_policy: Default::default(),
        builds_per_builder: 1,
        max_builders: 1,
    }
}

/// The BuildKit endpoint a client builds from `active`, as the official CLI does.
fn endpoint(active: &ActiveBuilder) -> Endpoint {
    let cert = active.client_cert.as_ref().expect("a client certificate");
    active
        .endpoint
        .parse::<Endpoint>()
        .unwrap()
        .with_tls(TlsSettings {
            ca_pem: active.ca_cert_pem.clone().expect("a CA").into_bytes(),
            cert_pem: cert.cert_pem.clone().into_bytes(),
            key_pem: cert.key_pem.clone().into_bytes(),
            server_name: Some(active.server_name.clone()),
        })
}

/// Whether BuildKit answers `ListWorkers` (and `Info`) at `endpoint`.
async fn answers(endpoint: Endpoint) -> bool {
    let probe = async {
        let buildkit = BuildKit::connect(endpoint.clone()).await.ok()?;
        buildkit.capabilities().await.ok()
    };
    match tokio::time::timeout(Duration::from_secs(30), probe).await {
        Ok(Some(capabilities)) => {
            assert!(!capabilities.workers.is_empty());
            true
        }
        Ok(None) => false,
        Err(_) => panic!("probing {endpoint:?} hung"),
    }
}

/// Whether a raw connection with `config` carries HTTP/2 from the Engine: the handshake
/// passes and the Engine's SETTINGS frame arrives after the client preface. Otherwise, why not.
async fn carries_http2(
    address: std::net::SocketAddr,
    config: rustls::ClientConfig,
) -> Result<(), String> {
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect(address).await?;
        let name = rustls::pki_types::ServerName::try_from(DEFAULT_SERVER_NAME).unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await?;
        tls.write_all(H2_PREFACE).await?;
        let mut frame = [0u8; 9];
        tls.read_exact(&mut frame).await?;
        assert_eq!(frame[3], 4, "the Engine's SETTINGS frame");
        std::io::Result::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(30), attempt)
        .await
        .expect("the bridge hung")
        .map_err(|err| format!("{err:?}"))
}

/// Asserts that the builder refused the handshake with `alert`.
fn refused_with(outcome: Result<(), String>, alert: &str) {
    match outcome {
        Ok(()) => panic!("the connection was accepted"),
        Err(err) => assert!(err.contains(alert), "expected {alert}, got {err}"),
    }
}

fn client_config(ca_pem: &str, client: Option<&CertificatePair>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let mut config = match client {
        Some(pair) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(pair.cert_pem.as_bytes()).unwrap()],
                rustls::pki_types::PrivateKeyDer::from_pem_slice(pair.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    config
}

#[tokio::test]
async fn a_build_runs_on_the_engine_through_the_mtls_bridge() {
    let fixture = Fixture::start(4).await;
    let active = fixture.active("builda").await;
    assert_eq!(
        active.endpoint,
        format!("tcp://127.0.0.1:{}", fixture.local.local_addr().port())
    );
    assert_eq!(active.server_name, DEFAULT_SERVER_NAME);
    assert_eq!(
        active.ca_cert_pem.as_deref(),
        Some(
            std::fs::read_to_string(fixture.dir.path().join("builder-ca/ca.pem"))
                .unwrap()
                .as_str()
        )
    );
    let buildkit = BuildKit::connect(endpoint(&active)).await.unwrap();
    let capabilities = buildkit.capabilities().await.unwrap();
    assert!(!capabilities.workers.is_empty());

    let rootfs = busybox_rootfs();
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("message.txt"), "through the bridge\n").unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch AS base\nCOPY --from=rootfs / /\n\
         FROM base AS build\nCOPY message.txt /in.txt\n\
         RUN cat /in.txt > /out.txt && echo ran >> /out.txt\n\
         FROM scratch\nCOPY --from=build /out.txt /\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut build = buildkit.build(BuildOptions {
        context: context.path().to_owned(),
        build_contexts: [("rootfs".to_owned(), rootfs.path().display().to_string())].into(),
        outputs: vec![Output::Local {
            dir: out.path().to_owned(),
        }],
        client_id: Some("depot-rs-tests".into()),
        ..BuildOptions::default()
    });
    while build.next().await.is_some() {}
    build.result().await.expect("the build through the bridge");
    assert_eq!(
        std::fs::read_to_string(out.path().join("out.txt")).unwrap(),
        "through the bridge\nran\n"
    );
    fixture.pool.release("builda", None).await;
}

#[tokio::test]
async fn only_certificates_of_builds_holding_the_builder_are_accepted() {
    let fixture = Fixture::start(4).await;
    let active = fixture.active("builda").await;
    let ca_pem = active.ca_cert_pem.clone().unwrap();
    let address = fixture.local.local_addr();
    assert!(answers(endpoint(&active)).await);
    carries_http2(address, client_config(&ca_pem, active.client_cert.as_ref()))
        .await
        .unwrap();

    // No client certificate.
    refused_with(
        carries_http2(address, client_config(&ca_pem, None)).await,
        "CertificateRequired",
    );

    // A certificate for the same build from another CA.
    let other_dir = tempfile::tempdir().unwrap();
    let other_ca = BuilderCa::open(other_dir.path()).unwrap();
    let foreign = other_ca
        .client_certificate("builda", SystemTime::now() + Duration::from_secs(600))
        .unwrap();
    let mut impostor = active.clone();
    impostor.client_cert = Some(foreign.pair.clone());
    assert!(!answers(endpoint(&impostor)).await);
    refused_with(
        carries_http2(address, client_config(&ca_pem, Some(&foreign.pair))).await,
        "UnknownCA",
    );

    // A certificate of our CA that no build holding the builder was given.
    let unlisted = BuilderCa::open(&fixture.dir.path().join("builder-ca"))
        .unwrap()
        .client_certificate("builda", SystemTime::now() + Duration::from_secs(600))
        .unwrap();
    impostor.client_cert = Some(unlisted.pair.clone());
    assert!(!answers(endpoint(&impostor)).await);
    refused_with(
        carries_http2(address, client_config(&ca_pem, Some(&unlisted.pair))).await,
        "AccessDenied",
    );

    // The build's own certificate after the build is released.
    fixture.pool.release("builda", None).await;
    assert!(!answers(endpoint(&active)).await);
    refused_with(
        carries_http2(address, client_config(&ca_pem, active.client_cert.as_ref())).await,
        "AccessDenied",
    );
}

#[tokio::test]
async fn release_closes_the_builds_open_connections() {
    let fixture = Fixture::start(4).await;
    let a = fixture.active("builda").await;
    let b = fixture.active("buildb").await;
    let mut open_a = endpoint(&a).open().await.unwrap();
    let mut open_b = endpoint(&b).open().await.unwrap();
    for stream in [&mut open_a, &mut open_b] {
        stream.write_all(H2_PREFACE).await.unwrap();
        let mut frame = [0u8; 9];
        stream.read_exact(&mut frame).await.unwrap();
        assert_eq!(frame[3], 4, "the Engine's SETTINGS frame");
    }

    fixture.pool.release("builda", None).await;
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), open_a.read_to_end(&mut rest)).await;
    assert!(
        ended.is_ok(),
        "build A's connection stayed open after release"
    );

    // Build B's connection is untouched: it still carries HTTP/2 (a PING is answered).
    let ping = b"\0\0\x08\x06\0\0\0\0\0depot-rs";
    open_b.write_all(ping).await.unwrap();
    let answered = tokio::time::timeout(Duration::from_secs(10), async {
        let mut seen = Vec::new();
        let mut chunk = [0u8; 1024];
        while !seen.windows(8).any(|w| w == b"depot-rs") {
            let n = open_b.read(&mut chunk).await.unwrap();
            assert!(n > 0, "build B's connection was closed");
            seen.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    assert!(answered.is_ok(), "build B's PING was not answered");
    fixture.pool.release("buildb", None).await;
}

#[tokio::test]
async fn with_one_slot_a_second_build_waits_for_the_first() {
    let fixture = Fixture::start(1).await;
    let first = fixture.active("first").await;
    for _ in 0..2 {
        match fixture.pool.connect(request("second")).await.unwrap() {
            BuilderConnection::Pending { retry_after } => {
                assert!(retry_after <= Duration::from_secs(1));
            }
            BuilderConnection::Active(_) => panic!("two builds on a builder of one slot"),
        }
    }
    // The first build asking again keeps its builder and certificate.
    let again = fixture.active("first").await;
    assert_eq!(
        again.client_cert.as_ref().unwrap().cert_pem,
        first.client_cert.as_ref().unwrap().cert_pem
    );

    fixture.pool.release("first", None).await;
    let second = fixture.active("second").await;
    assert!(answers(endpoint(&second)).await);
    assert!(!answers(endpoint(&first)).await);
    fixture.pool.release("second", None).await;
}

#[tokio::test]
async fn the_builder_ca_survives_a_restart() {
    let fixture = Fixture::start(2).await;
    let before = fixture.active("builda").await;
    fixture.pool.release("builda", None).await;
    let ca_dir = fixture.dir.path().join("builder-ca");
    drop(fixture.pool);
    drop(fixture.local);

    // A new process: the same directory, the same CA.
    let ca = Arc::new(BuilderCa::open(&ca_dir).unwrap());
    assert_eq!(Some(ca.cert_pem()), before.ca_cert_pem.as_deref());
    let (_local, pool) = local_pool(ca, 2, docker_socket()).await;
    let after = match pool.connect(request("buildb")).await.unwrap() {
        BuilderConnection::Active(active) => active,
        BuilderConnection::Pending { .. } => panic!("pending"),
    };
    assert_eq!(after.ca_cert_pem, before.ca_cert_pem);
    // A client that kept the CA from before the restart trusts the new builder.
    let mut kept = after.clone();
    kept.ca_cert_pem = before.ca_cert_pem.clone();
    assert!(answers(endpoint(&kept)).await);
    pool.release("buildb", None).await;
}

#[tokio::test]
async fn an_unreachable_engine_is_reported_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Arc::new(BuilderCa::open(dir.path()).unwrap());
    let (_local, pool) = local_pool(ca, 1, dir.path().join("no-docker.sock")).await;
    for _ in 0..2 {
        match pool.connect(request("builda")).await {
            Err(BuilderError::Unavailable(message)) => {
                assert!(message.contains("start dockerd"), "{message}");
                assert!(message.contains("--builder none"), "{message}");
            }
            other => panic!("expected unavailable, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_remote_builders_answer_reaches_buildkit() {
    // The local builder stands in for a standalone buildkitd that trusts the CA.
    let fixture = Fixture::start(1).await;
    let ca = Arc::new(BuilderCa::open(&fixture.dir.path().join("builder-ca")).unwrap());
    let spec: RemoteBuilderSpec = format!(
        "tcp://{}?server_name={DEFAULT_SERVER_NAME}",
        fixture.local.local_addr()
    )
    .parse()
    .unwrap();
    let remote = Arc::new(RemoteBuilder::new(&spec, 2));
    let pool = BuilderPool::new(ca, vec![remote as Arc<dyn Builder>]);
    let active = match pool.connect(request("builda")).await.unwrap() {
        BuilderConnection::Active(active) => active,
        BuilderConnection::Pending { .. } => panic!("pending"),
    };
    assert_eq!(
        active.endpoint,
        format!("tcp://{}", fixture.local.local_addr())
    );
    // Standalone buildkitd accepts any certificate of its CA; the stand-in needs telling.
    let cert = active.client_cert.as_ref().unwrap();
    let der = CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).unwrap();
    fixture.local.admit("builda", Fingerprint::of(&der));
    assert!(answers(endpoint(&active)).await);
    pool.release("builda", None).await;
    fixture.local.evict("builda");
}

/// The builder `GetBuildKitConnection` hands `build` once it is active.
async fn buildkit_connection(server: &Server, build: &CreateBuildResponse) -> ActiveBuilder {
    platform_connection(server, build, BuilderPlatform::Amd64).await
}

/// The builder of `platform` `GetBuildKitConnection` hands `build` once it is active.
async fn platform_connection(
    server: &Server,
    build: &CreateBuildResponse,
    platform: BuilderPlatform,
) -> ActiveBuilder {
    let builds = server.client(&build.build_token).builds();
    // A project's builder may have to start first (a Docker Engine of its own).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let answer = builds
            .get_build_kit_connection(GetBuildKitConnectionRequest {
                build_id: build.build_id.clone(),
                platform: platform as i32,
            })
            .await
            .expect("GetBuildKitConnection");
        match answer.connection.expect("a connection") {
            connection::Connection::Active(active) => {
                let cert = active.cert.expect("a client certificate");
                return ActiveBuilder {
                    endpoint: active.endpoint,
                    server_name: active.server_name,
                    client_cert: Some(CertificatePair {
                        cert_pem: cert.cert,
                        key_pem: cert.key,
                    }),
                    ca_cert_pem: active.ca_cert.map(|ca| ca.cert),
                };
            }
            connection::Connection::Pending(pending) => {
                tokio::time::sleep(Duration::from_millis(pending.wait_ms as u64)).await;
            }
        }
    }
    panic!("no builder for {} within 60 s", build.build_id);
}

#[tokio::test]
async fn depot_server_hands_out_the_local_builder_and_takes_it_back_when_the_build_ends() {
    let server = Server::start_with(vec!["--builder-concurrency".into(), "1".into()]).await;
    let boot = server.bootstrap("grace");
    let create = || async {
        server
            .client(&boot.token)
            .builds()
            .create_build(CreateBuildRequest {
                project_id: Some(boot.project_id.clone()),
                ..Default::default()
            })
            .await
            .expect("CreateBuild")
    };
    let first = create().await;
    let second = create().await;
    let active = buildkit_connection(&server, &first).await;
    assert!(answers(endpoint(&active)).await);
    // The only slot is taken: the second build waits.
    let waiting = server
        .client(&second.build_token)
        .builds()
        .get_build_kit_connection(GetBuildKitConnectionRequest {
            build_id: second.build_id.clone(),
            platform: BuilderPlatform::Amd64 as i32,
        })
        .await
        .unwrap();
    assert!(matches!(
        waiting.connection,
        Some(connection::Connection::Pending(_))
    ));

    server
        .client(&first.build_token)
        .builds()
        .finish_build(FinishBuildRequest {
            build_id: first.build_id.clone(),
            result: Some(finish_build_request::Result::Success(
                finish_build_request::BuildSuccess {},
            )),
        })
        .await
        .unwrap();
    assert!(!answers(endpoint(&active)).await);
    let next = buildkit_connection(&server, &second).await;
    assert_eq!(next.endpoint, active.endpoint);
    assert!(answers(endpoint(&next)).await);
    // The CA is the installation's, in the data directory.
    let ca = server.admin_ok(&["builder-ca"]);
    let ca_pem = std::fs::read_to_string(ca.trim()).unwrap();
    assert_eq!(next.ca_cert_pem.as_deref(), Some(ca_pem.as_str()));

    // A server certificate for a standalone buildkitd, signed by that CA.
    let out = tempfile::tempdir().unwrap();
    let printed = server.admin_ok(&[
        "builder-ca",
        "server-cert",
        "--server-name",
        "buildkit.test",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(
        printed.contains(&format!("--tlscacert {}", ca.trim())),
        "{printed}"
    );
    let cert = std::fs::read(out.path().join("cert.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .unwrap();
    rustls::client::danger::ServerCertVerifier::verify_server_cert(
        verifier.as_ref(),
        &CertificateDer::from_pem_slice(&cert).unwrap(),
        &[],
        &rustls::pki_types::ServerName::try_from("buildkit.test").unwrap(),
        &[],
        rustls::pki_types::UnixTime::now(),
    )
    .expect("the buildkitd certificate chains to the builder CA");
}

#[tokio::test]
async fn the_bridge_closes_silent_and_surplus_connections() {
    let dir = tempfile::tempdir().unwrap();
    let ca = BuilderCa::open(&dir.path().join("builder-ca")).unwrap();
    let local = LocalBuilder::start(
        &ca,
        LocalBuilderConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            advertise_host: None,
            server_name: DEFAULT_SERVER_NAME.into(),
            docker_socket: docker_socket(),
            concurrency: 1,
            connection_limits: depot_control::http::ConnectionLimits {
                header_timeout: Duration::from_secs(1),
                max_connections_per_client: 2,
                ..Default::default()
            },
            status_tap: Default::default(),
        },
    )
    .await
    .unwrap();
    let address = local.local_addr();
    let closed_within = |mut stream: tokio::net::TcpStream, limit: Duration| async move {
        let mut buf = [0u8; 64];
        tokio::time::timeout(limit, async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    };
    // Two silent connections are held until the handshake timeout; a third from the same
    // address is closed at once.
    let first = tokio::net::TcpStream::connect(address).await.unwrap();
    let second = tokio::net::TcpStream::connect(address).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let third = tokio::net::TcpStream::connect(address).await.unwrap();
    assert!(
        closed_within(third, Duration::from_millis(500)).await,
        "a connection over the per-client limit stayed open"
    );
    assert!(
        closed_within(first, Duration::from_secs(3)).await,
        "a silent connection outlived the handshake timeout"
    );
    assert!(closed_within(second, Duration::from_secs(1)).await);
}

#[tokio::test]
async fn a_multi_platform_build_gets_an_instance_per_architecture_and_frees_both() {
    // arm64 instances that are really this host's engines (testing only).
    let server = Server::start_with(
        ["--builder-test-arch", "arm64", "--builder-concurrency", "1"]
            .map(String::from)
            .to_vec(),
    )
    .await;
    let boot = server.bootstrap("multiarch");
    let create = || async {
        server
            .client(&boot.token)
            .builds()
            .create_build(CreateBuildRequest {
                project_id: Some(boot.project_id.clone()),
                ..Default::default()
            })
            .await
            .expect("CreateBuild")
    };
    let first = create().await;
    let amd64 = platform_connection(&server, &first, BuilderPlatform::Amd64).await;
    let arm64 = platform_connection(&server, &first, BuilderPlatform::Arm64).await;
    assert_ne!(
        amd64.endpoint, arm64.endpoint,
        "one instance per architecture"
    );
    assert_eq!(server.engines(), 2);
    assert!(answers(endpoint(&amd64)).await && answers(endpoint(&arm64)).await);
    // Asking again for a platform answers with the same instance.
    assert_eq!(
        platform_connection(&server, &first, BuilderPlatform::Arm64)
            .await
            .endpoint,
        arm64.endpoint
    );

    // The build record names the builder of each platform.
    let page = server.build_summary(&boot.token, &first.build_id).await;
    for (arch, active) in [("amd64", &amd64), ("arm64", &arm64)] {
        assert!(
            page.contains(&format!("builder {arch}: {}\n", active.endpoint)),
            "{page}"
        );
    }

    // The build's end frees both: the next build gets the same two instances (had either
    // stayed taken, with one build per builder it would have started another).
    server
        .client(&first.build_token)
        .builds()
        .finish_build(FinishBuildRequest {
            build_id: first.build_id.clone(),
            result: Some(finish_build_request::Result::Success(
                finish_build_request::BuildSuccess::default(),
            )),
        })
        .await
        .expect("FinishBuild");
    let next = create().await;
    assert_eq!(
        platform_connection(&server, &next, BuilderPlatform::Arm64)
            .await
            .endpoint,
        arm64.endpoint
    );
    assert_eq!(
        platform_connection(&server, &next, BuilderPlatform::Amd64)
            .await
            .endpoint,
        amd64.endpoint
    );
    assert_eq!(server.engines(), 2);
}
