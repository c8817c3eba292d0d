//! Test harness: real `depot-server` processes on loopback ports with their own database
//! (a SQLite file, or a fresh PostgreSQL database when `DEPOT_TEST_DATABASE_URL` names a
//! server), and CLI runners with scratch homes.
//!
//! Binaries come from the workspace target directory (`cargo build --workspace` first; the test
//! script does it). The official CLI is found through `DEPOT_OFFICIAL_CLI`.

use std::io::{BufRead, BufReader, Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use depot_core::DepotClient;
use depot_core::connect::ClientOptions;
use depot_core::proto::depot::cli::v1::{
    CreateBuildRequest, FinishBuildRequest, finish_build_request,
};
use serde_json::Value;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use sqlx::Connection;

/// Path of a workspace binary next to the running test or benchmark executable: tests run
/// from `target/debug/deps` and use debug binaries, benchmarks from `target/release/deps` and
/// use release binaries.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps");
    let bin = dir.join(name);
    if !bin.is_file() {
        if dir.file_name().is_some_and(|profile| profile == "release") {
            panic!(
                "{} is missing: benchmarks run release binaries; build them first with \
                 `cargo build --release -p {name}`",
                bin.display()
            );
        }
        panic!(
            "{} is missing: run `cargo build --workspace` before the tests (scripts/test.sh does)",
            bin.display()
        );
    }
    bin
}

/// Path of a workspace example binary (`target/<profile>/examples/<name>`).
pub fn workspace_example(name: &str) -> PathBuf {
    let bin = workspace_bin("depot").with_file_name("examples").join(name);
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --workspace --all-targets`",
        bin.display()
    );
    bin
}

/// The official `depot` CLI binary (`DEPOT_OFFICIAL_CLI`, set by scripts/test.sh after
/// `npm pack @depot/cli-linux-x64@0.0.1-cli.2.102.12`).
pub fn official_cli() -> PathBuf {
    let path = std::env::var_os("DEPOT_OFFICIAL_CLI")
        .map(PathBuf::from)
        .expect(
            "DEPOT_OFFICIAL_CLI is not set: run scripts/test.sh, which installs the official CLI",
        );
    assert!(
        path.is_file(),
        "DEPOT_OFFICIAL_CLI={} does not exist",
        path.display()
    );
    path
}

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

fn unique_suffix() -> String {
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
            .env("DEPOT_SERVER_LOG", "warn")
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
            .env("DEPOT_SERVER_LOG", "warn")
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
        self.kill();
    }
}

/// A CLI binary with a scratch `HOME` pointed at a server.
pub struct Cli {
    bin: PathBuf,
    /// The scratch home directory.
    pub home: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Cli {
    /// The official CLI against `server`.
    pub fn official(server: &Server) -> Cli {
        Self::new(official_cli(), server)
    }

    /// depot-rs's CLI against `server`.
    pub fn ours(server: &Server) -> Cli {
        Self::new(workspace_bin("depot"), server)
    }

    fn new(bin: PathBuf, server: &Server) -> Cli {
        Cli {
            bin,
            home: tempfile::tempdir().expect("temp dir"),
            env: vec![
                ("DEPOT_API_URL".into(), server.url.clone()),
                ("DEPOT_ERROR_TELEMETRY".into(), "0".into()),
                ("DEPOT_NO_UPDATE_NOTIFIER".into(), "1".into()),
            ],
        }
    }

    /// Sets an environment variable for later runs.
    pub fn env(mut self, key: &str, value: &str) -> Cli {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The command, ready to run in `cwd` (the scratch home if `None`).
    pub fn command(&self, args: &[&str], cwd: Option<&Path>) -> Command {
        self.command_with_program(&self.bin, args, cwd)
    }

    /// Another program (e.g. a wrapper such as `script`) with this CLI's environment.
    pub fn command_with_program(
        &self,
        program: impl AsRef<std::ffi::OsStr>,
        args: &[&str],
        cwd: Option<&Path>,
    ) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(cwd.unwrap_or(self.home.path()))
            .stdin(Stdio::null());
        cmd
    }

    /// Runs to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_in(args, None)
    }

    /// Runs to completion in `cwd`.
    pub fn run_in(&self, args: &[&str], cwd: Option<&Path>) -> Output {
        self.command(args, cwd).output().expect("running the CLI")
    }

    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{} {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            self.bin.display(),
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `list builds --project <project> --output json`, parsed: the project's builds, newest
    /// first.
    pub fn list_builds(&self, project: &str) -> Value {
        let out = self.ok(&["list", "builds", "--project", project, "--output", "json"]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("list builds JSON ({e}): {out}"))
    }

    /// Path of the user config file the CLI writes.
    pub fn user_config(&self) -> PathBuf {
        self.home.path().join(".config/depot/depot.yaml")
    }
}

/// A running CLI whose combined output is collected in the background.
pub struct Running {
    child: Child,
    output: mpsc::Receiver<String>,
    seen: String,
}

impl Running {
    /// Spawns `command` with stdout and stderr collected.
    pub fn spawn(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning");
        let (tx, rx) = mpsc::channel();
        for mut pipe in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0
                        || tx
                            .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                            .is_err()
                    {
                        break;
                    }
                }
            });
        }
        Running {
            child,
            output: rx,
            seen: String::new(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the output contains `needle`; returns everything seen so far.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        while !self.seen.contains(needle) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.output.recv_timeout(left) {
                Ok(chunk) => self.seen.push_str(&chunk),
                Err(_) => panic!(
                    "timed out waiting for {needle:?}; output so far:\n{}",
                    self.seen
                ),
            }
        }
        self.seen.clone()
    }

    /// Waits for exit; returns whether it succeeded and the full output.
    pub fn finish(mut self, timeout: Duration) -> (bool, String) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                while let Ok(chunk) = self.output.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push_str(&chunk);
                }
                return (status.success(), self.seen);
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("process did not exit in time; output:\n{}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The approve-link login id in CLI output (`…/login/<id>`).
pub fn login_id(output: &str) -> String {
    let start = output
        .find("/login/")
        .expect("an approve URL in the output")
        + "/login/".len();
    output[start..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

/// Lossy UTF-8.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs skopeo.
pub fn skopeo(args: &[&str]) -> Output {
    Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is not installed: run scripts/test.sh, which installs it")
}

/// Runs skopeo, which must succeed; returns its stdout.
pub fn skopeo_ok(args: &[&str]) -> String {
    let out = skopeo(args);
    assert!(
        out.status.success(),
        "skopeo {args:?} failed:\n{}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A response read whole.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body.
    pub body: bytes::Bytes,
}

impl HttpResponse {
    /// A header as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The body as text.
    pub fn text(&self) -> String {
        text(&self.body)
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Sends an HTTP/1.1 request to `base` + `path` and reads the whole response.
pub async fn http(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = client
        .request(
            request
                .body(Full::new(bytes::Bytes::copy_from_slice(body)))
                .expect("a valid request"),
        )
        .await
        .expect("HTTP request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("reading the body")
        .to_bytes();
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// `VmHWM` of a process: its peak resident set size, in bytes.
pub fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/<pid>/status")
        * 1024
}

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// `sha256:<hex>` of `data`.
pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A registry client of one depot-server with one token, for tests.
pub struct RegistryClient {
    url: String,
    auth: String,
}

impl RegistryClient {
    /// A client of the server's registry authenticating as `x-token:<token>`.
    pub fn new(server: &Server, token: &str) -> Self {
        let url = server.registry_url.as_ref().unwrap_or(&server.url);
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-token:{token}"));
        RegistryClient {
            url: url.clone(),
            auth: format!("Basic {basic}"),
        }
    }

    /// The `Authorization` header value the client sends.
    pub fn authorization(&self) -> &str {
        &self.auth
    }

    /// Sends a request with the client's credentials.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        let mut all = vec![("authorization", self.auth.as_str())];
        all.extend_from_slice(headers);
        http(&self.url, method, path, &all, body).await
    }

    /// `GET path`, which must answer 200; returns the body.
    pub async fn get_ok(&self, path: &str) -> bytes::Bytes {
        let r = self.call("GET", path, &[], b"").await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        r.body
    }

    /// Uploads a blob with a single `POST ?digest=`; returns its digest.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256(data);
        let r = self
            .call(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
                &[],
                data,
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        digest
    }

    /// Pushes a manifest.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> HttpResponse {
        self.call(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("content-type", media_type)],
            body,
        )
        .await
    }

    /// Pushes an image docker can run (a real layer holding `files`) tagged `tag`; returns the
    /// manifest digest.
    pub async fn push_runnable_image(
        &self,
        repo: &str,
        tag: &str,
        files: &[(&str, &[u8])],
    ) -> String {
        self.push_layers(repo, tag, &[image_layer(files)]).await
    }

    /// Pushes an image of `layers` tagged `tag`; returns the manifest digest.
    pub async fn push_layers(&self, repo: &str, tag: &str, layers: &[Layer]) -> String {
        let mut pushed = Vec::new();
        for layer in layers {
            pushed.push((self.push_blob(repo, &layer.gz).await, layer.gz.len()));
        }
        let refs: Vec<(&str, usize)> = pushed.iter().map(|(d, s)| (d.as_str(), *s)).collect();
        let config = image_config(layers);
        let config_digest = self.push_blob(repo, &config).await;
        let manifest = image_manifest((&config_digest, config.len()), &refs, None);
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &manifest).await;
        assert_eq!(r.status, 201, "{}", r.text());
        sha256(&manifest)
    }

    /// Pushes a config and one layer and an image manifest tagged `tag`; returns the manifest
    /// bytes and digest.
    pub async fn push_image(&self, repo: &str, tag: &str, seed: &str) -> (Vec<u8>, String) {
        let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#);
        let layer = format!("layer of {seed}").repeat(100);
        let manifest = image_manifest(
            (&self.push_blob(repo, config.as_bytes()).await, config.len()),
            &[(&self.push_blob(repo, layer.as_bytes()).await, layer.len())],
            None,
        );
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &manifest).await;
        assert_eq!(r.status, 201, "{}", r.text());
        let digest = sha256(&manifest);
        assert_eq!(r.header("docker-content-digest"), digest);
        (manifest, digest)
    }
}

/// An OCI image manifest over `config` and `layers` (digest, size), plus `extra` fields.
pub fn image_manifest(
    config: (&str, usize),
    layers: &[(&str, usize)],
    extra: Option<Value>,
) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1},
        "layers": layers.iter().map(|(d, s)| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s
        })).collect::<Vec<_>>(),
    });
    if let Some(Value::Object(extra)) = extra {
        m.as_object_mut().unwrap().extend(extra);
    }
    serde_json::to_vec(&m).unwrap()
}

/// A gzipped tar layer and its uncompressed digest (the image config's `diff_id`).
pub struct Layer {
    /// The compressed layer.
    pub gz: Vec<u8>,
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
}

/// A real image layer holding `files` (path, content), each mode 0644.
pub fn image_layer(files: &[(&str, &[u8])]) -> Layer {
    use std::io::Write as _;
    let mut builder = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, *content)
            .expect("writing a tar entry");
    }
    let tar = builder.into_inner().expect("finishing the tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("compressing");
    Layer {
        gz: gz.finish().expect("compressing"),
        diff_id: sha256(&tar),
    }
}

/// An image config for linux/amd64 over `layers`.
pub fn image_config(layers: &[Layer]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
    }))
    .expect("JSON")
}

/// A CNCF distribution registry (Debian's `docker-registry`) on a loopback port, without auth
/// or with htpasswd (basic) auth.
pub struct Distribution {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub host: String,
    _dir: tempfile::TempDir,
}

impl Distribution {
    /// Starts one with its own storage directory, open to everyone.
    pub fn start() -> Distribution {
        Distribution::start_with(None)
    }

    /// Starts one that admits only `user` with `password` (htpasswd, bcrypt).
    pub fn start_with_login(user: &str, password: &str) -> Distribution {
        Distribution::start_with(Some((user, password)))
    }

    fn start_with(login: Option<(&str, &str)>) -> Distribution {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let host = format!("127.0.0.1:{port}");
        let auth = match login {
            None => String::new(),
            Some((user, password)) => {
                let file = dir.path().join("htpasswd");
                let hash = bcrypt::hash(password, 5).expect("bcrypt");
                std::fs::write(&file, format!("{user}:{hash}\n")).expect("writing htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: depot-rs-test\n    path: {}\n",
                    file.display()
                )
            }
        };
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n{auth}",
                dir.path().join("data").display()
            ),
        )
        .expect("writing the distribution config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry is not installed: run scripts/test.sh, which installs it");
        // Owned from here on, so a failed start still stops the process.
        let registry = Distribution {
            child,
            host,
            _dir: dir,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(&registry.host).is_ok() {
                return registry;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not start on {}", registry.host);
    }

    /// The process id of the registry.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The local Docker Engine's id for `image` (the manifest digest with the containerd image
/// store), if it has the image.
pub fn docker_image_id(image: &str) -> Option<String> {
    let out = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .output()
        .expect("docker is not installed: run scripts/test.sh");
    out.status
        .success()
        .then(|| text(&out.stdout).trim().to_owned())
}

/// A local image name no other test (or earlier run) uses: `depot-rs-test/<base>:<unique>`.
/// Test binaries that run builds use these instead of removing images, because removing an
/// image makes the Engine collect content, which can take snapshots from under a build
/// running concurrently ("snapshot … does not exist"). scripts/test.sh removes them all at the
/// end.
pub fn unique_image(base: &str) -> String {
    format!("depot-rs-test/{base}:{}", unique_suffix())
}

/// Removes images from the local Docker Engine, ignoring ones it does not have. Only for test
/// binaries that run no builds (see [`unique_image`]).
pub fn docker_rmi(images: &[&str]) {
    let _ = Command::new("docker").arg("rmi").args(images).output();
}

/// The test Docker Engine's BuildKit: `DOCKER_HOST=unix://…` if set, else the default socket.
pub fn docker_buildkit() -> depot_build::buildkit::Endpoint {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => {
            format!("docker://{}", host.trim_start_matches("unix://"))
                .parse()
                .expect("a docker endpoint")
        }
        _ => "docker://".parse().expect("a docker endpoint"),
    }
}

/// A busybox root file system (`/bin/busybox` and links for common tools, `/tmp`): nothing
/// can be pulled here, so test builds start `FROM scratch` and copy this in from a named build
/// context, which gives RUN steps a shell.
///
/// Each one also holds a unique `/etc/depot-rs-test` file, so its layer is cached for its own
/// test only: a build canceled before BuildKit finalized a layer leaves a cache record whose
/// snapshot is gone, and every later build with the same layer would fail ("failed to commit …
/// snapshot … does not exist").
pub fn busybox_rootfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox"))
        .expect("/bin/busybox (Debian's busybox-static) is missing: run scripts/test.sh");
    for tool in [
        "sh", "cat", "echo", "ls", "sleep", "mkdir", "find", "sort", "wc", "test", "uname",
    ] {
        std::os::unix::fs::symlink("busybox", bin.join(tool)).unwrap();
    }
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    std::fs::write(dir.path().join("etc/depot-rs-test"), unique_suffix()).unwrap();
    dir
}

/// Runs the docker CLI with the scratch client config `config` (its logins stay there), writing
/// `stdin` to it if given; `DOCKER_HOST` as in the environment.
pub fn docker_with_config(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new("docker")
        .args(args)
        .env("DOCKER_CONFIG", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker is not installed: run scripts/test.sh, which installs and starts it");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}
