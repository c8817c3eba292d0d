//! Per-project builders (`--builder engines`, the default): each project's builds run on a
//! Docker Engine of its own that depot-server starts, so no project ever reaches another's
//! layer cache or cache mounts; `depot cache reset` (ours and the official CLI's) empties it;
//! an idle builder stops and comes back with its cache; and no engine outlives its server.
//!
//! The project's cache policy is applied after each build (`keep_bytes`), and `depot cache
//! show` reports what the cache holds.
//!
//! Builds write `/stamp`, a fresh UUID, so a step that ran shows a new one and a step that came
//! from the cache shows the old one; the result is exported with `-o type=local`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use depot_core::proto::depot::core::v1::{CachePolicy, CreateProjectRequest, UpdateProjectRequest};
use depot_tests::{Cli, Running, Server, busybox_rootfs, text, workspace_bin};

/// Writes a fresh UUID to the project's `shared` cache mount, and copies it to `/stamp`.
const WRITER: &str = "FROM scratch\nCOPY --from=rootfs / /\n\
    RUN --mount=type=cache,target=/cache,id=shared \
    sh -c 'cat /proc/sys/kernel/random/uuid > /cache/leak && cat /cache/leak > /stamp'\n";

/// Copies whatever the `shared` cache mount holds to `/seen` (nothing when it is empty).
const READER: &str = "FROM scratch\nCOPY --from=rootfs / /\n\
    RUN --mount=type=cache,target=/cache,id=shared \
    sh -c 'cat /cache/leak > /seen 2>/dev/null; cat /proc/sys/kernel/random/uuid > /stamp'\n";

/// Two Dockerfiles, one root file system (the same for every project, so layers would match
/// if caches were shared) and a scratch directory.
struct Contexts {
    writer: PathBuf,
    reader: PathBuf,
    rootfs: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Contexts {
    fn new() -> Contexts {
        let work = tempfile::tempdir().unwrap();
        let context = |name: &str, dockerfile: &str| {
            let dir = work.path().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
            dir
        };
        Contexts {
            writer: context("writer", WRITER),
            reader: context("reader", READER),
            rootfs: busybox_rootfs(),
            work,
        }
    }

    /// Builds `context` in `project` with `cli`, exporting the result; returns the exported
    /// file `name` ("" when absent).
    fn build(&self, cli: &Cli, project: &str, context: &Path, name: &str) -> String {
        let out = self.work.path().join(format!("out-{}", unique()));
        let args = [
            "build",
            "--project",
            project,
            "--progress",
            "plain",
            "--build-context",
            &format!("rootfs={}", self.rootfs.path().display()),
            "-o",
            &format!("type=local,dest={}", out.display()),
            &context.display().to_string(),
        ];
        let output = cli.run(&args);
        assert!(
            output.status.success(),
            "depot build in {project} failed:\n{}",
            text(&output.stderr)
        );
        std::fs::read_to_string(out.join(name)).unwrap_or_default()
    }
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Waits until `done` holds (or fails after `limit`).
fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn projects_never_share_a_cache_and_a_reset_empties_it() {
    let server = Server::start().await;
    let a = server.bootstrap("alice");
    let b = server.bootstrap("bob"); // another organization
    let c = server
        .client(&a.token)
        .project_admin()
        .create_project(CreateProjectRequest {
            name: "neighbour".into(),
            organization_id: Some(a.org_id.clone()),
            ..Default::default()
        })
        .await
        .expect("CreateProject")
        .project
        .expect("a project")
        .project_id; // the same organization as A
    let alice = Cli::ours(&server).env("DEPOT_TOKEN", &a.token);
    let bob = Cli::ours(&server).env("DEPOT_TOKEN", &b.token);
    let contexts = Contexts::new();

    // A's cache: the second build of the writer is cached, and the reader sees A's cache mount.
    let first = contexts.build(&alice, &a.project_id, &contexts.writer, "stamp");
    assert!(!first.is_empty());
    assert_eq!(
        contexts.build(&alice, &a.project_id, &contexts.writer, "stamp"),
        first,
        "A's second build should come from A's cache"
    );
    assert_eq!(
        contexts.build(&alice, &a.project_id, &contexts.reader, "seen"),
        first,
        "the reader sees the cache mount of its own project"
    );

    // Another organization's project, and another project of A's organization: neither sees
    // A's cache mount, and neither gets A's layers.
    let mut stamps = Vec::new();
    for (cli, project) in [(&bob, &b.project_id), (&alice, &c)] {
        assert_eq!(
            contexts.build(cli, project, &contexts.reader, "seen"),
            "",
            "project {project} saw A's cache mount"
        );
        let stamp = contexts.build(cli, project, &contexts.writer, "stamp");
        assert_ne!(stamp, first, "project {project} got A's layer cache");
        stamps.push(stamp);
    }
    assert!(server.engines() >= 3, "one builder per project");
    // `depot-server builders list`: one running builder per project, each with its cache.
    let listed: serde_json::Value =
        serde_json::from_str(&server.admin_ok(&["builders", "list", "--output", "json"])).unwrap();
    let mut projects: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            assert_eq!(b["state"], "running", "{listed}");
            assert_eq!(b["arch"], "amd64", "{listed}");
            assert!(b["cache_bytes"].as_u64().unwrap() > 0, "{listed}");
            b["project_id"].as_str().unwrap()
        })
        .collect();
    projects.sort_unstable();
    let mut expected = vec![a.project_id.as_str(), b.project_id.as_str(), c.as_str()];
    expected.sort_unstable();
    assert_eq!(projects, expected, "{listed}");

    // `depot cache reset` (ours): A's next build runs every step again.
    alice.ok(&["cache", "reset", "--project", &a.project_id]);
    let after_ours = contexts.build(&alice, &a.project_id, &contexts.writer, "stamp");
    assert_ne!(after_ours, first, "the build after a reset was cached");
    assert_eq!(
        contexts.build(&alice, &a.project_id, &contexts.writer, "stamp"),
        after_ours,
        "the build after that is cached again"
    );
    // The official CLI's reset too.
    let official = Cli::official(&server).env("DEPOT_TOKEN", &a.token);
    official.ok(&["cache", "reset", "--project", &a.project_id]);
    assert_ne!(
        contexts.build(&alice, &a.project_id, &contexts.writer, "stamp"),
        after_ours,
        "the build after the official CLI's reset was cached"
    );
    // Depot's public API's ResetProject too.
    let before = contexts.build(&alice, &a.project_id, &contexts.writer, "stamp");
    server
        .client(&a.token)
        .project_admin()
        .reset_project(depot_core::proto::depot::core::v1::ResetProjectRequest {
            project_id: a.project_id.clone(),
        })
        .await
        .expect("ResetProject");
    assert_ne!(
        contexts.build(&alice, &a.project_id, &contexts.writer, "stamp"),
        before,
        "the build after ResetProject was cached"
    );
    // B's cache was left alone by A's resets.
    assert_eq!(
        contexts.build(&bob, &b.project_id, &contexts.writer, "stamp"),
        stamps[0],
        "B's cache did not survive A's resets"
    );
}

#[tokio::test]
async fn idle_builders_stop_and_come_back_with_their_cache_and_none_outlives_its_server() {
    let mut server = Server::start_with(vec!["--builder-idle-timeout".into(), "2s".into()]).await;
    let boot = server.bootstrap("idle");
    let cli = Cli::ours(&server).env("DEPOT_TOKEN", &boot.token);
    let contexts = Contexts::new();
    let stamp = contexts.build(&cli, &boot.project_id, &contexts.writer, "stamp");
    assert_eq!(
        server.engines(),
        1,
        "the build started the project's builder"
    );

    // Idle for longer than the timeout: stopped; the next build starts it again, cached, even
    // in another engine slot (another project's builder took the one it had).
    wait_until(Duration::from_secs(30), "the idle builder's stop", || {
        server.engines() == 0
    });
    let neighbour = server.bootstrap("idle-neighbour");
    let neighbour_cli = Cli::ours(&server).env("DEPOT_TOKEN", &neighbour.token);
    contexts.build(
        &neighbour_cli,
        &neighbour.project_id,
        &contexts.writer,
        "stamp",
    );
    assert_eq!(
        contexts.build(&cli, &boot.project_id, &contexts.writer, "stamp"),
        stamp,
        "the restarted builder lost its cache"
    );
    wait_until(Duration::from_secs(30), "the idle builders' stop", || {
        server.engines() == 0
    });

    // A server killed outright takes its engines with it; its successor cleans up and builds
    // from the same cache. (`cache show` first: it returns once the cache policy has been
    // applied after the build, so the kill does not interrupt that.)
    assert_eq!(
        contexts.build(&cli, &boot.project_id, &contexts.writer, "stamp"),
        stamp
    );
    assert_eq!(server.engines(), 1);
    cli.ok(&["cache", "show", "--project", &boot.project_id]);
    server.restart();
    wait_until(
        Duration::from_secs(30),
        "the killed server's engine stop",
        || server.engines() == 0,
    );
    assert_eq!(
        contexts.build(&cli, &boot.project_id, &contexts.writer, "stamp"),
        stamp,
        "the builder lost its cache across a server restart"
    );

    // SIGTERM: the server stops its engines before it exits.
    assert_eq!(server.engines(), 1);
    server.stop();
    assert_eq!(server.engines(), 0, "an engine outlived its server");
}

#[tokio::test]
async fn a_projects_cache_stays_within_its_keep_bytes() {
    const KEEP: i64 = 16 << 20;
    const LAYER: usize = 6 << 20;
    let server = Server::start().await;
    let boot = server.bootstrap("policy");
    server
        .client(&boot.token)
        .project_admin()
        .update_project(UpdateProjectRequest {
            project_id: boot.project_id.clone(),
            cache_policy: Some(CachePolicy {
                keep_bytes: KEEP,
                keep_days: 14,
            }),
            ..Default::default()
        })
        .await
        .expect("UpdateProject");
    let cli = Cli::ours(&server).env("DEPOT_TOKEN", &boot.token);
    let contexts = Contexts::new();
    std::os::unix::fs::symlink("busybox", contexts.rootfs.path().join("bin/head")).unwrap();
    let context = contexts.work.path().join("layers");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        format!(
            "FROM scratch\nCOPY --from=rootfs / /\nARG NONCE\n\
             RUN head -c {LAYER} /dev/urandom > /blob && echo $NONCE > /stamp\n"
        ),
    )
    .unwrap();
    let show = || -> serde_json::Value {
        let out = cli.ok(&[
            "cache",
            "show",
            "--project",
            &boot.project_id,
            "--output",
            "json",
        ]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    // Five builds of 6 MiB of new layers each: 30 MiB made, never more than 16 MiB kept.
    for nonce in 0..5 {
        let nonce = nonce.to_string();
        let args = [
            "build",
            "--project",
            &boot.project_id,
            "--progress",
            "plain",
            "--build-context",
            &format!("rootfs={}", contexts.rootfs.path().display()),
            "--build-arg",
            &format!("NONCE={nonce}"),
            &context.display().to_string(),
        ];
        let out = cli.run(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let shown = show();
        let builder = &shown[0];
        assert_eq!(builder["arch"], "amd64", "{shown}");
        assert_eq!(builder["state"], "running", "{shown}");
        assert_eq!(builder["keep_bytes"], KEEP, "{shown}");
        let bytes = builder["bytes"].as_i64().expect("bytes");
        assert!(
            bytes <= KEEP,
            "the cache holds {bytes} bytes, over its {KEEP}: {shown}"
        );
        assert!(
            bytes >= LAYER as i64,
            "the cache lost the latest build's layer ({bytes} bytes): {shown}"
        );
        assert!(builder["last_used_at"].is_string(), "{shown}");
    }
}

#[tokio::test]
async fn a_remote_builder_shared_by_every_tenant_needs_the_operators_consent() {
    let dir = tempfile::tempdir().unwrap();
    let start = |builder: &str, extra: &[&str]| {
        std::process::Command::new(workspace_bin("depot-server"))
            .args(["--listen", "127.0.0.1:0", "--builder", "none"])
            .args(["--remote-builder", builder])
            .args(extra)
            .env("DEPOT_SERVER_DATA_DIR", dir.path())
            .env("DEPOT_SERVER_LOG", "warn")
            .output()
            .expect("running depot-server")
    };
    let refused = start("tcp://127.0.0.1:9", &[]);
    assert!(!refused.status.success());
    let message = text(&refused.stderr);
    assert!(
        message.contains("assign it to a project or organization")
            && message.contains("--share-remote-builders"),
        "{message}"
    );
    // Assigned to a tenant, or shared on purpose, it is accepted.
    let assigned = Server::start_with(vec![
        "--builder".into(),
        "none".into(),
        "--remote-builder".into(),
        "tcp://127.0.0.1:9?org=acme".into(),
    ])
    .await;
    drop(assigned);
    let shared = Server::start_with(vec![
        "--builder".into(),
        "none".into(),
        "--remote-builder".into(),
        "tcp://127.0.0.1:9".into(),
        "--share-remote-builders".into(),
    ])
    .await;
    drop(shared);
}

#[tokio::test]
async fn a_busy_project_gets_another_builder_and_its_builds_run_at_once() {
    let server = Server::start().await;
    let boot = server.bootstrap("busy");
    let cli = Cli::ours(&server).env("DEPOT_TOKEN", &boot.token);
    let project = boot.project_id.as_str();
    let settings = cli.ok(&[
        "projects",
        "builders",
        "--project",
        project,
        "--builds-per-builder",
        "1",
        "--max-builders",
        "2",
        "--output",
        "json",
    ]);
    let settings: serde_json::Value = serde_json::from_str(&settings).unwrap();
    assert_eq!(settings[0]["value"], 1, "{settings}");
    assert_eq!(settings[1]["value"], 2, "{settings}");
    assert_eq!(settings[1]["from"], "project", "{settings}");
    let contexts = Contexts::new();
    let slow = contexts.work.path().join("slow");
    std::fs::create_dir_all(&slow).unwrap();
    std::fs::write(
        slow.join("Dockerfile"),
        "FROM scratch\nCOPY --from=rootfs / /\nRUN echo slow-started && sleep 120\n",
    )
    .unwrap();

    // One build holds the project's only builder slot...
    let rootfs = format!("rootfs={}", contexts.rootfs.path().display());
    let slow = slow.display().to_string();
    let args = [
        "build",
        "--project",
        project,
        "--progress",
        "plain",
        "--build-context",
        &rootfs,
        &slow,
    ];
    let mut running = Running::spawn(cli.command(&args, None));
    running.wait_for("slow-started", Duration::from_secs(120));
    // ...and the next one runs on a second builder, to the end, while the first still runs.
    let stamp = contexts.build(&cli, project, &contexts.writer, "stamp");
    assert!(!stamp.is_empty());
    assert!(
        running.is_running(),
        "the first build ended before the second ran"
    );
    assert_eq!(
        server.engines(),
        2,
        "the busy project did not get a second builder"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&cli.ok(&["cache", "show", "--project", project, "--output", "json"]))
            .unwrap();
    let mut indexes: Vec<u64> = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["index"].as_u64().unwrap())
        .collect();
    indexes.sort_unstable();
    assert_eq!(indexes, [0, 1], "{shown}");
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &running.pid().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let (ok, _) = running.finish(Duration::from_secs(60));
    assert!(!ok, "the interrupted build succeeded");
}
