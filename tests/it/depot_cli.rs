//! depot-rs's `depot` CLI against a real depot-server, side by side with the official CLI.

use std::time::Duration;

use depot_core::proto::depot::cli::v1::{CreateBuildRequest, finish_build_request};
use depot_tests::{Cli, Running, Server, http, login_id, text, workspace_example};
use serde_json::{Value, json};

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[tokio::test]
async fn matches_the_official_cli_output() {
    let server = Server::start().await;
    let boot = server.bootstrap("carol");
    let build_id = server
        .finished_build(
            &boot.token,
            &boot.project_id,
            finish_build_request::Result::Canceled(Default::default()),
        )
        .await;

    let ours = Cli::ours(&server).env("DEPOT_TOKEN", &boot.token);
    let official = Cli::official(&server).env("DEPOT_TOKEN", &boot.token);
    for args in [
        vec!["list", "projects", "--output", "json"],
        vec![
            "list",
            "builds",
            "--project",
            &boot.project_id,
            "--output",
            "json",
        ],
        vec!["list", "projects"],
    ] {
        let (a, b) = (ours.ok(&args), official.ok(&args));
        if args.contains(&"json") {
            assert_eq!(json_of(&a), json_of(&b), "{args:?}");
        } else {
            assert_eq!(a.trim(), b.trim(), "{args:?}");
        }
    }
    let builds = ours.list_builds(&boot.project_id);
    assert_eq!(builds[0]["status"], json!("canceled"));
    assert_eq!(builds[0]["id"], json!(build_id));

    assert_eq!(
        ours.ok(&["cache", "reset", "--project", &boot.project_id])
            .trim(),
        "Cache reset for default (default)"
    );
    let pull = ours.ok(&["pull-token", "--project", &boot.project_id]);
    assert!(pull.trim().starts_with("dpl_"), "{pull}");
    let pull = ours.ok(&["pull-token", &build_id]);
    assert!(pull.trim().starts_with("dpl_"), "{pull}");

    let table = ours.ok(&["list", "projects", "--output", "table"]);
    assert!(
        table.contains("Project ID") && table.contains(&boot.project_id),
        "{table}"
    );
}

#[tokio::test]
async fn login_through_the_approve_page_then_logout() {
    let server = Server::start().await;
    let boot = server.bootstrap("dave");
    let cli = Cli::ours(&server);

    let out = cli.run(&["list", "projects"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("depot login"),
        "{}",
        text(&out.stderr)
    );

    let mut login = Running::spawn(cli.command(&["login"], None));
    let id = login_id(&login.wait_for("/login/", Duration::from_secs(20)));
    let page_path = format!("/login/{id}");

    let response = http(&server.url, "GET", &page_path, &[], b"").await;
    let (status, page) = (response.status, response.text());
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<form"), "{page}");

    let form = [("content-type", "application/x-www-form-urlencoded")];
    let response = http(&server.url, "POST", &page_path, &form, b"token=dpu_wrong").await;
    let (status, page) = (response.status, response.text());
    assert_eq!(status, 401, "{page}");

    let body = format!("token={}", boot.token);
    let response = http(&server.url, "POST", &page_path, &form, body.as_bytes()).await;
    let (status, page) = (response.status, response.text());
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("approved"), "{page}");

    let (ok, output) = login.finish(Duration::from_secs(20));
    assert!(ok, "{output}");
    assert!(output.contains("Successfully authenticated!"), "{output}");

    let token = cli.ok(&["login", "token"]);
    assert!(token.trim().starts_with("dpu_"), "{token}");
    assert_ne!(token.trim(), boot.token, "login mints a new token");
    assert_eq!(
        json_of(&cli.ok(&["list", "projects", "--output", "json"]))[0]["id"],
        json!(boot.project_id)
    );
    assert!(cli.ok(&["login"]).contains("already logged in"));

    cli.ok(&["logout"]);
    let config = std::fs::read_to_string(cli.user_config()).unwrap();
    assert!(config.contains("api_token: ''"), "{config}");
    assert!(!cli.run(&["list", "projects"]).status.success());

    // The page refuses a second approval and unknown logins.
    let response = http(&server.url, "POST", &page_path, &form, body.as_bytes()).await;
    let (status, _) = (response.status, response.text());
    assert_eq!(status, 409);
    let response = http(&server.url, "GET", "/login/unknown", &[], b"").await;
    let (status, _) = (response.status, response.text());
    assert_eq!(status, 404);
}

#[tokio::test]
async fn init_links_a_directory_and_projects_are_managed() {
    let server = Server::start().await;
    let boot = server.bootstrap("erin");
    let cli = Cli::ours(&server).env("DEPOT_TOKEN", &boot.token);

    let created = json_of(&cli.ok(&["projects", "create", "web app", "--output", "json"]));
    let new_id = created[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(created[0]["name"], json!("web app"));
    assert_eq!(created[0]["org_id"], json!(boot.org_id));

    let repo = tempfile::tempdir().unwrap();
    let nested = repo.path().join("src/deep");
    std::fs::create_dir_all(&nested).unwrap();
    let out = cli.run_in(&["init", "--project", &new_id], Some(repo.path()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(repo.path().join("depot.json")).unwrap(),
        format!("{{\"id\":\"{new_id}\"}}\n")
    );
    let again = cli.run_in(&["init", "--project", &new_id], Some(repo.path()));
    assert!(
        !again.status.success(),
        "init must not overwrite without --force"
    );
    // Without a TTY and without --project, init lists the projects and fails.
    let out = cli.run_in(&["init", "--force"], Some(repo.path()));
    assert!(!out.status.success());
    assert!(text(&out.stdout).contains(&new_id), "{}", text(&out.stdout));

    // depot.json is found upward from a nested directory.
    let out = cli.run_in(&["cache", "reset"], Some(&nested));
    assert_eq!(
        text(&out.stdout).trim(),
        "Cache reset for web app (default)",
        "{}",
        text(&out.stderr)
    );
    // The official CLI resolves the same file.
    let official = Cli::official(&server).env("DEPOT_TOKEN", &boot.token);
    let out = official.run_in(&["cache", "reset"], Some(&nested));
    assert_eq!(
        text(&out.stdout).trim(),
        "Cache reset for web app (default)",
        "{}",
        text(&out.stderr)
    );

    let out = cli.run(&["projects", "delete", "--project-id", &new_id]);
    assert!(!out.status.success(), "deleting needs --yes without a TTY");
    cli.ok(&["projects", "delete", "--project-id", &new_id, "--yes"]);
    let listed = json_of(&cli.ok(&["projects", "list", "--output", "json"]));
    assert_eq!(listed, json!([{"id": boot.project_id, "name": "default"}]));
}

#[tokio::test]
async fn works_over_tls_with_an_extra_ca() {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let pki = tempfile::tempdir().unwrap();
    let (cert_path, key_path, ca_path) = (
        pki.path().join("cert.pem"),
        pki.path().join("key.pem"),
        pki.path().join("ca.pem"),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    std::fs::write(&ca_path, ca.pem()).unwrap();

    let server = Server::start_with(vec![
        "--tls-cert".into(),
        cert_path.display().to_string(),
        "--tls-key".into(),
        key_path.display().to_string(),
    ])
    .await;
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let boot = server.bootstrap("frank");
    let port = server.url.rsplit(':').next().unwrap();
    let url = format!("https://localhost:{port}");

    let cli = Cli::ours(&server)
        .env("DEPOT_API_URL", &url)
        .env("DEPOT_TOKEN", &boot.token);
    let out = cli.run(&["list", "projects", "--output", "json"]);
    assert!(!out.status.success(), "an unknown CA must be refused");
    assert!(
        text(&out.stderr).contains("certificate"),
        "{}",
        text(&out.stderr)
    );

    let cli = cli.env("DEPOT_API_CA_FILE", &ca_path.display().to_string());
    let projects = json_of(&cli.ok(&["list", "projects", "--output", "json"]));
    assert_eq!(projects[0]["id"], json!(boot.project_id));
}

#[tokio::test]
async fn the_sdk_example_lists_projects_and_builds() {
    let server = Server::start().await;
    let boot = server.bootstrap("mona");
    let build = server
        .client(&boot.token)
        .builds()
        .create_build(CreateBuildRequest {
            project_id: Some(boot.project_id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let out = std::process::Command::new(workspace_example("list-projects"))
        .env("DEPOT_API_URL", &server.url)
        .env("DEPOT_TOKEN", &boot.token)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "{} default (organization default)",
            boot.project_id
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("build {} BUILD_STATUS_RUNNING", build.build_id)),
        "{stdout}"
    );
}
