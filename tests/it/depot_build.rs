//! `depot build` (our CLI) through a real depot-server and its builder (the local Docker
//! Engine 26's BuildKit behind mTLS): saved builds pulled and pushed on, pushes to CNCF
//! distribution, loads into Docker, OCI tarballs, failures and Ctrl-C.
//!
//! Nothing can be pulled here, so images start `FROM scratch` with a busybox `rootfs` context.
//! Each test has a root file system of its own (see `busybox_rootfs`), so a build canceled
//! here cannot leave a broken cache record behind for another test's layers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use depot_tests::{
    Cli, Distribution, Running, Server, busybox_rootfs, docker_image_id, skopeo_ok, text,
    unique_image,
};
use serde_json::Value;

/// The README's example image.
fn example_image() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/image")
}

/// A server, a user token and project, our CLI with that token, and a busybox root file system.
struct Setup {
    server: Server,
    project: String,
    token: String,
    cli: Cli,
    rootfs: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Setup {
        Self::with_server_args(Vec::new()).await
    }

    async fn with_server_args(args: Vec<String>) -> Setup {
        let server = Server::start_with(args).await;
        let boot = server.bootstrap("bo");
        let cli = Cli::ours(&server).env("DEPOT_TOKEN", &boot.token);
        Setup {
            server,
            project: boot.project_id,
            token: boot.token,
            cli,
            rootfs: busybox_rootfs(),
            work: tempfile::tempdir().unwrap(),
        }
    }

    /// `depot build` of `context` in the project, with the rootfs context and plain progress.
    fn build_args(&self, context: &Path, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = [
            "build",
            "--project",
            &self.project,
            "--progress",
            "plain",
            "--build-context",
            &format!("rootfs={}", self.rootfs.path().display()),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args.push(context.display().to_string());
        args
    }

    /// Runs a build; returns whether it succeeded and everything it printed.
    fn build(&self, context: &Path, extra: &[&str]) -> (bool, String) {
        let args = self.build_args(context, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.cli.run(&args);
        (
            out.status.success(),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    }

    /// Runs a build that must succeed and returns its metadata file.
    fn build_ok(&self, context: &Path, extra: &[&str]) -> Value {
        let metadata = self.work.path().join("metadata.json");
        let _ = std::fs::remove_file(&metadata);
        let mut args = vec!["--metadata-file", metadata.to_str().unwrap()];
        args.extend_from_slice(extra);
        let (ok, log) = self.build(context, &args);
        assert!(ok, "depot build {extra:?} failed:\n{log}");
        serde_json::from_str(&std::fs::read_to_string(&metadata).unwrap()).unwrap()
    }

    /// The status `depot list builds` shows for `build_id`.
    fn status(&self, build_id: &str) -> String {
        let list = self.cli.list_builds(&self.project);
        list.as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == build_id)
            .map(|b| b["status"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("build {build_id} is not listed: {list}"))
    }

    /// The ID of the project's newest build.
    fn latest_build(&self) -> String {
        let list = self.cli.list_builds(&self.project);
        list[0]["id"].as_str().expect("a build").to_owned()
    }
}

fn build_id(metadata: &Value) -> String {
    metadata["depot.build"]["buildID"]
        .as_str()
        .expect("depot.build.buildID")
        .to_owned()
}

fn digest(metadata: &Value) -> String {
    metadata["containerimage.digest"]
        .as_str()
        .expect("containerimage.digest")
        .to_owned()
}

/// The manifest digest of `image` (plain HTTP, `creds` if given).
fn remote_digest(image: &str, creds: Option<&str>) -> String {
    let mut args = vec!["inspect", "--tls-verify=false", "--format", "{{.Digest}}"];
    if let Some(creds) = creds {
        args.extend(["--creds", creds]);
    }
    let image = format!("docker://{image}");
    args.push(&image);
    skopeo_ok(&args).trim().to_owned()
}

/// The first line `docker run --rm image` prints.
fn run_image(image: &str) -> String {
    let ran = std::process::Command::new("docker")
        .args(["run", "--rm", image])
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "docker run {image}: {}",
        text(&ran.stderr)
    );
    text(&ran.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A context whose Dockerfile is the busybox base plus `steps`.
fn context_with(dir: &Path, steps: &str) -> PathBuf {
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM scratch\nCOPY --from=rootfs / /\n{steps}"),
    )
    .unwrap();
    dir.to_owned()
}

#[tokio::test]
async fn save_then_pull_into_docker_and_push_to_another_registry() {
    let setup = Setup::new().await;
    let metadata = setup.build_ok(&example_image(), &["--save", "--save-tag", "extra"]);
    let build_id = build_id(&metadata);
    let digest = digest(&metadata);
    assert_eq!(metadata["depot.build"]["projectID"], setup.project.as_str());
    let creds = format!("x-token:{}", setup.token);
    let repo = format!("{}/{}", setup.server.host(), setup.project);
    for tag in [build_id.as_str(), "extra"] {
        assert_eq!(
            remote_digest(&format!("{repo}:{tag}"), Some(&creds)),
            digest
        );
    }
    assert_eq!(setup.status(&build_id), "finished");
    // The CLI streamed BuildKit's status: the steps, with their cache hits, are on the
    // build's record and its summary page.
    let shown = setup.server.admin_ok(&["build", "show", &build_id]);
    assert!(shown.contains("RUN mkdir -p /out"), "{shown}");
    assert!(
        shown.contains("[base 1/1] COPY --from=rootfs / /"),
        "{shown}"
    );

    let pulled = unique_image("our-build");
    setup.cli.ok(&[
        "pull",
        &build_id,
        "--project",
        &setup.project,
        "-t",
        &pulled,
    ]);
    assert_eq!(run_image(&pulled), "Hello from a depot-rs build.");

    let second = Distribution::start();
    let destination = format!("{}/copies/app:v1", second.host);
    setup.cli.ok(&[
        "push",
        &build_id,
        "--project",
        &setup.project,
        "-t",
        &destination,
    ]);
    assert_eq!(remote_digest(&destination, None), digest);
}

#[tokio::test]
async fn push_sends_one_image_to_every_tag() {
    let setup = Setup::new().await;
    let registry = Distribution::start();
    let (one, two) = (
        format!("{}/app:1", registry.host),
        format!("{}/app:2", registry.host),
    );
    let metadata = setup.build_ok(&example_image(), &["--push", "-t", &one, "-t", &two]);
    let digest = digest(&metadata);
    assert_eq!(remote_digest(&one, None), digest);
    assert_eq!(remote_digest(&two, None), digest);
    assert_eq!(metadata["image.name"], format!("{one},{two}").as_str());
    assert_eq!(setup.status(&build_id(&metadata)), "finished");
}

#[tokio::test]
async fn load_puts_the_image_into_docker() {
    let setup = Setup::new().await;
    let loaded = unique_image("our-build");
    setup.build_ok(&example_image(), &["--load", "-t", &loaded]);
    assert!(docker_image_id(&loaded).is_some(), "{loaded} is in Docker");
    assert_eq!(run_image(&loaded), "Hello from a depot-rs build.");
}

#[tokio::test]
async fn oci_output_writes_a_tarball() {
    let setup = Setup::new().await;
    let tarball = setup.work.path().join("image.tar");
    setup.build_ok(
        &example_image(),
        &["-o", &format!("type=oci,dest={}", tarball.display())],
    );
    let mut archive = tar::Archive::new(std::fs::File::open(&tarball).unwrap());
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.iter().any(|n| n == "index.json"), "{names:?}");
    assert!(names.iter().any(|n| n == "oci-layout"), "{names:?}");
}

#[tokio::test]
async fn an_output_to_dest_minus_is_a_tarball_on_standard_output() {
    // The CLI has a standard output, so `dest=-` writes there (the SDK packages refuse it).
    let setup = Setup::new().await;
    let dir = tempfile::tempdir().unwrap();
    let context = context_with(dir.path(), "RUN echo on-stdout > /marker\n");
    let args = setup.build_args(&context, &["-o", "type=tar,dest=-"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = setup.cli.run(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut archive = tar::Archive::new(&out.stdout[..]);
    let marker = archive
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|entry| entry.path().unwrap().ends_with("marker"))
        .map(|mut entry| {
            let mut content = String::new();
            std::io::Read::read_to_string(&mut entry, &mut content).unwrap();
            content
        });
    assert_eq!(marker.as_deref(), Some("on-stdout\n"));
}

#[tokio::test]
async fn a_failing_step_fails_the_build_with_its_log() {
    let setup = Setup::new().await;
    let dir = tempfile::tempdir().unwrap();
    let context = context_with(dir.path(), "RUN echo about-to-fail && exit 3\n");
    let (ok, log) = setup.build(&context, &[]);
    assert!(!ok, "the build should fail:\n{log}");
    assert!(log.contains("about-to-fail"), "{log}");
    assert!(log.contains("exit code: 3"), "{log}");
    assert_eq!(setup.status(&setup.latest_build()), "failed");
}

#[tokio::test]
async fn ctrl_c_cancels_the_build_and_releases_the_builder() {
    // One build at a time: the next build only runs if the canceled one gave the builder back.
    let mut setup = Setup::with_server_args(vec!["--builder-concurrency".into(), "1".into()]).await;
    let dir = tempfile::tempdir().unwrap();
    let context = context_with(dir.path(), "RUN echo sleeping-now && sleep 120\n");
    let args = setup.build_args(&context, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut running = Running::spawn(setup.cli.command(&args, None));
    running.wait_for("sleeping-now", Duration::from_secs(120));
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &running.pid().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let started = std::time::Instant::now();
    let (ok, log) = running.finish(Duration::from_secs(60));
    assert!(!ok, "{log}");
    assert!(started.elapsed() < Duration::from_secs(30), "{log}");
    assert!(log.contains("canceled"), "{log}");
    assert_eq!(setup.status(&setup.latest_build()), "canceled");

    // The builder was given back: the next build gets it and runs. It starts from a root file
    // system of its own: the Engine's BuildKit can keep a cache record for a layer of the
    // canceled build whose snapshot is gone, and reusing it fails ("snapshot … does not
    // exist").
    setup.rootfs = busybox_rootfs();
    let quick = tempfile::tempdir().unwrap();
    let context = context_with(quick.path(), "RUN echo quick\n");
    let (ok, log) = setup.build(&context, &[]);
    assert!(ok, "{log}");
}
