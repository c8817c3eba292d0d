//! Our CLI's registry commands end to end: `depot push` of a saved build to CNCF distribution
//! and to another repository at once, `depot pull` into Docker Engine 26, `depot image`, and
//! their progress output.

use depot_core::proto::depot::cli::v1::{
    BuildOptions, Command, CreateBuildRequest, CreateBuildResponse,
};
use depot_tests::{
    Bootstrap, Cli, Distribution, RegistryClient, Server, docker_image_id, docker_rmi, http,
    image_layer, sha256, text,
};
use serde_json::{Value, json};

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
