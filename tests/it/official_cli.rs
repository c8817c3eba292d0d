//! The official `depot` CLI (v2.102.12) against a real depot-server.

use std::time::Duration;

use depot_core::connect::Code;
use depot_core::proto::depot::cli::v1::finish_build_request;
use depot_core::proto::depot::cli::v1beta1::ListProjectsRequest;
use depot_tests::{Cli, Running, Server, docker_image_id, login_id, text, unique_image};
use serde_json::{Value, json};

#[tokio::test]
async fn lists_projects_and_builds_resets_cache_and_gets_pull_tokens() {
    let server = Server::start().await;
    let boot = server.bootstrap("alice");
    let cli = Cli::official(&server).env("DEPOT_TOKEN", &boot.token);

    let projects: Value =
        serde_json::from_str(&cli.ok(&["list", "projects", "--output", "json"])).unwrap();
    assert_eq!(
        projects,
        json!([{"id": boot.project_id, "name": "default"}])
    );

    let empty = cli.list_builds(&boot.project_id);
    assert_eq!(empty, json!([]));

    let ok = server
        .finished_build(
            &boot.token,
            &boot.project_id,
            finish_build_request::Result::Success(Default::default()),
        )
        .await;
    let failed = server
        .finished_build(
            &boot.token,
            &boot.project_id,
            finish_build_request::Result::Error(finish_build_request::BuildError {
                error: "exit 1".into(),
            }),
        )
        .await;
    let builds = cli.list_builds(&boot.project_id);
    let builds = builds.as_array().unwrap();
    assert_eq!(builds.len(), 2, "{builds:?}");
    // Newest first.
    assert_eq!(
        (builds[0]["id"].as_str(), builds[0]["status"].as_str()),
        (Some(failed.as_str()), Some("failed"))
    );
    assert_eq!(
        (builds[1]["id"].as_str(), builds[1]["status"].as_str()),
        (Some(ok.as_str()), Some("finished"))
    );
    assert!(builds[0]["startTime"].as_str().unwrap().ends_with('Z'));

    // CSV is the default when stdout is not a terminal.
    let csv = cli.ok(&["list", "projects"]);
    assert_eq!(
        csv.lines().nth(1),
        Some(format!("{},default", boot.project_id).as_str()),
        "{csv}"
    );

    let reset = cli.ok(&["cache", "reset", "--project", &boot.project_id]);
    assert_eq!(reset.trim(), "Cache reset for default (default)");

    let pull = cli.ok(&["pull-token", "--project", &boot.project_id]);
    let pull = pull.trim();
    assert!(pull.starts_with("dpl_"), "{pull}");
    // A real, live token: authenticated, but pull tokens cannot use the control plane.
    let err = server
        .client(pull)
        .projects()
        .list_projects(ListProjectsRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err}");

    // A project the token cannot see.
    let out = cli.run(&["cache", "reset", "--project", "doesnotexist"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not_found"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn login_is_approved_by_the_admin_command() {
    let server = Server::start().await;
    let boot = server.bootstrap("bob");
    let cli = Cli::official(&server);

    let mut login = Running::spawn(cli.command(&["login"], None));
    let seen = login.wait_for("/login/", Duration::from_secs(20));
    let id = login_id(&seen);
    // Not approved yet: the stream must stay open.
    std::thread::sleep(Duration::from_millis(700));
    assert!(!seen.contains("Successfully"), "{seen}");
    server.admin_ok(&["login", "approve", &id, "--user", &boot.user_name]);
    let (ok, output) = login.finish(Duration::from_secs(20));
    assert!(ok, "{output}");
    assert!(output.contains("Successfully authenticated!"), "{output}");

    let config = std::fs::read_to_string(cli.user_config()).unwrap();
    assert!(config.contains("api_token: dpu_"), "{config}");
    assert!(
        config.contains(&format!("org_id: {}", boot.org_id)),
        "{config}"
    );

    // The stored token works without DEPOT_TOKEN.
    let projects: Value =
        serde_json::from_str(&cli.ok(&["list", "projects", "--output", "json"])).unwrap();
    assert_eq!(projects[0]["id"], json!(boot.project_id));

    // An approval is single-use.
    let again = server.admin(&["login", "approve", &id, "--user", &boot.user_name]);
    assert!(!again.status.success());
}

#[tokio::test]
async fn init_writes_depot_json_under_a_terminal() {
    let server = Server::start().await;
    let boot = server.bootstrap("nina");
    let cli = Cli::official(&server).env("DEPOT_TOKEN", &boot.token);
    let repo = tempfile::tempdir().unwrap();

    // The official `init` insists on a terminal even with --project; `script` provides one.
    let command = format!(
        "{} init --project {}",
        depot_tests::official_cli().display(),
        boot.project_id
    );
    let out = cli
        .command_with_program(
            "script",
            &["-qec", &command, "/dev/null"],
            Some(repo.path()),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert_eq!(
        std::fs::read_to_string(repo.path().join("depot.json"))
            .unwrap()
            .trim(),
        format!("{{\"id\":\"{}\"}}", boot.project_id)
    );
    // Our CLI reads what the official one wrote.
    let ours = Cli::ours(&server).env("DEPOT_TOKEN", &boot.token);
    let out = ours.run_in(&["cache", "reset"], Some(repo.path()));
    assert_eq!(
        text(&out.stdout).trim(),
        "Cache reset for default (default)",
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn image_list_and_rm_act_on_the_registry() {
    let server = Server::start().await;
    let boot = server.bootstrap("olga");
    let reg = depot_tests::RegistryClient::new(&server, &boot.token);
    let (_, root) = reg.push_image(&boot.project_id, "v1", "root").await;
    let (_, web) = reg
        .push_image(&format!("{}/web", boot.project_id), "v2", "web")
        .await;
    let cli = Cli::official(&server).env("DEPOT_TOKEN", &boot.token);

    let listed: Value = serde_json::from_str(&cli.ok(&[
        "image",
        "list",
        "--project",
        &boot.project_id,
        "--output",
        "json",
    ]))
    .unwrap();
    let mut images: Vec<(String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["tag"].as_str().unwrap().to_owned(),
                i["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    images.sort();
    assert_eq!(
        images,
        vec![("v1".to_owned(), root.clone()), ("web:v2".to_owned(), web)]
    );
    assert!(listed[0]["size_bytes"].as_u64().unwrap() > 0, "{listed}");

    let out = cli.ok(&["image", "rm", "--project", &boot.project_id, "web:v2"]);
    assert!(out.contains("web:v2"), "{out}");
    let gone = reg
        .call(
            "GET",
            &format!("/v2/{}/web/manifests/v2", boot.project_id),
            &[],
            b"",
        )
        .await;
    assert_eq!(gone.status, 404);
    let failed = cli.run(&["image", "rm", "--project", &boot.project_id, "nope"]);
    assert!(!failed.status.success());
    assert!(
        text(&failed.stderr).contains("not_found"),
        "{}",
        text(&failed.stderr)
    );
    let listed: Value = serde_json::from_str(&cli.ok(&[
        "image",
        "list",
        "--project",
        &boot.project_id,
        "--output",
        "json",
    ]))
    .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["digest"], json!(root));
}

#[tokio::test]
async fn pull_saved_builds_and_tags_into_docker() {
    use base64::Engine as _;
    use depot_core::proto::depot::cli::v1::{
        BuildOptions, Command, CreateBuildRequest, GetPullInfoRequest,
    };

    let server = Server::start().await;
    let boot = server.bootstrap("pia");
    let registry_host = server.host();
    let client = server.client(&boot.token);

    // A saved build, as `depot build --save --save-tag extra` creates it; BuildKit then pushes
    // to the additional tags with the additional credentials (the build token).
    let created = client
        .builds()
        .create_build(CreateBuildRequest {
            project_id: Some(boot.project_id.clone()),
            options: vec![BuildOptions {
                command: Command::Build as i32,
                tags: vec!["depot-rs-test/app:latest".into()],
                save: true,
                save_tags: vec!["extra".into()],
                ..Default::default()
            }],
            required_engine: None,
        })
        .await
        .unwrap();
    let tags: Vec<_> = created
        .additional_tags
        .iter()
        .map(|t| t.tag.as_str())
        .collect();
    let repo = format!("{registry_host}/{}", boot.project_id);
    assert_eq!(
        tags,
        [
            format!("{repo}:{}", created.build_id),
            format!("{repo}:extra")
        ]
    );
    let credential = &created.additional_credentials[0];
    assert_eq!(credential.host, registry_host);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&credential.token)
        .unwrap();
    let (user, password) = std::str::from_utf8(&decoded)
        .unwrap()
        .split_once(':')
        .unwrap()
        .to_owned();
    assert_eq!((user, password), ("x-token", created.build_token.as_str()));
    let builder = depot_tests::RegistryClient::new(&server, &created.build_token);
    let digest = builder
        .push_runnable_image(
            &boot.project_id,
            &created.build_id,
            &[("hello.txt", b"hello from a saved build")],
        )
        .await;
    let other = server.admin_ok(&["project", "create", "elsewhere", "--org", &boot.org_id]);
    let r = builder
        .call(
            "POST",
            &format!("/v2/{}/blobs/uploads/", other.trim()),
            &[],
            b"",
        )
        .await;
    assert_eq!(
        r.status, 403,
        "a build token only pushes to its own project"
    );

    let info = client
        .builds()
        .get_pull_info(GetPullInfoRequest {
            build_id: created.build_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(info.reference, format!("{repo}:{}", created.build_id));
    assert_eq!(info.registry_host, registry_host);
    assert!(info.options[0].save);

    let cli = Cli::official(&server).env("DEPOT_TOKEN", &boot.token);
    let by_build = &unique_image("pulled");
    cli.ok(&[
        "pull",
        &created.build_id,
        "--project",
        &boot.project_id,
        "-t",
        by_build,
    ]);
    assert_eq!(docker_image_id(by_build).as_deref(), Some(digest.as_str()));

    let by_tag = &unique_image("pulled");
    builder
        .push_runnable_image(&boot.project_id, "release", &[("release.txt", b"release")])
        .await;
    cli.ok(&[
        "pull",
        "--project",
        &boot.project_id,
        "release",
        "-t",
        by_tag,
    ]);
    assert!(docker_image_id(by_tag).is_some());

    let missing = cli.run(&[
        "pull",
        "--project",
        &boot.project_id,
        "nope",
        "-t",
        "depot-rs-test/pulled:none",
    ]);
    assert!(!missing.status.success());
}

/// The README's example image (`examples/image`), built from a busybox `rootfs` context.
fn example_image() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/image")
}

#[tokio::test]
async fn builds_saves_pulls_and_loads_through_the_official_cli() {
    let server = Server::start().await;
    let boot = server.bootstrap("ken");
    let rootfs = depot_tests::busybox_rootfs();
    let work = tempfile::tempdir().unwrap();
    let metadata = work.path().join("m.json");
    let cli = Cli::official(&server).env("DEPOT_TOKEN", &boot.token);
    let rootfs_context = format!("rootfs={}", rootfs.path().display());
    let context = example_image();

    let out = cli.run(&[
        "build",
        "--project",
        &boot.project_id,
        "--save",
        "--save-tag",
        "extra",
        "--metadata-file",
        metadata.to_str().unwrap(),
        "--build-context",
        &rootfs_context,
        "--progress",
        "plain",
        context.to_str().unwrap(),
    ]);
    let log = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "depot build failed:\n{log}");
    assert!(log.contains("RUN mkdir -p /out"), "{log}");

    let m: Value = serde_json::from_str(&std::fs::read_to_string(&metadata).unwrap()).unwrap();
    let build_id = m["depot.build"]["buildID"]
        .as_str()
        .expect("buildID")
        .to_owned();
    assert_eq!(m["depot.build"]["projectID"], boot.project_id.as_str());
    let digest = m["containerimage.digest"].as_str().expect("digest");
    let repo = format!("{}/{}", server.host(), boot.project_id);
    for tag in [build_id.as_str(), "extra"] {
        let inspected = depot_tests::skopeo_ok(&[
            "inspect",
            "--tls-verify=false",
            "--creds",
            &format!("x-token:{}", boot.token),
            "--format",
            "{{.Digest}}",
            &format!("docker://{repo}:{tag}"),
        ]);
        assert_eq!(inspected.trim(), digest, "{repo}:{tag}");
    }

    let builds = cli.list_builds(&boot.project_id);
    assert_eq!(builds[0]["id"], build_id.as_str());
    assert_eq!(builds[0]["status"], "finished");
    // The CLI streams the status of its own steps (BuildKit's reach depot-rs's CLI's stream
    // only): they are on the build's record.
    let shown = server.admin_ok(&["build", "show", &build_id]);
    assert!(shown.contains("[depot] launching"), "{shown}");

    let pulled = &unique_image("official-build");
    cli.ok(&[
        "pull",
        &build_id,
        "--project",
        &boot.project_id,
        "-t",
        pulled,
    ]);
    let ran = std::process::Command::new("docker")
        .args(["run", "--rm", pulled])
        .output()
        .unwrap();
    assert_eq!(
        text(&ran.stdout).lines().next(),
        Some("Hello from a depot-rs build."),
        "{}",
        text(&ran.stderr)
    );

    let loaded = &unique_image("official-build");
    let out = cli.run(&[
        "build",
        "--project",
        &boot.project_id,
        "--load",
        "-t",
        loaded,
        "--build-context",
        &rootfs_context,
        "--progress",
        "plain",
        context.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "depot build --load failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        docker_image_id(loaded).is_some(),
        "--load put {loaded} into Docker"
    );
}

#[tokio::test]
async fn a_failing_official_cli_build_is_recorded_as_failed_and_frees_its_builder() {
    let server = Server::start_with(vec!["--builder-concurrency".into(), "1".into()]).await;
    let boot = server.bootstrap("lin");
    let rootfs = depot_tests::busybox_rootfs();
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY --from=rootfs / /\nRUN echo about to fail && exit 3\n",
    )
    .unwrap();
    let cli = Cli::official(&server).env("DEPOT_TOKEN", &boot.token);
    let rootfs_context = format!("rootfs={}", rootfs.path().display());
    // A failed step is never cached, so both builds run it.
    let build = || {
        let args = [
            "build",
            "--project",
            &boot.project_id,
            "--build-context",
            &rootfs_context,
            "--progress",
            "plain",
            context.path().to_str().unwrap(),
        ];
        Running::spawn(cli.command(&args, None)).finish(Duration::from_secs(180))
    };
    let (succeeded, log) = build();
    assert!(!succeeded, "{log}");
    assert!(log.contains("about to fail"), "{log}");
    let builds = cli.list_builds(&boot.project_id);
    assert_eq!(builds[0]["status"], "failed", "{builds}");
    // With one slot, a second build only gets the builder if the first released it.
    let (succeeded, log) = build();
    assert!(!succeeded && log.contains("about to fail"), "{log}");
}
