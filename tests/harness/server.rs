//! depot-server processes: each on a loopback port with a database of its own (a SQLite
//! file, or a fresh PostgreSQL database when `DEPOT_TEST_DATABASE_URL` names a server) and
//! a blob store (the filesystem, or an S3 bucket when `DEPOT_TEST_S3_ENDPOINT` is set),
//! bootstrapped with an organization, a user, a project and tokens.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use depot_core::DepotClient;
use depot_core::connect::ClientOptions;
use depot_core::proto::depot::cli::v1::{
    CreateBuildRequest, FinishBuildRequest, finish_build_request,
};
use serde_json::Value;
use sqlx::Connection;

use crate::binaries::{text, workspace_bin};
use crate::http_client::http;

/// A database for one test.
pub struct Database {
    /// URL or path handed to depot-server.
    pub url: String,
    /// Which backend (`sqlite` or `postgres`).
    pub backend: &'static str,
}

impl Database {
    /// A fresh database: a new PostgreSQL database when `DEPOT_TEST_DATABASE_URL` is set,
    /// else a SQLite file in `dir`.
    pub async fn create(dir: &Path) -> Database {
        match std::env::var("DEPOT_TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let name = format!("depot_test_{}", unique_suffix());
                let mut conn = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("connecting to DEPOT_TEST_DATABASE_URL");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("creating a test database");
                let base = admin_url.rsplit_once('/').expect("a URL with a database").0;
                Database {
                    url: format!("{base}/{name}"),
                    backend: "postgres",
                }
            }
            _ => Database {
                url: dir.join("depot.db").display().to_string(),
                backend: "sqlite",
            },
        }
    }
}

/// Where a test server keeps registry blobs: its data directory, or a fresh prefix in the
/// S3-compatible server at `DEPOT_TEST_S3_ENDPOINT` (bucket `depot-tests`, created on demand).
#[derive(Clone, Debug)]
pub enum BlobStore {
    /// `<data-dir>/registry/blobs`.
    Filesystem,
    /// `s3://depot-tests/<prefix>` at `endpoint`.
    S3 {
        /// The S3 endpoint URL.
        endpoint: String,
        /// The key prefix of this server.
        prefix: String,
    },
}

/// The bucket tests use on the S3-compatible server.
const TEST_BUCKET: &str = "depot-tests";

impl BlobStore {
    /// S3 when `DEPOT_TEST_S3_ENDPOINT` is set (the bucket is created if missing), else the
    /// filesystem.
    pub async fn create() -> BlobStore {
        match std::env::var("DEPOT_TEST_S3_ENDPOINT") {
            Ok(endpoint) if !endpoint.is_empty() => {
                let created = http(&endpoint, "PUT", &format!("/{TEST_BUCKET}"), &[], b"").await;
                assert!(
                    matches!(created.status, 200 | 409),
                    "creating the test bucket: {} {}",
                    created.status,
                    created.text()
                );
                BlobStore::S3 {
                    endpoint,
                    prefix: format!("server-{}", unique_suffix()),
                }
            }
            _ => BlobStore::Filesystem,
        }
    }

    /// The `--registry-storage` argument and environment for depot-server.
    fn server_config(&self) -> (String, Vec<(&'static str, String)>) {
        match self {
            BlobStore::Filesystem => ("fs".into(), Vec::new()),
            BlobStore::S3 { endpoint, prefix } => (
                format!("s3://{TEST_BUCKET}/{prefix}"),
                vec![
                    ("AWS_ENDPOINT_URL", endpoint.clone()),
                    ("AWS_ALLOW_HTTP", "true".into()),
                    ("AWS_ACCESS_KEY_ID", "depot-tests".into()),
                    ("AWS_SECRET_ACCESS_KEY", "depot-tests".into()),
                    ("AWS_REGION", "us-east-1".into()),
                ],
            ),
        }
    }
}

impl Database {
    /// Runs one SQL statement on the server's database, as an operator would (e.g. to make
    /// data look older than it is); returns the rows affected.
    pub async fn execute(&self, statement: &str) -> u64 {
        sqlx::any::install_default_drivers();
        let url = match self.backend {
            "sqlite" => format!("sqlite://{}", self.url),
            _ => self.url.clone(),
        };
        let mut conn = sqlx::AnyConnection::connect(&url)
            .await
            .expect("connecting to the test database");
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"))
            .rows_affected()
    }
}

pub(crate) fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// What `depot-server bootstrap` printed.
#[derive(Clone, Debug)]
pub struct Bootstrap {
    /// Organization id.
    pub org_id: String,
    /// User id.
    pub user_id: String,
    /// User name.
    pub user_name: String,
    /// Project id.
    pub project_id: String,
    /// The user's token.
    pub token: String,
}

/// A running depot-server.
pub struct Server {
    child: Option<Child>,
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The registry's own URL when it was given a port of its own (`--registry-listen`).
    pub registry_url: Option<String>,
    /// Its data directory.
    pub dir: tempfile::TempDir,
    /// Its database.
    pub database: Database,
    /// Where its registry keeps blobs.
    pub blobs: BlobStore,
    extra_args: Vec<String>,
}

impl Server {
    /// Starts a server on a free loopback port with a fresh database.
    pub async fn start() -> Server {
        Self::start_with(Vec::new()).await
    }

    /// Starts a server with extra serve arguments (e.g. TLS).
    pub async fn start_with(extra_args: Vec<String>) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = Database::create(dir.path()).await;
        let blobs = BlobStore::create().await;
        let mut server = Server {
            child: None,
            url: String::new(),
            registry_url: None,
            dir,
            database,
            blobs,
            extra_args,
        };
        server.spawn("127.0.0.1:0");
        server
    }

    fn spawn(&mut self, listen: &str) {
        let (storage, storage_env) = self.blobs.server_config();
        let mut child = Command::new(workspace_bin("depot-server"))
            .args(["--listen", listen, "--database-url", &self.database.url])
            .args(["--registry-storage", &storage])
            .envs(storage_env)
            .args(&self.extra_args)
            .env("DEPOT_SERVER_DATA_DIR", self.dir.path())
            // At most three builder engines per test server (tests run two at a time).
            .env("DEPOT_SERVER_MAX_BUILDERS", "3")
            .env(
                "DEPOT_SERVER_LOG",
                std::env::var("DEPOT_TEST_SERVER_LOG").unwrap_or("warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning depot-server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // The registry's own address, if any, is printed before the API's.
            let mut registry = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("depot-server registry listening on ") {
                    registry = Some(url.trim().to_owned());
                } else if let Some(url) = line.strip_prefix("depot-server listening on ") {
                    let _ = tx.send((url.trim().to_owned(), registry.take()));
                }
            }
        });
        (self.url, self.registry_url) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("depot-server did not report its address within 30 s");
        self.child = Some(child);
    }

    /// Stops the server (SIGKILL: nothing acknowledged may be lost) and starts it again on the
    /// same port with the same database.
    pub fn restart(&mut self) {
        self.kill();
        let listen = self
            .url
            .split_once("://")
            .map(|(_, a)| a.to_owned())
            .expect("a URL");
        // The port was ours a moment ago; retry briefly in case the kernel is slow to free it.
        for attempt in 0.. {
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.spawn(&listen)));
            match result {
                Ok(()) => return,
                Err(_) if attempt < 5 => std::thread::sleep(Duration::from_millis(200)),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server as an operator does (SIGTERM): it stops the builder engines it
    /// started, then exits. Killed if it has not exited within a minute.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The directories of the builders in this server's data directory
    /// (`<project>-<arch>`, `ephemeral-<build>-<arch>`).
    pub fn builder_dirs(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.path().join("builders"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// The builder engines (dockerd processes) running with their state in this server's data
    /// directory.
    pub fn engines(&self) -> usize {
        let marker = format!("{}/builders/", self.dir.path().display());
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
            .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
            .filter(|cmdline| cmdline.contains("dockerd") && cmdline.contains(&marker))
            .count()
    }

    /// What the registry has staged in unfinished uploads: the session data files and their
    /// bytes (looked at directly, not through the server).
    pub fn staged_uploads(&self) -> (usize, u64) {
        let dir = self.dir.path().join("registry").join("uploads");
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".data"))
            .filter_map(|entry| entry.metadata().ok())
            .fold((0, 0), |(files, bytes), meta| {
                (files + 1, bytes + meta.len())
            })
    }

    /// Whether the registry's blob store holds `digest` (looked at directly, not through the
    /// server).
    pub async fn blob_stored(&self, digest: &str) -> bool {
        let (algorithm, hex) = digest.split_once(':').expect("a digest");
        let key = format!("blobs/{algorithm}/{}/{hex}", &hex[..2]);
        match &self.blobs {
            BlobStore::Filesystem => self.dir.path().join("registry").join(key).exists(),
            BlobStore::S3 { endpoint, prefix } => {
                use object_store::ObjectStoreExt;
                let _ = rustls::crypto::ring::default_provider().install_default();
                let bucket = object_store::aws::AmazonS3Builder::new()
                    .with_endpoint(endpoint)
                    .with_allow_http(true)
                    .with_bucket_name(TEST_BUCKET)
                    .with_region("us-east-1")
                    .with_access_key_id("depot-tests")
                    .with_secret_access_key("depot-tests")
                    .build()
                    .expect("an S3 client");
                let path = object_store::path::Path::from(format!("{prefix}/{key}"));
                match bucket.head(&path).await {
                    Ok(_) => true,
                    Err(object_store::Error::NotFound { .. }) => false,
                    Err(err) => panic!("HEAD {path}: {err}"),
                }
            }
        }
    }

    /// The process id of the running server, if it is running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `host:port`, the server's registry host.
    pub fn host(&self) -> String {
        let url = self.registry_url.as_ref().unwrap_or(&self.url);
        url.split_once("://")
            .map_or(url.as_str(), |(_, rest)| rest)
            .to_owned()
    }

    /// Runs an admin subcommand against this server's database.
    pub fn admin(&self, args: &[&str]) -> Output {
        Command::new(workspace_bin("depot-server"))
            .args(args)
            .args(["--database-url", &self.database.url])
            .env("DEPOT_SERVER_DATA_DIR", self.dir.path())
            .env(
                "DEPOT_SERVER_LOG",
                std::env::var("DEPOT_TEST_SERVER_LOG").unwrap_or("warn".into()),
            )
            .output()
            .expect("running depot-server admin command")
    }

    /// Runs an admin subcommand that must succeed; returns its stdout.
    pub fn admin_ok(&self, args: &[&str]) -> String {
        let out = self.admin(args);
        assert!(
            out.status.success(),
            "depot-server {args:?} failed: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// A build's plain-text summary (`GET /builds/<id>` with `token`): status, builders, steps.
    pub async fn build_summary(&self, token: &str, build_id: &str) -> String {
        let auth = format!("Bearer {token}");
        let page = crate::http(
            &self.url,
            "GET",
            &format!("/builds/{build_id}"),
            &[("authorization", auth.as_str())],
            b"",
        )
        .await;
        assert_eq!(page.status, 200, "GET /builds/{build_id}: {}", page.text());
        page.text()
    }

    /// Bootstraps an organization, user, project and user token.
    pub fn bootstrap(&self, user: &str) -> Bootstrap {
        let out = self.admin_ok(&["bootstrap", "--user", user, "--output", "json"]);
        let v: Value = serde_json::from_str(&out).expect("bootstrap prints JSON");
        let s = |k: &str| v[k].as_str().expect(k).to_owned();
        Bootstrap {
            org_id: s("org_id"),
            user_id: s("user_id"),
            user_name: s("user_name"),
            project_id: s("project_id"),
            token: s("token"),
        }
    }

    /// Creates a build in `project` through the API and finishes it with `result` using its
    /// build token, as a build run by the CLI would. Returns the build id.
    pub async fn finished_build(
        &self,
        token: &str,
        project: &str,
        result: finish_build_request::Result,
    ) -> String {
        let client = self.client(token);
        let created = client
            .builds()
            .create_build(CreateBuildRequest {
                project_id: Some(project.to_owned()),
                ..Default::default()
            })
            .await
            .expect("CreateBuild");
        client
            .with_token(&created.build_token)
            .builds()
            .finish_build(FinishBuildRequest {
                build_id: created.build_id.clone(),
                result: Some(result),
            })
            .await
            .expect("FinishBuild");
        created.build_id
    }

    /// A pull token for `project`, minted through the API with `token`.
    pub async fn pull_token(&self, token: &str, project: &str) -> String {
        self.client(token)
            .builds()
            .get_pull_token(depot_core::proto::depot::cli::v1::GetPullTokenRequest {
                project_id: Some(project.to_owned()),
                build_id: None,
            })
            .await
            .expect("GetPullToken")
            .token
    }

    /// An SDK client with `token`.
    pub fn client(&self, token: &str) -> DepotClient {
        let mut options = ClientOptions::new(&self.url);
        options.token = Some(token.to_owned());
        DepotClient::new(options).expect("client")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Gracefully, so that the builder engines it started stop before its directory goes.
        self.stop();
    }
}
