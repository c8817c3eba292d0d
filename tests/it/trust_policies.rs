//! `depot projects trust-policies list|add|remove` (our CLI) against a real depot-server.

use depot_tests::{Cli, Server, text};
use serde_json::{Value, json};

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// Runs `args`, which must fail; returns stderr.
fn fails(cli: &Cli, args: &[&str]) -> String {
    let out = cli.run(args);
    assert!(
        !out.status.success(),
        "{args:?} succeeded:\nstdout: {}",
        text(&out.stdout)
    );
    assert_eq!(out.status.code(), Some(1), "{args:?}");
    text(&out.stderr)
}

/// `projects trust-policies <rest…>`.
fn tp<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["projects", "trust-policies"];
    args.extend_from_slice(rest);
    args
}

#[tokio::test]
async fn add_list_and_remove_policies_of_every_provider() {
    let server = Server::start().await;
    let boot = server.bootstrap("tess");
    let project = boot.project_id.as_str();
    let cli = Cli::ours(&server).env("DEPOT_TOKEN", &boot.token);

    // Nothing yet: CSV is only the header, JSON an empty array.
    assert_eq!(
        cli.ok(&tp(&["list", "--project", project, "--output", "csv"])),
        "Trust Policy ID,Provider,Owner,Repository\n"
    );
    assert_eq!(
        json_of(&cli.ok(&tp(&["list", "--project", project, "--output", "json"]))),
        json!([])
    );

    // Each add prints the new policy's ID, alone.
    let github = cli.ok(&tp(&[
        "add",
        "github",
        "--owner",
        "acme",
        "--repository",
        "app",
        "--project",
        project,
    ]));
    let github = github.trim().to_owned();
    assert!(
        !github.is_empty() && !github.contains(char::is_whitespace),
        "{github}"
    );
    // The project may also come from DEPOT_PROJECT_ID.
    let in_project = Cli::ours(&server)
        .env("DEPOT_TOKEN", &boot.token)
        .env("DEPOT_PROJECT_ID", project);
    let gitlab = in_project
        .ok(&tp(&[
            "add",
            "gitlab",
            "--namespace",
            "acme/platform",
            "--project-path",
            "deploy",
        ]))
        .trim()
        .to_owned();
    let (org_uuid, project_uuid) = (
        "1c5b6a0e-0b8e-4f5e-9a47-3d3f0c2b9e11",
        "9f0e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
    );
    let circleci = cli
        .ok(&tp(&[
            "add",
            "circleci",
            "--organization-uuid",
            org_uuid,
            "--project-uuid",
            project_uuid,
            "--project",
            project,
        ]))
        .trim()
        .to_owned();
    // --output json prints the new policy as an object.
    let buildkite = json_of(&cli.ok(&tp(&[
        "add",
        "buildkite",
        "--organization-slug",
        "acme",
        "--pipeline-slug",
        "release",
        "--project",
        project,
        "--output",
        "json",
    ])));
    let buildkite_id = buildkite["id"].as_str().expect("an id").to_owned();
    assert_eq!(
        buildkite,
        json!({
            "id": buildkite_id,
            "provider": "buildkite",
            "organization_slug": "acme",
            "pipeline_slug": "release",
        })
    );
    let ids = [&github, &gitlab, &circleci, &buildkite_id];
    for (i, id) in ids.iter().enumerate() {
        assert!(!ids[..i].contains(id), "IDs repeat: {ids:?}");
    }

    // JSON names the fields as the API does; GitLab's come from depot-rs's own service.
    let listed = json_of(&cli.ok(&tp(&["list", "--project", project, "--output", "json"])));
    let mut listed = listed.as_array().expect("an array").clone();
    listed.sort_by_key(|p| p["provider"].as_str().unwrap().to_owned());
    assert_eq!(
        listed,
        vec![
            json!({"id": buildkite_id, "provider": "buildkite",
                   "organization_slug": "acme", "pipeline_slug": "release"}),
            json!({"id": circleci, "provider": "circleci",
                   "organization_uuid": org_uuid, "project_uuid": project_uuid}),
            json!({"id": github, "provider": "github",
                   "repository_owner": "acme", "repository": "app"}),
            json!({"id": gitlab, "provider": "gitlab",
                   "namespace_path": "acme/platform", "project_path": "deploy"}),
        ]
    );

    // CSV and table: the two fields as Owner and Repository.
    let csv = cli.ok(&tp(&["list", "--project", project, "--output", "csv"]));
    let mut lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.remove(0), "Trust Policy ID,Provider,Owner,Repository");
    lines.sort_by_key(|l| l.split(',').nth(1).unwrap().to_owned());
    assert_eq!(
        lines,
        [
            format!("{buildkite_id},buildkite,acme,release"),
            format!("{circleci},circleci,{org_uuid},{project_uuid}"),
            format!("{github},github,acme,app"),
            format!("{gitlab},gitlab,acme/platform,deploy"),
        ]
    );
    let table = cli.ok(&tp(&["list", "--project", project, "--output", "table"]));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["Trust", "Policy", "ID", "Provider", "Owner", "Repository"]
    );
    for (id, provider, owner, repository) in [
        (&github, "github", "acme", "app"),
        (&gitlab, "gitlab", "acme/platform", "deploy"),
        (&circleci, "circleci", org_uuid, project_uuid),
        (&buildkite_id, "buildkite", "acme", "release"),
    ] {
        let row = table
            .lines()
            .find(|l| l.contains(id.as_str()))
            .unwrap_or_else(|| panic!("{id} missing:\n{table}"));
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>(),
            [id.as_str(), provider, owner, repository],
            "{table}"
        );
    }
    // `ls` is an alias; the default format when piped is CSV, as for `depot list projects`.
    assert_eq!(in_project.ok(&tp(&["ls"])), csv);

    // Remove one (GitLab, which only depot-rs's service lists), then list again.
    let removed = cli.ok(&tp(&["remove", &gitlab, "--project", project]));
    assert_eq!(
        removed.trim(),
        format!("Trust policy {gitlab} removed from project {project}.")
    );
    let listed = json_of(&cli.ok(&tp(&["list", "--project", project, "--output", "json"])));
    let mut left: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    left.sort_unstable();
    let mut expected = [github.as_str(), circleci.as_str(), buildkite_id.as_str()];
    expected.sort_unstable();
    assert_eq!(left, expected);

    // Removing it again, or an ID that never existed, fails and says where to look.
    for id in [gitlab.as_str(), "tp_does_not_exist"] {
        let err = fails(&cli, &tp(&["remove", id, "--project", project]));
        assert!(err.contains("not_found"), "{err}");
        assert!(
            err.contains(&format!("trust policy {id} not found")),
            "{err}"
        );
        assert!(err.contains("depot projects trust-policies list"), "{err}");
    }
    // Nothing else was removed.
    let listed = json_of(&cli.ok(&tp(&["list", "--project", project, "--output", "json"])));
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
}

#[tokio::test]
async fn project_tokens_cannot_change_policies_and_bad_input_is_refused() {
    let server = Server::start().await;
    let boot = server.bootstrap("uma");
    let project = boot.project_id.as_str();
    let admin = Cli::ours(&server).env("DEPOT_TOKEN", &boot.token);
    let policy = admin
        .ok(&[
            "projects",
            "trust-policies",
            "add",
            "github",
            "--owner",
            "acme",
            "--repository",
            "acme/app",
            "--project",
            project,
        ])
        .trim()
        .to_owned();

    // A project token reads its project's policies but cannot add or remove any.
    let project_token = server.admin_ok(&["token", "create", "--project", project]);
    let scoped = Cli::ours(&server).env("DEPOT_PROJECT_ID", project);
    let listed = json_of(&scoped.ok(&[
        "projects",
        "trust-policies",
        "list",
        "--token",
        project_token.trim(),
        "--output",
        "json",
    ]));
    assert_eq!(
        listed,
        json!([{"id": policy, "provider": "github",
                "repository_owner": "acme", "repository": "acme/app"}])
    );
    let scoped = scoped.env("DEPOT_TOKEN", project_token.trim());
    let err = fails(
        &scoped,
        &[
            "projects",
            "trust-policies",
            "add",
            "buildkite",
            "--organization-slug",
            "acme",
            "--pipeline-slug",
            "deploy",
        ],
    );
    assert!(err.contains("permission_denied"), "{err}");
    assert!(err.contains("cannot administer"), "{err}");
    assert!(err.contains("depot login"), "{err}");
    let err = fails(
        &scoped,
        &[
            "projects",
            "trust-policies",
            "add",
            "gitlab",
            "--namespace",
            "acme",
            "--project-path",
            "app",
        ],
    );
    assert!(err.contains("permission_denied"), "{err}");
    let err = fails(&scoped, &["projects", "trust-policies", "remove", &policy]);
    assert!(err.contains("permission_denied"), "{err}");
    assert_eq!(
        json_of(&admin.ok(&[
            "projects",
            "trust-policies",
            "list",
            "--project",
            project,
            "--output",
            "json"
        ]))
        .as_array()
        .unwrap()
        .len(),
        1,
        "nothing changed"
    );

    // Empty or malformed fields are refused before anything is sent, naming the flag.
    for (args, expected) in [
        (
            vec!["github", "--owner", "", "--repository", "app"],
            "--owner must not be empty",
        ),
        (
            vec!["github", "--owner", "acme", "--repository", "  "],
            "--repository must not be empty",
        ),
        (
            vec!["github", "--owner", "acme", "--repository", "other/app"],
            "belongs to other, not to --owner acme",
        ),
        (
            vec!["gitlab", "--namespace", "acme", "--project-path", ""],
            "--project-path must not be empty",
        ),
        (
            vec![
                "circleci",
                "--organization-uuid",
                "acme",
                "--project-uuid",
                "9f0e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
            ],
            "--organization-uuid must be a UUID",
        ),
        (
            vec![
                "buildkite",
                "--organization-slug",
                "acme",
                "--pipeline-slug",
                "",
            ],
            "--pipeline-slug must not be empty",
        ),
    ] {
        let mut full = vec!["projects", "trust-policies", "add"];
        full.extend(args);
        full.extend(["--project", project]);
        let err = fails(&admin, &full);
        assert!(err.contains(expected), "{full:?}: {err}");
    }
    // A missing flag is clap's usage error (exit 2), which names it.
    let out = admin.run(&[
        "projects",
        "trust-policies",
        "add",
        "github",
        "--owner",
        "acme",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--repository"),
        "{}",
        text(&out.stderr)
    );

    // Without a project anywhere, the error says how to give one.
    let err = fails(&admin, &["projects", "trust-policies", "list"]);
    assert!(err.contains("--project"), "{err}");
    // An unknown project is not found, with a hint.
    let err = fails(
        &admin,
        &["projects", "trust-policies", "list", "--project", "nope"],
    );
    assert!(err.contains("not_found"), "{err}");
    assert!(err.contains("depot projects list"), "{err}");

    assert_eq!(
        json_of(&admin.ok(&[
            "projects",
            "trust-policies",
            "list",
            "--project",
            project,
            "--output",
            "json"
        ]))
        .as_array()
        .unwrap()
        .len(),
        1,
        "no bad request added a policy"
    );
}

/// A front that answers like Depot's hosted API: depot-rs's own services (`/depotrs.v1.…`) are
/// unknown there (HTTP 404, which Connect clients read as `unimplemented`); every other call is
/// relayed to `upstream`. Returns the front's URL (h2c, as the CLI speaks to `http://` URLs).
async fn depot_like_front(upstream: String) -> String {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::body::Incoming;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (client, upstream) = (client.clone(), upstream.clone());
            let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
                let (client, upstream) = (client.clone(), upstream.clone());
                async move {
                    if request.uri().path().starts_with("/depotrs.v1.") {
                        let not_found = Full::new(Bytes::from_static(b"404 page not found"));
                        return Ok::<_, hyper::Error>(
                            http::Response::builder()
                                .status(404)
                                .body(not_found)
                                .unwrap(),
                        );
                    }
                    let (mut parts, body) = request.into_parts();
                    let body = body.collect().await?.to_bytes();
                    parts.uri = format!("{upstream}{}", parts.uri.path()).parse().unwrap();
                    parts.version = http::Version::HTTP_11;
                    let response = client
                        .request(http::Request::from_parts(parts, Full::new(body)))
                        .await
                        .expect("relaying to depot-server");
                    let (mut parts, body) = response.into_parts();
                    let body = body.collect().await?.to_bytes();
                    parts.version = http::Version::HTTP_2;
                    Ok(http::Response::from_parts(parts, Full::new(body)))
                }
            });
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    url
}

// The CLI runs as a blocking child process while the front relays its calls: two workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_depot_rs_services_listing_falls_back_and_gitlab_is_refused() {
    let server = Server::start().await;
    let boot = server.bootstrap("vera");
    let project = boot.project_id.as_str();
    let direct = Cli::ours(&server)
        .env("DEPOT_TOKEN", &boot.token)
        .env("DEPOT_PROJECT_ID", project);
    let gitlab = direct
        .ok(&tp(&[
            "add",
            "gitlab",
            "--namespace",
            "acme",
            "--project-path",
            "app",
        ]))
        .trim()
        .to_owned();

    let front = depot_like_front(server.url.clone()).await;
    let hosted = Cli::ours(&server)
        .env("DEPOT_API_URL", &front)
        .env("DEPOT_TOKEN", &boot.token)
        .env("DEPOT_PROJECT_ID", project);
    // GitHub, CircleCI and Buildkite policies only need Depot's ProjectService.
    let github = hosted
        .ok(&tp(&[
            "add",
            "github",
            "--owner",
            "acme",
            "--repository",
            "app",
        ]))
        .trim()
        .to_owned();
    // Listing falls back to Depot's ProjectService, which cannot show GitLab policies.
    assert_eq!(
        json_of(&hosted.ok(&tp(&["list", "--output", "json"]))),
        json!([{"id": github, "provider": "github",
                "repository_owner": "acme", "repository": "app"}])
    );
    // GitLab policies cannot be added there, and the error says why.
    let err = fails(
        &hosted,
        &tp(&[
            "add",
            "gitlab",
            "--namespace",
            "acme",
            "--project-path",
            "web",
        ]),
    );
    assert!(
        err.contains("the server does not support GitLab trust policies"),
        "{err}"
    );
    // Removing works for every provider through Depot's ProjectService.
    hosted.ok(&tp(&["remove", &gitlab]));
    assert_eq!(
        json_of(&direct.ok(&tp(&["list", "--output", "json"])))
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
