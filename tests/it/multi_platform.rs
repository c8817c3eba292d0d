//! Multi-platform builds through a real depot-server: one builder per architecture (arm64
//! instances that are really this host's engines, `--builder-test-arch`, since nothing here
//! may register QEMU), the per-platform images merged into one index, pulled per platform and
//! pushed on; a platform's failure; and a server with no arm64 builder at all.
//!
//! The Dockerfiles only COPY (a file named after `TARGETARCH`), which BuildKit builds for any
//! platform without emulation.

use std::collections::BTreeMap;
use std::path::Path;

use depot_tests::{Cli, Distribution, Server, skopeo_ok, text};
use serde_json::Value;

/// A context whose image holds `/arch.txt`: the text of `<arch>.txt` for its architecture.
fn arch_context(dir: &Path, dockerfile: &str) {
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    for arch in ["amd64", "arm64"] {
        std::fs::write(
            dir.join(format!("{arch}.txt")),
            format!("built for {arch}\n"),
        )
        .unwrap();
    }
}

const COPY_PER_ARCH: &str = "FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}.txt /arch.txt\n";

/// `depot build` of `context` with `args`; whether it succeeded, its output and its metadata.
fn build(cli: &Cli, project: &str, context: &Path, args: &[&str]) -> (bool, String, Value) {
    let metadata = context.join("metadata.json");
    let _ = std::fs::remove_file(&metadata);
    let mut all = vec![
        "build",
        "--project",
        project,
        "--progress",
        "plain",
        "--metadata-file",
        metadata.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    all.push(context.to_str().unwrap());
    let out = cli.run(&all);
    let log = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let metadata = std::fs::read_to_string(&metadata)
        .ok()
        .and_then(|m| serde_json::from_str(&m).ok())
        .unwrap_or(Value::Null);
    (out.status.success(), log, metadata)
}

/// The raw manifest at `image` (`creds` if given).
fn raw_manifest(image: &str, creds: Option<&str>) -> Value {
    let mut args = vec!["inspect", "--raw", "--tls-verify=false"];
    if let Some(creds) = creds {
        args.extend(["--creds", creds]);
    }
    let image = format!("docker://{image}");
    args.push(&image);
    serde_json::from_str(&skopeo_ok(&args)).expect("a JSON manifest")
}

/// The manifest digest of `image`.
fn remote_digest(image: &str, creds: Option<&str>) -> String {
    let mut args = vec!["inspect", "--tls-verify=false", "--format", "{{.Digest}}"];
    if let Some(creds) = creds {
        args.extend(["--creds", creds]);
    }
    let image = format!("docker://{image}");
    args.push(&image);
    skopeo_ok(&args).trim().to_owned()
}

/// An index's image manifests by platform (`linux/arm64` → digest); attestations are left out.
fn platforms(index: &Value) -> BTreeMap<String, String> {
    index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .filter(|m| m["platform"]["os"] != "unknown")
        .map(|m| {
            (
                format!(
                    "{}/{}",
                    m["platform"]["os"].as_str().unwrap(),
                    m["platform"]["architecture"].as_str().unwrap()
                ),
                m["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The builder of each architecture on the build's summary (`builder amd64: <endpoint>`).
async fn builders_of(server: &Server, token: &str, build_id: &str) -> BTreeMap<String, String> {
    let page = server.build_summary(token, build_id).await;
    page.lines()
        .filter_map(|line| line.strip_prefix("builder "))
        .filter_map(|rest| rest.split_once(": "))
        .map(|(arch, endpoint)| (arch.to_owned(), endpoint.to_owned()))
        .collect()
}

fn build_id(metadata: &Value) -> String {
    metadata["depot.build"]["buildID"]
        .as_str()
        .expect("buildID")
        .to_owned()
}

#[tokio::test]
async fn two_platforms_build_on_a_builder_each_into_one_index_pulled_per_platform_and_pushed() {
    let server =
        Server::start_with(["--builder-test-arch", "arm64"].map(String::from).to_vec()).await;
    let boot = server.bootstrap("multi");
    let cli = Cli::ours(&server).env("DEPOT_TOKEN", &boot.token);
    let context = tempfile::tempdir().unwrap();
    arch_context(context.path(), COPY_PER_ARCH);

    let (ok, log, metadata) = build(
        &cli,
        &boot.project_id,
        context.path(),
        &["--platform", "linux/amd64,linux/arm64", "--save"],
    );
    assert!(ok, "{log}");
    for expected in [
        "[depot] connecting to amd64 builder",
        "[depot] connecting to arm64 builder",
        "[linux/amd64",
        "[linux/arm64",
        "[depot] merging linux/amd64, linux/arm64 into one index",
    ] {
        assert!(log.contains(expected), "{expected:?} is not in:\n{log}");
    }
    assert!(!log.contains("no arm64 builder"), "{log}");
    let build_id = build_id(&metadata);
    let digest = metadata["containerimage.digest"]
        .as_str()
        .expect("digest")
        .to_owned();

    // One index with both platforms, saved under the build's tag.
    let creds = format!("x-token:{}", boot.token);
    let saved = format!("{}/{}:{build_id}", server.host(), boot.project_id);
    assert_eq!(remote_digest(&saved, Some(&creds)), digest);
    let index = raw_manifest(&saved, Some(&creds));
    let by_platform = platforms(&index);
    assert_eq!(
        by_platform.keys().collect::<Vec<_>>(),
        ["linux/amd64", "linux/arm64"],
        "{index}"
    );

    // Each platform ran on its own instance, as the build record says.
    let builders = builders_of(&server, &boot.token, &build_id).await;
    assert_eq!(builders.len(), 2, "{builders:?}");
    assert_ne!(builders["amd64"], builders["arm64"]);

    // `depot pull --platform linux/arm64` takes the arm64 image, holding the arm64 file.
    let layout = tempfile::tempdir().unwrap();
    let out = cli.ok(&[
        "pull",
        &build_id,
        "--project",
        &boot.project_id,
        "--platform",
        "linux/arm64",
        "--oci-layout",
        layout.path().to_str().unwrap(),
    ]);
    assert!(out.contains(&by_platform["linux/arm64"]), "{out}");
    let layout_index: Value =
        serde_json::from_slice(&std::fs::read(layout.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(
        layout_index["manifests"][0]["digest"],
        by_platform["linux/arm64"].as_str()
    );
    let blob = |digest: &str| {
        std::fs::read(
            layout
                .path()
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let manifest: Value = serde_json::from_slice(&blob(&by_platform["linux/arm64"])).unwrap();
    let config: Value =
        serde_json::from_slice(&blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    assert_eq!(config["architecture"], "arm64");

    // `depot push` copies the whole index: the same digest in another registry.
    let mirror = Distribution::start();
    let copy = format!("{}/copies/multi:v1", mirror.host);
    cli.ok(&[
        "push",
        &build_id,
        "--project",
        &boot.project_id,
        "-t",
        &copy,
    ]);
    assert_eq!(remote_digest(&copy, None), digest);
    assert_eq!(platforms(&raw_manifest(&copy, None)), by_platform);

    // `--push` sends the index to every tag (two repositories) of another registry.
    let tags = [
        format!("{}/pushed/multi:1", mirror.host),
        format!("{}/pushed/other:2", mirror.host),
    ];
    let (ok, log, metadata) = build(
        &cli,
        &boot.project_id,
        context.path(),
        &[
            "--platform",
            "linux/amd64,linux/arm64",
            "--push",
            "-t",
            &tags[0],
            "-t",
            &tags[1],
        ],
    );
    assert!(ok, "{log}");
    let pushed = metadata["containerimage.digest"].as_str().expect("digest");
    for tag in &tags {
        assert_eq!(remote_digest(tag, None), pushed, "{tag}");
        let index = raw_manifest(tag, None);
        assert_eq!(
            platforms(&index).keys().collect::<Vec<_>>(),
            ["linux/amd64", "linux/arm64"],
            "{index}"
        );
    }
    assert_eq!(metadata["image.name"], tags.join(",").as_str());

    // `-o type=local` writes each platform's files into a directory of its own.
    let local = context.path().join("out");
    let (ok, log, _) = build(
        &cli,
        &boot.project_id,
        context.path(),
        &[
            "--platform",
            "linux/amd64,linux/arm64",
            "-o",
            &format!("type=local,dest={}", local.display()),
        ],
    );
    assert!(ok, "{log}");
    for arch in ["amd64", "arm64"] {
        let written = std::fs::read_to_string(local.join(format!("linux_{arch}/arch.txt")));
        assert_eq!(written.unwrap(), format!("built for {arch}\n"));
    }

    // `-o type=oci` merges the platforms' tarballs: one index with both, every blob there.
    let tarball = context.path().join("multi.tar");
    let oci = format!("type=oci,dest={}", tarball.display());
    let (ok, log, metadata) = build(
        &cli,
        &boot.project_id,
        context.path(),
        &["--platform", "linux/amd64,linux/arm64", "-o", &oci],
    );
    assert!(ok, "{log}");
    let mut files = BTreeMap::new();
    for entry in tar::Archive::new(std::fs::File::open(&tarball).unwrap())
        .entries()
        .unwrap()
    {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        files.insert(path, bytes);
    }
    let json = |path: &str| -> Value {
        serde_json::from_slice(files.get(path).unwrap_or_else(|| panic!("no {path}"))).unwrap()
    };
    let blob = |digest: &str| json(&format!("blobs/sha256/{}", &digest[7..]));
    let top = json("index.json")["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(metadata["containerimage.digest"], top.as_str());
    let index = blob(&top);
    let in_tarball = platforms(&index);
    assert_eq!(
        in_tarball.keys().collect::<Vec<_>>(),
        ["linux/amd64", "linux/arm64"],
        "{index}"
    );
    for (platform, digest) in &in_tarball {
        let manifest = blob(digest);
        let config = blob(manifest["config"]["digest"].as_str().unwrap());
        assert_eq!(
            format!("linux/{}", config["architecture"].as_str().unwrap()),
            *platform
        );
        for layer in manifest["layers"].as_array().unwrap() {
            let path = format!("blobs/sha256/{}", &layer["digest"].as_str().unwrap()[7..]);
            assert!(files.contains_key(&path), "{path} is missing");
        }
    }
}

#[tokio::test]
async fn a_platform_that_fails_fails_the_build_names_it_and_frees_both_builders() {
    let server = Server::start_with(
        ["--builder-test-arch", "arm64", "--builder-concurrency", "1"]
            .map(String::from)
            .to_vec(),
    )
    .await;
    let boot = server.bootstrap("broken");
    let cli = Cli::ours(&server).env("DEPOT_TOKEN", &boot.token);
    let context = tempfile::tempdir().unwrap();
    // Only amd64 has its file: the arm64 COPY fails.
    arch_context(
        context.path(),
        "FROM scratch\nARG TARGETARCH\nCOPY only/${TARGETARCH}.txt /\n",
    );
    std::fs::create_dir(context.path().join("only")).unwrap();
    std::fs::write(context.path().join("only/amd64.txt"), "amd64\n").unwrap();

    let (ok, log, _) = build(
        &cli,
        &boot.project_id,
        context.path(),
        &["--platform", "linux/amd64,linux/arm64", "--save"],
    );
    assert!(!ok, "{log}");
    assert!(log.contains("the linux/arm64 build failed"), "{log}");
    let builds = cli.list_builds(&boot.project_id);
    assert_eq!(builds[0]["status"], "failed", "{builds}");
    assert_eq!(server.engines(), 2);

    // Both builders were freed: with one build each, the next two-platform build gets the
    // same two (had either stayed taken, another instance would have started). `--load` puts
    // this machine's platform into Docker.
    arch_context(context.path(), COPY_PER_ARCH);
    let loaded = depot_tests::unique_image("multi-load");
    let (ok, log, metadata) = build(
        &cli,
        &boot.project_id,
        context.path(),
        &[
            "--platform",
            "linux/amd64,linux/arm64",
            "--load",
            "-t",
            &loaded,
        ],
    );
    assert!(ok, "{log}");
    assert_eq!(server.engines(), 2);
    assert_eq!(
        builders_of(&server, &boot.token, &build_id(&metadata))
            .await
            .len(),
        2
    );
    let inspected = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Architecture}}", &loaded])
        .output()
        .unwrap();
    assert_eq!(
        text(&inspected.stdout).trim(),
        "amd64",
        "{}",
        text(&inspected.stderr)
    );
    let _ = std::process::Command::new("docker")
        .args(["image", "rm", &loaded])
        .output();
}

#[tokio::test]
async fn without_an_arm64_builder_its_platform_builds_on_the_amd64_one_unless_refused() {
    let server = Server::start().await;
    let boot = server.bootstrap("fallback");
    let cli = Cli::ours(&server).env("DEPOT_TOKEN", &boot.token);
    let context = tempfile::tempdir().unwrap();
    arch_context(context.path(), COPY_PER_ARCH);

    let (ok, log, metadata) = build(
        &cli,
        &boot.project_id,
        context.path(),
        &["--platform", "linux/amd64,linux/arm64", "--save"],
    );
    assert!(ok, "{log}");
    assert!(
        log.contains("[depot] no arm64 builder: linux/arm64 builds on the amd64 builder"),
        "{log}"
    );
    let builders = builders_of(&server, &boot.token, &build_id(&metadata)).await;
    assert_eq!(builders["amd64"], builders["arm64"], "{builders:?}");
    let saved = format!(
        "{}/{}:{}",
        server.host(),
        boot.project_id,
        build_id(&metadata)
    );
    let creds = format!("x-token:{}", boot.token);
    assert_eq!(
        platforms(&raw_manifest(&saved, Some(&creds))).len(),
        2,
        "both platforms are in the index"
    );
    assert_eq!(server.engines(), 1);

    let strict = Server::start_with(vec!["--strict-builder-arch".into()]).await;
    let boot = strict.bootstrap("strict");
    let cli = Cli::ours(&strict).env("DEPOT_TOKEN", &boot.token);
    let (ok, log, _) = build(
        &cli,
        &boot.project_id,
        context.path(),
        &["--platform", "linux/amd64,linux/arm64", "--save"],
    );
    assert!(!ok, "{log}");
    assert!(log.contains("--strict-builder-arch"), "{log}");
}

#[tokio::test]
async fn the_official_cli_builds_two_platforms_on_a_builder_each_and_pulls_one() {
    let server =
        Server::start_with(["--builder-test-arch", "arm64"].map(String::from).to_vec()).await;
    let boot = server.bootstrap("official");
    let official = Cli::official(&server).env("DEPOT_TOKEN", &boot.token);
    let context = tempfile::tempdir().unwrap();
    arch_context(context.path(), COPY_PER_ARCH);

    let (ok, log, metadata) = build(
        &official,
        &boot.project_id,
        context.path(),
        &["--platform", "linux/amd64,linux/arm64", "--save"],
    );
    assert!(ok, "{log}");
    let build_id = build_id(&metadata);
    let builders = builders_of(&server, &boot.token, &build_id).await;
    assert_eq!(builders.len(), 2, "{builders:?}");
    assert_ne!(builders["amd64"], builders["arm64"]);
    let creds = format!("x-token:{}", boot.token);
    let saved = format!("{}/{}:{build_id}", server.host(), boot.project_id);
    let by_platform = platforms(&raw_manifest(&saved, Some(&creds)));
    assert_eq!(
        by_platform.keys().collect::<Vec<_>>(),
        ["linux/amd64", "linux/arm64"]
    );

    // The official CLI pulls the arm64 image into Docker.
    let pulled = depot_tests::unique_image("official-arm64");
    official.ok(&[
        "pull",
        &build_id,
        "--project",
        &boot.project_id,
        "--platform",
        "linux/arm64",
        "-t",
        &pulled,
    ]);
    let inspected = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Architecture}}", &pulled])
        .output()
        .unwrap();
    assert_eq!(
        text(&inspected.stdout).trim(),
        "arm64",
        "{}",
        text(&inspected.stderr)
    );
    let _ = std::process::Command::new("docker")
        .args(["image", "rm", &pulled])
        .output();
}
