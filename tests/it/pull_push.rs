//! Our CLI's registry commands end to end: `depot push` of a saved build to CNCF distribution
//! and to another repository at once, `depot pull` into Docker Engine 26 and into OCI image
//! layouts (read back by skopeo), `depot image`, and their progress output.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use depot_core::proto::depot::cli::v1::{
    BuildOptions, Command, CreateBuildRequest, CreateBuildResponse,
};
use depot_tests::{
    Bootstrap, Cli, Distribution, RegistryClient, Server, docker_image_id, docker_rmi, http,
    image_layer, sha256, skopeo_ok, text,
};
use serde_json::{Value, json};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A build saved to the project's registry, as `depot build --save` creates one.
async fn saved_build(server: &Server, boot: &Bootstrap) -> CreateBuildResponse {
    server
        .client(&boot.token)
        .builds()
        .create_build(CreateBuildRequest {
            project_id: Some(boot.project_id.clone()),
            options: vec![BuildOptions {
                command: Command::Build as i32,
                tags: vec!["depot-rs-test/ours:latest".into()],
                save: true,
                ..Default::default()
            }],
            required_engine: None,
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn push_pull_and_list_a_saved_build() {
    let server = Server::start().await;
    let boot = server.bootstrap("quinn");
    let host = server.host();
    let created = saved_build(&server, &boot).await;
    // Three layers, one of several MiB, as BuildKit would push on --save.
    let big: Vec<u8> = (0..6_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 9) as u8)
        .collect();
    let layers = [
        image_layer(&[("big.bin", &big)]),
        image_layer(&[("etc/app.conf", b"answer = 42")]),
        image_layer(&[("bin/tool", b"#!/bin/sh\necho tool\n")]),
    ];
    let builder = RegistryClient::new(&server, &created.build_token);
    let digest = builder
        .push_layers(&boot.project_id, &created.build_id, &layers)
        .await;

    let mirror = Distribution::start();
    let cli = Cli::ours(&server)
        .env("DEPOT_TOKEN", &boot.token)
        .env("DEPOT_PUSH_REGISTRY_USERNAME", "x-token")
        .env("DEPOT_PUSH_REGISTRY_PASSWORD", &boot.token);
    let to_mirror = format!("{}/mirror/app:v1", mirror.host);
    let to_depot = format!("{host}/{}/copy:v1", boot.project_id);
    let out = cli.run(&["push", &created.build_id, "-t", &to_mirror, "-t", &to_depot]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        text(&out.stdout).contains(&format!("{to_mirror}@{digest}")),
        "{}",
        text(&out.stdout)
    );
    // Plain progress (stderr is not a terminal): a line when a blob starts to travel and one
    // when it is there, per destination.
    for layer in &layers {
        let (d, size) = (sha256(&layer.gz), layer.gz.len());
        for line in [
            format!("  {to_mirror}: {d} copying ({size} bytes)\n"),
            format!("  {to_mirror}: {d} copied ({size} bytes)\n"),
            format!("  {to_depot}: {d} mounted ({size} bytes)\n"),
        ] {
            assert!(stderr.contains(&line), "{line:?} in\n{stderr}");
        }
    }
    assert!(
        stderr.contains(&format!("  {to_mirror}: manifest {digest} pushed\n")),
        "{stderr}"
    );

    // The independent registry serves the same manifest and blobs.
    let mirrored = http(
        &format!("http://{}", mirror.host),
        "GET",
        "/v2/mirror/app/manifests/v1",
        &[("accept", depot_tests::OCI_MANIFEST)],
        b"",
    )
    .await;
    assert_eq!(mirrored.status, 200, "{}", mirrored.text());
    assert_eq!(sha256(&mirrored.body), digest);
    for layer in &layers {
        let blob = http(
            &format!("http://{}", mirror.host),
            "GET",
            &format!("/v2/mirror/app/blobs/{}", sha256(&layer.gz)),
            &[],
            b"",
        )
        .await;
        assert_eq!(blob.body, layer.gz);
    }
    let copied = RegistryClient::new(&server, &boot.token)
        .get_ok(&format!("/v2/{}/copy/manifests/v1", boot.project_id))
        .await;
    assert_eq!(sha256(&copied), digest);

    // Credentials from the Docker config work as well as the environment.
    let docker_config = tempfile::tempdir().unwrap();
    let auth = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("x-token:{}", boot.token))
    };
    std::fs::write(
        docker_config.path().join("config.json"),
        json!({"auths": {host.clone(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let from_config = Cli::ours(&server)
        .env("DEPOT_TOKEN", &boot.token)
        .env("DOCKER_CONFIG", &docker_config.path().display().to_string());
    let to_config = format!("{host}/{}/from-config:v1", boot.project_id);
    let out = from_config.run(&["push", &created.build_id, "-t", &to_config]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let without = Cli::ours(&server).env("DEPOT_TOKEN", &boot.token).env(
        "DOCKER_CONFIG",
        &tempfile::tempdir().unwrap().path().display().to_string(),
    );
    let out = without.run(&["push", &created.build_id, "-t", &to_config]);
    assert!(!out.status.success(), "anonymous pushes are refused");
    cli.ok(&[
        "image",
        "rm",
        "--project",
        &boot.project_id,
        "from-config:v1",
    ]);

    // Pushing again moves no blob.
    let again = cli.run(&["push", &created.build_id, "-t", &to_mirror]);
    assert!(again.status.success());
    assert!(
        !text(&again.stderr).contains(" copied"),
        "{}",
        text(&again.stderr)
    );

    // Pull by build ID: the build's own tags by default.
    docker_rmi(&["depot-rs-test/ours:latest"]);
    let out = cli.run(&["pull", &created.build_id]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The Engine's progress, one line per layer event, named by short digests.
    for layer in &layers {
        let short = &sha256(&layer.gz)[7..19];
        assert!(
            stderr.contains(&format!("  {short} downloaded\n"))
                || stderr.contains(&format!("  {short} already present\n")),
            "{short} in\n{stderr}"
        );
    }
    assert!(
        stderr.contains("  tagged depot-rs-test/ours:latest\n"),
        "{stderr}"
    );
    assert_eq!(
        docker_image_id("depot-rs-test/ours:latest").as_deref(),
        Some(digest.as_str())
    );
    // Pull a project tag under another name.
    docker_rmi(&["depot-rs-test/ours:copy"]);
    let out = cli.run(&[
        "pull",
        "--project",
        &boot.project_id,
        &created.build_id,
        "-t",
        "depot-rs-test/ours:copy",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(docker_image_id("depot-rs-test/ours:copy").is_some());
    let missing = cli.run(&["pull", "--project", &boot.project_id, "no-such-tag"]);
    assert!(!missing.status.success());
    docker_rmi(&[
        "depot-rs-test/ours:latest",
        "depot-rs-test/ours:copy",
        &format!("{host}/{}:{}", boot.project_id, created.build_id),
    ]);

    // The project's images, as JSON like the official CLI prints them.
    let listed: Value = serde_json::from_str(&cli.ok(&[
        "image",
        "list",
        "--output",
        "json",
        "--project",
        &boot.project_id,
    ]))
    .unwrap();
    let mut tags: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["tag"].as_str().unwrap())
        .collect();
    tags.sort();
    let mut expected = [created.build_id.as_str(), "copy:v1"];
    expected.sort();
    assert_eq!(tags, expected);
    assert_eq!(listed[0]["digest"], json!(digest));
    let expected_size: usize =
        layers.iter().map(|l| l.gz.len()).sum::<usize>() + depot_tests::image_config(&layers).len();
    assert_eq!(
        listed[0]["size_bytes"],
        json!(expected_size),
        "config plus compressed layers"
    );
    cli.ok(&["image", "rm", "--project", &boot.project_id, "copy:v1"]);
    let listed: Value = serde_json::from_str(&cli.ok(&[
        "image",
        "list",
        "--output",
        "json",
        "--project",
        &boot.project_id,
    ]))
    .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // A destination that refuses the credentials fails the push with a clear error, and the
    // failure is recorded.
    let denied = Cli::ours(&server)
        .env("DEPOT_TOKEN", &boot.token)
        .env("DEPOT_PUSH_REGISTRY_USERNAME", "x-token")
        .env("DEPOT_PUSH_REGISTRY_PASSWORD", "dpu_wrong");
    let out = denied.run(&[
        "push",
        &created.build_id,
        "-t",
        &format!("{host}/{}/denied:v1", boot.project_id),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("push failed"),
        "{}",
        text(&out.stderr)
    );
}

/// A bake build saves one image per target (`<build>-<target>`): `depot pull` takes them all or
/// the one --target names, `depot push` one target at a time; unknown targets, unsaved builds
/// and tags without a project are refused with what to do instead.
#[tokio::test]
async fn bake_targets_unsaved_builds_and_tags_without_a_project() {
    let server = Server::start().await;
    let boot = server.bootstrap("tariq");
    let project = boot.project_id.as_str();
    let bake = |target: &str| BuildOptions {
        command: Command::Bake as i32,
        target_name: Some(target.into()),
        save: true,
        ..Default::default()
    };
    let created = server
        .client(&boot.token)
        .builds()
        .create_build(CreateBuildRequest {
            project_id: Some(boot.project_id.clone()),
            options: vec![bake("web"), bake("api")],
            required_engine: None,
        })
        .await
        .unwrap();
    let build = created.build_id.as_str();
    let builder = RegistryClient::new(&server, &created.build_token);
    let web = builder
        .push_layers(
            project,
            &format!("{build}-web"),
            &[image_layer(&[("web", b"web")])],
        )
        .await;
    let api = builder
        .push_layers(
            project,
            &format!("{build}-api"),
            &[image_layer(&[("api", b"api")])],
        )
        .await;
    let cli = Cli::ours(&server).env("DEPOT_TOKEN", &boot.token);
    let scratch = tempfile::tempdir().unwrap();
    let host = server.host();

    // Every target, each under its own name in the layout.
    let all = scratch.path().join("all");
    let out = cli.ok(&["pull", build, "--oci-layout", all.to_str().unwrap()]);
    assert_eq!(
        out,
        format!("{host}/{project}:{build}-web@{web}\n{host}/{project}:{build}-api@{api}\n")
    );
    let mut named = read_layout(&all).0;
    named.sort();
    let mut expected = entries(&[
        (&format!("{build}-api"), &api),
        (&format!("{build}-web"), &web),
    ]);
    expected.sort();
    assert_eq!(named, expected);

    // One target.
    let one = scratch.path().join("one");
    let out = cli.ok(&[
        "pull",
        build,
        "--target",
        "api",
        "--oci-layout",
        one.to_str().unwrap(),
    ]);
    assert_eq!(out, format!("{host}/{project}:{build}-api@{api}\n"));
    assert_eq!(
        read_layout(&one).0,
        entries(&[(&format!("{build}-api"), &api)])
    );
    let unknown = cli.run(&[
        "pull",
        build,
        "--target",
        "db",
        "--oci-layout",
        one.to_str().unwrap(),
    ]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains(&format!(
            "build {build} has no bake target \"db\" (targets: web, api)"
        )),
        "{}",
        text(&unknown.stderr)
    );

    // A push takes one target.
    let mirror = Distribution::start();
    let to_mirror = format!("{}/bake/web:v1", mirror.host);
    let several = cli.run(&["push", build, "-t", &to_mirror]);
    assert!(!several.status.success());
    assert!(
        text(&several.stderr)
            .contains("is a bake of several targets (targets: web, api): choose one"),
        "{}",
        text(&several.stderr)
    );
    let out = cli.ok(&["push", build, "--target", "web", "-t", &to_mirror]);
    assert_eq!(out, format!("{to_mirror}@{web}\n"));

    // A build that was not saved has nothing to pull.
    let unsaved = server
        .client(&boot.token)
        .builds()
        .create_build(CreateBuildRequest {
            project_id: Some(boot.project_id.clone()),
            options: vec![BuildOptions {
                command: Command::Build as i32,
                ..Default::default()
            }],
            required_engine: None,
        })
        .await
        .unwrap();
    let out = cli.run(&[
        "pull",
        &unsaved.build_id,
        "--oci-layout",
        one.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(&format!(
            "build {} was not saved: build it with --save",
            unsaved.build_id
        )),
        "{}",
        text(&out.stderr)
    );

    // Without a project, a reference that is no build cannot be looked up as a tag.
    let out = cli.run(&["pull", "v1", "--oci-layout", one.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr)
            .contains("\"v1\" is not the ID of a saved build; to pull a tag, name the project"),
        "{}",
        text(&out.stderr)
    );
}

/// Checks that `dir` is a well-formed image layout holding only verified blobs, and returns
/// the `(ref name, digest)` entries of its index.json and the digests of its blobs.
fn read_layout(dir: &Path) -> (Vec<(String, String)>, Vec<String>) {
    let marker: Value =
        serde_json::from_slice(&std::fs::read(dir.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(marker, json!({"imageLayoutVersion": "1.0.0"}));
    let mut top: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    top.sort();
    assert_eq!(
        top,
        ["blobs", "index.json", "oci-layout"],
        "nothing else, no partial files"
    );
    let algorithms: Vec<_> = std::fs::read_dir(dir.join("blobs")).unwrap().collect();
    assert_eq!(algorithms.len(), 1, "only blobs/sha256");
    let mut blobs = Vec::new();
    for entry in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let name = format!("sha256:{}", entry.file_name().into_string().unwrap());
        assert_eq!(
            sha256(&std::fs::read(entry.path()).unwrap()),
            name,
            "blob content"
        );
        blobs.push(name);
    }
    blobs.sort();
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], OCI_INDEX);
    let entries = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let digest = entry["digest"].as_str().unwrap().to_owned();
            assert!(blobs.contains(&digest), "{digest} is in the layout");
            let size = std::fs::metadata(blob_path(dir, &digest)).unwrap().len();
            assert_eq!(entry["size"], json!(size));
            assert!(entry["mediaType"].is_string());
            let name = entry["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
                .to_owned();
            (name, digest)
        })
        .collect();
    (entries, blobs)
}

fn blob_path(dir: &Path, digest: &str) -> std::path::PathBuf {
    dir.join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

fn entries(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, digest)| (name.to_string(), digest.to_string()))
        .collect()
}

fn sorted(mut digests: Vec<String>) -> Vec<String> {
    digests.sort();
    digests.dedup();
    digests
}

#[tokio::test]
async fn pull_into_an_oci_layout() {
    let server = Server::start().await;
    let boot = server.bootstrap("rosa");
    let host = server.host();
    let project = boot.project_id.as_str();
    let created = saved_build(&server, &boot).await;
    let build = created.build_id.as_str();
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    let layers = [
        image_layer(&[("big.bin", &big)]),
        image_layer(&[("etc/app.conf", b"answer = 42")]),
        image_layer(&[("bin/tool", b"#!/bin/sh\necho tool\n")]),
    ];
    let layer_digests: Vec<String> = layers.iter().map(|l| sha256(&l.gz)).collect();
    let config = sha256(&depot_tests::image_config(&layers));
    let digest = RegistryClient::new(&server, &created.build_token)
        .push_layers(project, build, &layers)
        .await;
    let image_blobs = sorted(
        layer_digests
            .iter()
            .cloned()
            .chain([config.clone(), digest.clone()])
            .collect(),
    );

    // By build ID into a directory that does not exist yet; stderr is not a terminal, so
    // progress comes as plain lines.
    // TERM matters only under a terminal (the last step).
    let cli = Cli::ours(&server)
        .env("DEPOT_TOKEN", &boot.token)
        .env("TERM", "xterm");
    let scratch = tempfile::tempdir().unwrap();
    let layout = scratch.path().join("layout");
    let dir = layout.to_str().unwrap();
    let out = cli.run(&["pull", build, "--oci-layout", dir]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        text(&out.stdout).trim(),
        format!("{host}/{project}:{build}@{digest}")
    );
    assert!(stderr.contains(&format!("Pulling {host}/{project}:{build} into {dir}")));
    for (layer, d) in layers.iter().zip(&layer_digests) {
        let size = layer.gz.len();
        assert!(
            stderr.contains(&format!("  {d} downloading ({size} bytes)\n")),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("  {d} downloaded ({size} bytes)\n")),
            "{stderr}"
        );
    }
    assert!(
        stderr.contains(&format!("  manifest {digest} written\n")),
        "{stderr}"
    );
    let (named, blobs) = read_layout(&layout);
    assert_eq!(named, entries(&[(build, &digest)]));
    assert_eq!(blobs, image_blobs);

    // skopeo reads the layout, and copies it to a registry without changing a byte.
    let source = format!("oci:{dir}:{build}");
    let inspected: Value = serde_json::from_str(&skopeo_ok(&["inspect", &source])).unwrap();
    assert_eq!(inspected["Digest"], json!(digest));
    assert_eq!(inspected["Layers"], json!(layer_digests));
    let mirror = Distribution::start();
    skopeo_ok(&[
        "copy",
        "--dest-tls-verify=false",
        &source,
        &format!("docker://{}/from-layout:v1", mirror.host),
    ]);
    let copied = http(
        &format!("http://{}", mirror.host),
        "GET",
        "/v2/from-layout/manifests/v1",
        &[("accept", depot_tests::OCI_MANIFEST)],
        b"",
    )
    .await;
    assert_eq!(sha256(&copied.body), digest);

    // Only missing blobs travel: a deleted layer and a truncated one come back, the blobs
    // left alone are not rewritten (same files), and say so.
    let (deleted, truncated) = (&layer_digests[0], &layer_digests[1]);
    std::fs::remove_file(blob_path(&layout, deleted)).unwrap();
    std::fs::write(blob_path(&layout, truncated), &layers[1].gz[..10]).unwrap();
    let untouched = [&layer_digests[2], &config, &digest];
    let inode = |d: &str| std::fs::metadata(blob_path(&layout, d)).unwrap().ino();
    let before: Vec<u64> = untouched.iter().map(|d| inode(d)).collect();
    let out = cli.run(&["pull", build, "--oci-layout", dir]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for d in [deleted, truncated] {
        assert!(stderr.contains(&format!("  {d} downloading (")), "{stderr}");
    }
    for d in [&layer_digests[2], &config] {
        assert!(
            stderr.contains(&format!("  {d} already present (")),
            "{stderr}"
        );
        assert!(!stderr.contains(&format!("  {d} downloading")), "{stderr}");
    }
    let after: Vec<u64> = untouched.iter().map(|d| inode(d)).collect();
    assert_eq!(before, after, "blobs present were left alone");
    let (named, blobs) = read_layout(&layout);
    assert_eq!(named, entries(&[(build, &digest)]), "one entry per name");
    assert_eq!(blobs, image_blobs);

    // A multi-platform index of the project, named twice; the build's entry stays.
    let registry = RegistryClient::new(&server, &boot.token);
    let arm_layer = image_layer(&[("arch", b"arm64")]);
    let arm_config = serde_json::to_vec(&json!({
        "architecture": "arm64", "os": "linux", "variant": "v8", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [arm_layer.diff_id]},
    }))
    .unwrap();
    let arm_manifest = depot_tests::image_manifest(
        (
            &registry.push_blob(project, &arm_config).await,
            arm_config.len(),
        ),
        &[(
            &registry.push_blob(project, &arm_layer.gz).await,
            arm_layer.gz.len(),
        )],
        None,
    );
    let pushed = registry
        .put_manifest(project, "arm", depot_tests::OCI_MANIFEST, &arm_manifest)
        .await;
    assert_eq!(pushed.status, 201, "{}", pushed.text());
    let arm_digest = sha256(&arm_manifest);
    let amd_size = registry
        .get_ok(&format!("/v2/{project}/manifests/{build}"))
        .await
        .len();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": depot_tests::OCI_MANIFEST, "digest": digest, "size": amd_size,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": depot_tests::OCI_MANIFEST, "digest": arm_digest, "size": arm_manifest.len(),
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        ],
    }))
    .unwrap();
    let pushed = registry
        .put_manifest(project, "multi", OCI_INDEX, &index)
        .await;
    assert_eq!(pushed.status, 201, "{}", pushed.text());
    let index_digest = sha256(&index);
    let arm_blobs = [
        sha256(&arm_config),
        sha256(&arm_layer.gz),
        arm_digest.clone(),
    ];
    let out = cli.run(&[
        "pull",
        "--project",
        project,
        "multi",
        "--oci-layout",
        dir,
        "-t",
        "multi",
        "-t",
        "latest",
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for d in &layer_digests {
        assert!(
            stderr.contains(&format!("  {d} already present (")),
            "{stderr}"
        );
    }
    let (named, blobs) = read_layout(&layout);
    assert_eq!(
        named,
        entries(&[
            (build, &digest),
            ("multi", &index_digest),
            ("latest", &index_digest)
        ])
    );
    let all_blobs = sorted(
        image_blobs
            .iter()
            .chain(&arm_blobs)
            .cloned()
            .chain([index_digest.clone()])
            .collect(),
    );
    assert_eq!(blobs, all_blobs);
    let raw = skopeo_ok(&["inspect", "--raw", &format!("oci:{dir}:multi")]);
    assert_eq!(sha256(raw.trim_end().as_bytes()), index_digest);
    // Naming another image `latest` moves the name and keeps the others.
    cli.ok(&["pull", build, "--oci-layout", dir, "-t", "latest"]);
    let (named, _) = read_layout(&layout);
    assert_eq!(
        named,
        entries(&[
            (build, &digest),
            ("multi", &index_digest),
            ("latest", &digest)
        ])
    );

    // --platform takes one manifest of the index and names it, with its platform.
    let arm_layout = scratch.path().join("arm");
    let arm_dir = arm_layout.to_str().unwrap();
    cli.ok(&[
        "pull",
        "--project",
        project,
        "multi",
        "--platform",
        "linux/arm64",
        "--oci-layout",
        arm_dir,
    ]);
    let (named, blobs) = read_layout(&arm_layout);
    assert_eq!(named, entries(&[("multi", &arm_digest)]));
    assert_eq!(blobs, sorted(arm_blobs.to_vec()));
    let written: Value =
        serde_json::from_slice(&std::fs::read(arm_layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(written["manifests"][0]["platform"]["architecture"], "arm64");
    let missing = cli.run(&[
        "pull",
        "--project",
        project,
        "multi",
        "--platform",
        "linux/s390x",
        "--oci-layout",
        arm_dir,
    ]);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("no manifest for platform linux/s390x"),
        "{}",
        text(&missing.stderr)
    );

    // On a terminal, bars per layer instead of lines (`script` provides the terminal);
    // asking for bars without one is an error.
    let tty_layout = scratch.path().join("tty");
    let command = format!(
        "{} pull {build} --oci-layout {} --progress tty",
        depot_tests::workspace_bin("depot").display(),
        tty_layout.display()
    );
    let out = cli
        .command_with_program("script", &["-qec", &command, "/dev/null"], None)
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains(&layer_digests[0][7..19]),
        "short digests:\n{shown}"
    );
    assert!(
        shown.contains("downloaded (") && shown.contains("iB)"),
        "sizes in human units:\n{shown}"
    );
    assert!(!shown.contains("downloading ("), "no plain lines:\n{shown}");
    assert_eq!(read_layout(&tty_layout).1, image_blobs);
    let refused = cli.run(&["pull", build, "--oci-layout", dir, "--progress", "tty"]);
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("--progress tty needs a terminal"));
}
