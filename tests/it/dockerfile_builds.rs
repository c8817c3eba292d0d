//! Dockerfile builds through depot-build's BuildKit client against the real BuildKit of
//! Docker Engine 26 (containerd image store), which scripts/test.sh installs and starts.
//!
//! Nothing can be pulled here, so builds start `FROM scratch` and copy a busybox root file
//! system in from a named build context (`rootfs`), which gives RUN steps a shell.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use depot_build::buildkit::session::{Credentials, SecretSource, SecretSpec, StaticCredentials};
use depot_build::buildkit::{BuildKit, BuildOptions, BuildResult, Error, Output, TarDestination};
use depot_build::events::BuildEvent;
use depot_build::progress::{PlainPrinter, Printer};
use depot_tests::{Distribution, busybox_rootfs as rootfs, docker_buildkit};
use futures_util::StreamExt;

/// The first lines of every test Dockerfile: a busybox stage named `base`.
const BASE: &str = "FROM scratch AS base\nCOPY --from=rootfs / /\n";

/// Writes `files` (path → content) under `dir`.
fn write_tree(dir: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

async fn buildkit() -> BuildKit {
    BuildKit::connect(docker_buildkit())
        .await
        .expect("the test dockerd (scripts/test.sh starts it)")
}

/// Options for building `context` with the busybox `rootfs` context.
fn options(context: &Path, rootfs: &Path) -> BuildOptions {
    BuildOptions {
        context: context.to_owned(),
        build_contexts: [("rootfs".to_owned(), rootfs.display().to_string())].into(),
        client_id: Some("depot-rs-tests".into()),
        ..BuildOptions::default()
    }
}

/// Runs a build to the end, collecting its events and its plain progress output.
async fn run(
    buildkit: &BuildKit,
    options: BuildOptions,
) -> (Result<BuildResult, Error>, Vec<BuildEvent>, String) {
    let mut build = buildkit.build(options);
    let mut events = Vec::new();
    let plain = SharedBuffer::default();
    let mut printer = PlainPrinter::new(Box::new(plain.clone()), None);
    while let Some(event) = build.next().await {
        printer.event(&event);
        events.push(event);
    }
    let result = build.result().await;
    printer.finish(result.as_ref().err().map(|e| e.to_string()).as_deref());
    drop(printer);
    let plain = String::from_utf8(plain.0.lock().unwrap().clone()).unwrap();
    (result, events, plain)
}

/// An in-memory writer the printer and the test share.
#[derive(Clone, Default)]
struct SharedBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every file below `dir`, relative, with its content.
fn read_tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(name, std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[tokio::test]
async fn builds_a_dockerfile_into_a_directory_and_an_oci_tarball() {
    let rootfs = rootfs();
    let context = tempfile::tempdir().unwrap();
    let assets = tempfile::tempdir().unwrap();
    write_tree(assets.path(), &[("data.txt", "from the named context\n")]);
    write_tree(
        context.path(),
        &[
            ("app/main.txt", "main\n"),
            ("app/debug.log", "excluded\n"),
            ("app/keep.log", "kept by an exception\n"),
            ("node_modules/pkg/index.js", "re-included\n"),
            ("node_modules/pkg/other.js", "excluded with its directory\n"),
            ("secret.env", "never sent\n"),
            (
                ".dockerignore",
                "# comments and blank lines are skipped\n\n**/*.log\n!app/keep.log\nnode_modules\n!node_modules/pkg/index.js\n/secret.env\n",
            ),
            (
                "Dockerfile",
                &format!(
                    "{BASE}
FROM base AS build
ARG GREETING=unset
RUN echo \"greeting=$GREETING\" > /greeting.txt
RUN --mount=type=secret,id=token cat /run/secrets/token > /secret-copy.txt
COPY . /ctx
RUN cd /ctx && find . -type f | sort > /ctx-files.txt
COPY --from=assets data.txt /assets.txt

FROM scratch
COPY --from=build /greeting.txt /secret-copy.txt /ctx-files.txt /assets.txt /
COPY --from=build /ctx /ctx
"
                ),
            ),
        ],
    );
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "s3cr3t").unwrap();
    let out = tempfile::tempdir().unwrap();
    let oci = out.path().join("image.tar");
    let local = out.path().join("files");

    let buildkit = buildkit().await;
    let mut opts = options(context.path(), rootfs.path());
    opts.build_args.insert("GREETING".into(), "hello".into());
    opts.build_contexts
        .insert("assets".into(), assets.path().display().to_string());
    opts.secrets.push(SecretSpec {
        id: "token".into(),
        source: SecretSource::File(secret.path().into()),
    });
    opts.outputs = vec![
        Output::Local { dir: local.clone() },
        Output::Oci {
            dest: TarDestination::File(oci.clone()),
            attrs: BTreeMap::new(),
        },
    ];
    let (result, events, plain) = run(&buildkit, opts).await;
    let result = result.unwrap_or_else(|err| panic!("build failed: {err}\n{plain}"));

    let files = read_tree(&local);
    assert_eq!(files["greeting.txt"], "greeting=hello\n");
    assert_eq!(files["secret-copy.txt"], "s3cr3t");
    assert_eq!(files["assets.txt"], "from the named context\n");
    assert_eq!(
        files["ctx-files.txt"],
        "./.dockerignore\n./Dockerfile\n./app/keep.log\n./app/main.txt\n./node_modules/pkg/index.js\n",
        "the context as the daemon received it"
    );
    assert!(!files.contains_key("ctx/secret.env"));
    assert_eq!(files["ctx/app/keep.log"], "kept by an exception\n");

    // The OCI tarball: an index naming the manifest the exporter reported.
    let mut archive = tar::Archive::new(std::fs::File::open(&oci).unwrap());
    let mut names = Vec::new();
    let mut index = String::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        if name == "index.json" {
            std::io::Read::read_to_string(&mut entry, &mut index).unwrap();
        }
        names.push(name);
    }
    assert!(names.contains(&"oci-layout".to_owned()), "{names:?}");
    let digest = result
        .exporter_response
        .image_digest
        .clone()
        .expect("the image digest in the exporter response");
    assert!(index.contains(&digest), "{index} should name {digest}");
    assert!(names.contains(&format!(
        "blobs/sha256/{}",
        digest.trim_start_matches("sha256:")
    )));
    assert!(!out.path().join(".image.tar.partial").exists());

    // Events and the plain rendering.
    // Completed, or cached when the daemon built the same step before.
    assert!(events.iter().any(|e| matches!(e,
        BuildEvent::VertexCompleted { name, .. } | BuildEvent::VertexCached { name, .. }
            if name.contains("RUN echo"))));
    assert!(
        plain.contains("load build definition from Dockerfile"),
        "{plain}"
    );
    // buildx's plain format: `#N <name>`, then `#N DONE <secs>s` or `#N CACHED` per step.
    assert!(
        plain
            .lines()
            .any(|l| l.starts_with("#1 ") && l.contains("[internal] load")),
        "{plain}"
    );
    assert!(
        plain.lines().any(|l| l.starts_with('#')
            && l.split_once(' ').is_some_and(|(_, rest)| {
                rest == "CACHED" || (rest.starts_with("DONE ") && rest.ends_with('s'))
            })),
        "{plain}"
    );
    assert!(
        result.transfers["context"].files >= 5,
        "{:?}",
        result.transfers
    );
}

#[tokio::test]
async fn pushes_an_image_with_credentials_from_the_session() {
    let registry = Distribution::start_with_login("builder", "pa55word");
    let rootfs = rootfs();
    let context = tempfile::tempdir().unwrap();
    write_tree(
        context.path(),
        &[
            ("hello.txt", "hello registry\n"),
            (
                "Dockerfile",
                &format!("{BASE}RUN echo built > /built.txt\nCOPY hello.txt /\n"),
            ),
        ],
    );
    let name = format!("{}/depot-rs/pushed:v1", registry.host);
    let mut opts = options(context.path(), rootfs.path());
    opts.outputs = vec![Output::Image {
        names: vec![name.clone()],
        push: true,
        attrs: BTreeMap::new(),
    }];
    let anonymous = BuildOptions {
        credentials: Some(Arc::new(StaticCredentials::default())),
        outputs: vec![Output::Image {
            names: vec![name.clone()],
            push: true,
            attrs: BTreeMap::new(),
        }],
        ..options(context.path(), rootfs.path())
    };
    opts.credentials = Some(Arc::new(StaticCredentials::default().with(
        registry.host.clone(),
        Credentials::Basic {
            username: "builder".into(),
            secret: "pa55word".into(),
        },
    )));
    let buildkit = buildkit().await;

    // Without credentials the registry refuses the push.
    let (refused, _, _) = run(&buildkit, anonymous).await;
    let refused = refused
        .expect_err("a push without credentials must fail")
        .to_string();
    assert!(
        refused.contains("401") || refused.to_lowercase().contains("unauthorized"),
        "{refused}"
    );

    let (result, _, plain) = run(&buildkit, opts).await;
    let result = result.unwrap_or_else(|err| panic!("build failed: {err}\n{plain}"));
    let digest = result.exporter_response.image_digest.clone().unwrap();
    assert!(result.exporter_response.descriptor.is_some());

    let response = registry_digest(
        &registry.host,
        "depot-rs/pushed",
        "v1",
        ("builder", "pa55word"),
    )
    .await;
    assert_eq!(response, digest, "the registry's digest for the tag");
}

/// The registry's `Docker-Content-Digest` for `repo:tag`, with basic auth.
async fn registry_digest(
    host: &str,
    repo: &str,
    tag: &str,
    (user, password): (&str, &str),
) -> String {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let response = depot_tests::http(
        &format!("http://{host}"),
        "HEAD",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[
            ("authorization", &format!("Basic {auth}")),
            (
                "accept",
                "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
            ),
        ],
        &[],
    )
    .await;
    assert_eq!(response.status, 200);
    response.header("docker-content-digest").to_owned()
}

#[tokio::test]
async fn sends_only_what_changed_in_the_context() {
    let rootfs = rootfs();
    let context = tempfile::tempdir().unwrap();
    let mut files: Vec<(String, String)> = (0..20)
        .map(|i| {
            (
                format!("src/file{i:02}.txt"),
                format!("content {i}\n").repeat(100),
            )
        })
        .collect();
    files.push((
        "Dockerfile".into(),
        format!("{BASE}COPY src /src\nRUN cat /src/file00.txt > /dev/null\n"),
    ));
    for (path, content) in &files {
        write_tree(context.path(), &[(path, content)]);
    }
    let buildkit = buildkit().await;
    // A context no other test uses, so the daemon's copy is this test's.
    let build = |client: &str| {
        let mut opts = options(context.path(), rootfs.path());
        opts.client_id = Some(client.to_owned());
        opts
    };
    let client = format!("incremental-{}", std::process::id());

    let sent = |options| async {
        let (result, _, plain) = run(&buildkit, options).await;
        let result = result.unwrap_or_else(|err| panic!("{err}\n{plain}"));
        let sent = result.transfers["context"];
        (sent.files, sent.bytes)
    };
    // `COPY src` makes the frontend ask for `src` only (followpaths).
    assert_eq!(
        sent(build(&client)).await,
        (20, 21_000),
        "the first build sends every file"
    );
    assert_eq!(
        sent(build(&client)).await,
        (0, 0),
        "an unchanged context sends nothing"
    );
    std::fs::write(context.path().join("src/file07.txt"), "changed\n").unwrap();
    assert_eq!(
        sent(build(&client)).await,
        (1, 8),
        "one changed file is sent alone"
    );
}

#[tokio::test]
async fn a_failing_step_reports_its_log_and_exit_code() {
    let rootfs = rootfs();
    let context = tempfile::tempdir().unwrap();
    write_tree(
        context.path(),
        &[(
            "Dockerfile",
            &format!("{BASE}RUN echo about-to-fail && echo on-stderr >&2 && exit 3\n"),
        )],
    );
    let buildkit = buildkit().await;
    let (result, events, plain) = run(&buildkit, options(context.path(), rootfs.path())).await;
    let Err(Error::Build(failure)) = result else {
        panic!("expected a build failure, got {result:?}\n{plain}");
    };
    assert_eq!(failure.exit_code, Some(3), "{failure:?}");
    assert!(
        failure
            .step
            .as_deref()
            .unwrap_or_default()
            .contains("exit 3"),
        "{failure:?}"
    );
    assert!(
        failure.log.iter().any(|l| l.contains("about-to-fail")),
        "{failure:?}"
    );
    assert!(events.iter().any(|e| matches!(e,
        BuildEvent::VertexErrored { name, .. } if name.contains("exit 3"))));
    assert!(events.iter().any(|e| matches!(e,
        BuildEvent::Log { data, .. } if String::from_utf8_lossy(data).contains("on-stderr"))));
    assert!(plain.contains("ERROR"), "{plain}");
    assert!(plain.contains("about-to-fail"), "{plain}");
}

#[tokio::test]
async fn dropping_a_build_stops_its_running_step() {
    let rootfs = rootfs();
    let context = tempfile::tempdir().unwrap();
    // A duration no other process on the machine sleeps for.
    let marker = 1000 + std::process::id() % 1000;
    write_tree(
        context.path(),
        &[(
            "Dockerfile",
            &format!("{BASE}RUN echo step-started && sleep {marker}\n"),
        )],
    );
    let buildkit = buildkit().await;
    let mut opts = options(context.path(), rootfs.path());
    opts.no_cache = true;
    let mut build = buildkit.build(opts);
    let started = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(event) = build.next().await {
            if let BuildEvent::Log { data, .. } = &event
                && String::from_utf8_lossy(data).contains("step-started")
            {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(started, "the step did not start");
    assert!(
        eventually(|| sleeping(marker)).await,
        "the step's process does not run"
    );
    drop(build);
    assert!(
        eventually(|| !sleeping(marker)).await,
        "`sleep {marker}` still runs 30 s after the build was dropped"
    );
}

/// Whether `check` holds within 30 s.
async fn eventually(check: impl Fn() -> bool) -> bool {
    for _ in 0..300 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Whether a process `sleep <seconds>` runs on this machine (build steps run as host
/// processes under runc).
fn sleeping(seconds: u32) -> bool {
    let wanted = format!("sleep\0{seconds}\0");
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .map(|cmdline| cmdline.ends_with(wanted.as_bytes()))
            .unwrap_or(false)
    })
}

#[tokio::test]
async fn exports_tarballs_to_files_and_streams_and_loads_into_docker() {
    let rootfs = rootfs();
    let context = tempfile::tempdir().unwrap();
    write_tree(
        context.path(),
        &[
            ("hello.txt", "hello tarballs\n"),
            ("Dockerfile", &format!("{BASE}COPY hello.txt /\n")),
        ],
    );
    let out = tempfile::tempdir().unwrap();
    let docker_tar = out.path().join("docker.tar");
    let (writer, mut reader) = tokio::io::duplex(64 * 1024);
    let collect = tokio::spawn(async move {
        let mut data = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut data)
            .await
            .unwrap();
        data
    });
    let name = depot_tests::unique_image("loaded");
    let mut opts = options(context.path(), rootfs.path());
    opts.outputs = vec![
        Output::Tar {
            dest: TarDestination::Writer(Box::new(writer)),
        },
        Output::Docker {
            dest: TarDestination::File(docker_tar.clone()),
            attrs: [("name".to_owned(), "depot-rs-test/exported:1".to_owned())].into(),
        },
        Output::Moby {
            names: vec![name.clone()],
        },
    ];
    let (result, _, plain) = run(&buildkit().await, opts).await;
    result.unwrap_or_else(|err| panic!("build failed: {err}\n{plain}"));

    let rootfs_tar = collect.await.unwrap();
    let entries = tar_entries(&rootfs_tar[..]);
    assert_eq!(
        entries.get("hello.txt").map(String::as_str),
        Some("hello tarballs\n")
    );
    assert!(
        entries.contains_key("bin/busybox"),
        "the stage's root file system"
    );

    let docker_entries = tar_entries(std::fs::File::open(&docker_tar).unwrap());
    assert!(
        docker_entries.contains_key("manifest.json"),
        "{:?}",
        docker_entries.keys()
    );
    assert!(docker_entries["manifest.json"].contains("depot-rs-test/exported:1"));

    let inspect = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", &name])
        .output()
        .unwrap();
    assert!(inspect.status.success(), "the image was loaded into docker");
}

/// Regular files of a tarball, by path, with their content as text (lossy).
fn tar_entries(reader: impl std::io::Read) -> BTreeMap<String, String> {
    let mut archive = tar::Archive::new(reader);
    let mut out = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_file() {
            let name = entry.path().unwrap().display().to_string();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            out.insert(name, String::from_utf8_lossy(&data).into_owned());
        }
    }
    out
}

#[tokio::test]
async fn forwards_an_ssh_agent_socket() {
    use depot_build::buildkit::session::SshSpec;

    // A stand-in agent: counts connections (the daemon checks the agent before the step).
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let rootfs = rootfs();
    let context = tempfile::tempdir().unwrap();
    write_tree(
        context.path(),
        &[(
            "Dockerfile",
            &format!(
                "{BASE}RUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo agent-at-$SSH_AUTH_SOCK\n"
            ),
        )],
    );
    let mut opts = options(context.path(), rootfs.path());
    opts.no_cache = true;
    opts.ssh = vec![SshSpec {
        id: "default".into(),
        socket: socket.clone(),
    }];
    let (result, _, plain) = run(&buildkit().await, opts).await;
    result.unwrap_or_else(|err| panic!("build failed: {err}\n{plain}"));
    assert!(
        plain.contains("agent-at-/run/buildkit/ssh_agent"),
        "{plain}"
    );
    assert!(connections.load(std::sync::atomic::Ordering::SeqCst) >= 1);

    // Without a forwarded agent BuildKit mounts no socket (the mount is optional), so the
    // same step fails its `test -S`.
    let mut opts = options(context.path(), rootfs.path());
    opts.no_cache = true;
    let (result, _, plain) = run(&buildkit().await, opts).await;
    let Err(Error::Build(failure)) = result else {
        panic!("the step must fail without an agent: {result:?}\n{plain}");
    };
    assert_eq!(failure.exit_code, Some(1), "{failure:?}");
}

#[tokio::test]
async fn a_dockerfile_specific_ignore_file_wins_over_the_context_one() {
    let rootfs = rootfs();
    let context = tempfile::tempdir().unwrap();
    write_tree(
        context.path(),
        &[
            ("a.txt", "a\n"),
            ("b.txt", "b\n"),
            (".dockerignore", "a.txt\n"),
            ("docker/app.Dockerfile", "FROM scratch\nCOPY . /\n"),
            ("docker/app.Dockerfile.dockerignore", "b.txt\ndocker\n"),
        ],
    );
    let out = tempfile::tempdir().unwrap();
    let mut opts = options(context.path(), rootfs.path());
    opts.dockerfile = Some(context.path().join("docker/app.Dockerfile"));
    opts.outputs = vec![Output::Local {
        dir: out.path().into(),
    }];
    let (result, _, plain) = run(&buildkit().await, opts).await;
    result.unwrap_or_else(|err| panic!("build failed: {err}\n{plain}"));
    let files: Vec<String> = read_tree(out.path()).into_keys().collect();
    assert_eq!(
        files,
        [".dockerignore", "a.txt"],
        "only app.Dockerfile.dockerignore applies"
    );
}
