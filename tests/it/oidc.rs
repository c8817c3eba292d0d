//! CI identity end to end: local test issuers stand in for GitHub Actions, GitLab, CircleCI and
//! Buildkite; a real depot-server trusts them; our CLI, the official CLI and docker present
//! their tokens. Builds run on the Docker Engine 26's BuildKit and are saved to the registry.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use depot_core::proto::depot::cli::v1::{CreateBuildRequest, GetPullInfoRequest};
use depot_core::proto::depot::core::v1::{
    AddTrustPolicyRequest, RemoveTrustPolicyRequest, add_trust_policy_request, trust_policy,
};
use depot_oidc::test_issuer::{ACTIONS_REQUEST_TOKEN, BUILDKITE_AGENT_TOKEN, Signing, TestIssuer};
use depot_tests::{Cli, Server, busybox_rootfs, docker_image_id, docker_with_config, text};
use serde_json::{Value, json};

const AUDIENCE: &str = "https://depot.dev";
const CIRCLE_ORG: &str = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
const CIRCLE_PROJECT: &str = "11111111-2222-3333-4444-555555555555";

/// Four issuers, a server trusting them, and a bootstrapped project.
struct Setup {
    github: TestIssuer,
    gitlab: TestIssuer,
    circleci: TestIssuer,
    buildkite: TestIssuer,
    server: Server,
    project: String,
    token: String,
}

impl Setup {
    async fn new() -> Setup {
        Self::with_args(Vec::new()).await
    }

    async fn with_args(mut args: Vec<String>) -> Setup {
        let github = TestIssuer::start("/github").await;
        let gitlab = TestIssuer::start("/gitlab").await;
        let circleci = TestIssuer::start(&format!("/org/{CIRCLE_ORG}")).await;
        let buildkite = TestIssuer::start("/buildkite").await;
        let circle_prefix = circleci.issuer().trim_end_matches(CIRCLE_ORG);
        let issuers = [
            format!("github={}", github.issuer()),
            format!("gitlab={}", gitlab.issuer()),
            format!("circleci={circle_prefix}*"),
            format!("buildkite={}", buildkite.issuer()),
        ];
        for issuer in issuers {
            args.extend(["--oidc-issuer".to_owned(), issuer]);
        }
        let server = Server::start_with(args).await;
        let boot = server.bootstrap("ci");
        github.set_ci_claims(github_claims("acme/app"));
        Setup {
            github,
            gitlab,
            circleci,
            buildkite,
            server,
            project: boot.project_id,
            token: boot.token,
        }
    }

    async fn add_policy(&self, provider: add_trust_policy_request::Provider) -> String {
        self.server
            .client(&self.token)
            .project_admin()
            .add_trust_policy(AddTrustPolicyRequest {
                project_id: self.project.clone(),
                provider: Some(provider),
            })
            .await
            .expect("AddTrustPolicy")
            .trust_policy
            .expect("the policy")
            .trust_policy_id
    }

    async fn trust_github(&self, owner: &str, repository: &str) -> String {
        self.add_policy(add_trust_policy_request::Provider::Github(
            trust_policy::GitHub {
                repository_owner: owner.into(),
                repository: repository.into(),
            },
        ))
        .await
    }

    async fn remove_policy(&self, id: &str) {
        self.server
            .client(&self.token)
            .project_admin()
            .remove_trust_policy(RemoveTrustPolicyRequest {
                project_id: self.project.clone(),
                trust_policy_id: id.into(),
            })
            .await
            .expect("RemoveTrustPolicy");
    }

    /// A GitHub token for `repository` (`owner/name`), with `extra` claims.
    fn github_token(&self, repository: &str, extra: Value) -> String {
        let mut claims = github_claims(repository);
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        self.github.mint(&self.github.claims(AUDIENCE, claims))
    }

    /// A GitHub token of a pull request from a fork (mallory/app) to acme/app.
    fn fork_token(&self) -> String {
        self.github_token(
            "acme/app",
            json!({"event_name": "pull_request", "head_repository": "mallory/app"}),
        )
    }

    /// A CLI (`official` or ours) that finds its token in GitHub Actions' environment.
    fn in_github_actions(&self, cli: Cli) -> Cli {
        cli.env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            &self.github.actions_token_url(),
        )
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", ACTIONS_REQUEST_TOKEN)
    }

    /// How many builds the project has (seen with the user's token).
    fn build_count(&self) -> usize {
        Cli::ours(&self.server)
            .env("DEPOT_TOKEN", &self.token)
            .list_builds(&self.project)
            .as_array()
            .unwrap()
            .len()
    }
}

fn github_claims(repository: &str) -> Value {
    json!({
        "repository_owner": repository.split('/').next().unwrap(),
        "repository": repository,
        "event_name": "push",
    })
}

fn example_image() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/image")
}

/// `depot build --save` of the example image with `cli`; returns its output and metadata.
fn build_saved(cli: &Cli, project: &str, rootfs: &Path) -> (Output, Option<Value>) {
    build(cli, project, &example_image(), rootfs, &["--save"])
}

/// A build context whose Dockerfile runs `step` on the busybox root file system.
fn step_context(step: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM scratch\nCOPY --from=rootfs / /\n{step}\n"),
    )
    .unwrap();
    dir
}

/// `depot build` (plain progress, not saved) of `context` with `cli`; returns its output and
/// metadata.
fn build_step(cli: &Cli, project: &str, context: &Path, rootfs: &Path) -> (Output, Option<Value>) {
    build(cli, project, context, rootfs, &[])
}

/// `depot build` of `context` with `cli`, `rootfs` as the named context `rootfs`, plain
/// progress and `extra` flags; returns its output and its `--metadata-file`, if written.
fn build(
    cli: &Cli,
    project: &str,
    context: &Path,
    rootfs: &Path,
    extra: &[&str],
) -> (Output, Option<Value>) {
    let work = tempfile::tempdir().unwrap();
    let metadata = work.path().join("metadata.json");
    let rootfs = format!("rootfs={}", rootfs.display());
    let mut args = vec!["build", "--project", project, "--progress", "plain"];
    args.extend_from_slice(extra);
    args.extend([
        "--build-context",
        &rootfs,
        "--metadata-file",
        metadata.to_str().unwrap(),
        context.to_str().unwrap(),
    ]);
    let out = cli.run(&args);
    let metadata = std::fs::read_to_string(&metadata)
        .ok()
        .map(|m| serde_json::from_str(&m).unwrap());
    (out, metadata)
}

fn docker_login(config: &Path, host: &str, password: &str) -> Output {
    docker_with_config(
        config,
        &["login", "-u", "x-token", "--password-stdin", host],
        Some(password),
    )
}

fn combined(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_actions_job_builds_saves_and_pulls_with_its_oidc_token() {
    let setup = Setup::new().await;
    setup.trust_github("acme", "app").await;
    let rootfs = busybox_rootfs();

    // Our CLI: no DEPOT_TOKEN, only GitHub Actions' token endpoint.
    let ours = setup
        .in_github_actions(Cli::ours(&setup.server))
        .env("DEPOT_DEBUG_OIDC", "1");
    let (out, metadata) = build_saved(&ours, &setup.project, rootfs.path());
    assert!(out.status.success(), "{}", combined(&out));
    assert!(
        text(&out.stderr).contains("[depot] oidc: github: got a token"),
        "{}",
        text(&out.stderr)
    );
    let build_id = metadata.unwrap()["depot.build"]["buildID"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = ours.list_builds(&setup.project);
    assert_eq!(list[0]["id"], build_id.as_str());
    assert_eq!(list[0]["status"], "finished");

    // `depot pull` with the same identity, into the Engine.
    let tag = format!("depot-rs-test/oidc-pull:{}", &build_id[..8]);
    ours.ok(&["pull", "--project", &setup.project, "-t", &tag, &build_id]);
    assert!(docker_image_id(&tag).is_some(), "{tag} was not loaded");
    let _ = Command::new("docker").args(["rmi", "-f", &tag]).output();

    // docker login with the JWT as password, then docker pull.
    let config = tempfile::tempdir().unwrap();
    let host = setup.server.host();
    let jwt = setup.github_token("acme/app", json!({}));
    let login = docker_login(config.path(), &host, &jwt);
    assert!(login.status.success(), "{}", combined(&login));
    let image = format!("{host}/{}:{build_id}", setup.project);
    let pulled = docker_with_config(config.path(), &["pull", &image], None);
    assert!(pulled.status.success(), "{}", combined(&pulled));
    let _ = docker_with_config(config.path(), &["rmi", "-f", &image], None);

    // The official CLI sends the GitHub-style JWT it fetched as its bearer token.
    let official = setup.in_github_actions(Cli::official(&setup.server));
    let listed = official.ok(&[
        "list",
        "builds",
        "--project",
        &setup.project,
        "--output",
        "json",
    ]);
    assert!(listed.contains(&build_id), "{listed}");
    let pull_token = official.ok(&["pull-token", "--project", &setup.project]);
    assert!(pull_token.trim().starts_with("dpl_"), "{pull_token}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ci_tokens_are_refused_clearly_and_change_nothing() {
    // The shared local builder and no isolated one: a fork's build has nowhere to run.
    let setup = Setup::with_args(vec!["--builder".into(), "local".into()]).await;
    let policy = setup.trust_github("acme", "app").await;
    let stranger = TestIssuer::start("/github").await;
    let rootfs = busybox_rootfs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let good = setup.github.claims(AUDIENCE, github_claims("acme/app"));
    let with = |extra: Value| {
        let mut claims = good.clone();
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        claims
    };
    let issuer = &setup.github;
    let mut cases: Vec<(&str, String)> = vec![
        (
            "expired",
            issuer.mint(&with(
                json!({"exp": now - 600, "iat": now - 900, "nbf": now - 900}),
            )),
        ),
        (
            "not_yet_valid",
            issuer.mint(&with(json!({"nbf": now + 3600}))),
        ),
        (
            "wrong_audience",
            issuer.mint(&with(json!({"aud": "https://elsewhere.example"}))),
        ),
        (
            "unknown_issuer",
            stranger.mint(&stranger.claims(AUDIENCE, github_claims("acme/app"))),
        ),
        ("bad_signature", issuer.mint_with(&good, Signing::Tampered)),
        ("unsigned", issuer.mint_with(&good, Signing::Unsigned)),
        (
            "symmetric_algorithm",
            issuer.mint_with(&good, Signing::HmacWithPublicKey),
        ),
        ("unknown_key", issuer.mint_with(&good, Signing::UnlistedKey)),
        (
            "no trust policy of project",
            setup.github_token("acme/other", json!({})),
        ),
    ];
    // A valid token stops working when its policy is removed.
    let valid = setup.github_token("acme/app", json!({}));
    let cli = Cli::ours(&setup.server).env("DEPOT_TOKEN", &valid);
    cli.list_builds(&setup.project);
    setup.remove_policy(&policy).await;
    cases.push(("no trust policy of project", valid));

    let config = tempfile::tempdir().unwrap();
    let host = setup.server.host();
    for (expected, token) in cases {
        let cli = Cli::ours(&setup.server).env("DEPOT_TOKEN", &token);
        let (out, metadata) = build_saved(&cli, &setup.project, rootfs.path());
        let printed = combined(&out);
        assert!(
            !out.status.success(),
            "{expected}: the build ran:\n{printed}"
        );
        assert!(metadata.is_none(), "{expected}");
        assert!(printed.contains(expected), "{expected}:\n{printed}");
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            signature.is_empty() || !printed.contains(signature),
            "{expected}: the token was echoed:\n{printed}"
        );
        let login = docker_login(config.path(), &host, &token);
        assert!(
            !login.status.success(),
            "{expected}: docker login succeeded"
        );
    }
    assert_eq!(setup.build_count(), 0, "a refused token created a build");

    // A fork's pull request may build, but not save, and has no registry access.
    setup.trust_github("acme", "app").await;
    let fork = Cli::ours(&setup.server).env("DEPOT_TOKEN", &setup.fork_token());
    let (out, _) = build_saved(&fork, &setup.project, rootfs.path());
    assert!(!out.status.success(), "{}", combined(&out));
    assert!(
        combined(&out).contains("a pull request from a fork"),
        "{}",
        combined(&out)
    );
    let login = docker_login(config.path(), &host, &setup.fork_token());
    assert!(!login.status.success(), "{}", combined(&login));
    assert_eq!(setup.build_count(), 0, "a refused fork build was created");

    // Without an isolated builder, a fork's build is refused when it asks for a builder.
    let context = step_context("RUN echo never-$((1+1))");
    let (out, _) = build_step(&fork, &setup.project, context.path(), rootfs.path());
    assert!(!out.status.success(), "{}", combined(&out));
    assert!(
        combined(&out).contains("no isolated builder"),
        "{}",
        combined(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_pull_requests_build_isolated_from_the_projects_cache_and_registry() {
    // Per-project builders: a fork's build gets an ephemeral builder of its own.
    let setup = Setup::new().await;
    setup.trust_github("acme", "app").await;
    let rootfs = busybox_rootfs();
    let trusted = Cli::ours(&setup.server).env("DEPOT_TOKEN", &setup.token);
    let fork_jwt = setup.fork_token();
    let fork = Cli::ours(&setup.server).env("DEPOT_TOKEN", &fork_jwt);
    // Whether the RUN step ran: its output (`step-2`) differs from its name (`$((1+1))`).
    let ran = |out: &Output, marker: &str| {
        assert!(out.status.success(), "{}", combined(out));
        text(&out.stderr).contains(marker)
    };

    // A trusted build fills the project's cache: built once, then cached.
    let trusted_first = step_context("RUN echo trusted-step-$((1+1))");
    let (out, _) = build_step(
        &trusted,
        &setup.project,
        trusted_first.path(),
        rootfs.path(),
    );
    assert!(ran(&out, "trusted-step-2"), "the first build did not run");
    let (out, _) = build_step(
        &trusted,
        &setup.project,
        trusted_first.path(),
        rootfs.path(),
    );
    assert!(
        !ran(&out, "trusted-step-2"),
        "the trusted cache did not work"
    );

    // The fork's build of the same Dockerfile does not see it, and runs isolated.
    let (out, metadata) = build_step(&fork, &setup.project, trusted_first.path(), rootfs.path());
    assert!(
        ran(&out, "trusted-step-2"),
        "the fork build used the trusted cache"
    );
    let build_id = metadata.unwrap()["depot.build"]["buildID"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = setup.server.build_summary(&setup.token, &build_id).await;
    assert!(page.contains("isolated: yes"), "{page}");
    assert!(page.contains("status: finished"), "{page}");
    // Its cache is thrown away: the same build runs the step again.
    let (out, _) = build_step(&fork, &setup.project, trusted_first.path(), rootfs.path());
    assert!(ran(&out, "trusted-step-2"), "the fork's cache was kept");

    // The official CLI, in a fork's GitHub Actions job, gets an isolated builder too.
    let mut fork_claims = github_claims("acme/app");
    fork_claims.as_object_mut().unwrap().extend(
        json!({"event_name": "pull_request", "head_repository": "mallory/app"})
            .as_object()
            .unwrap()
            .clone(),
    );
    setup.github.set_ci_claims(fork_claims);
    let official = setup.in_github_actions(Cli::official(&setup.server));
    let (out, _) = build_step(
        &official,
        &setup.project,
        trusted_first.path(),
        rootfs.path(),
    );
    assert!(
        ran(&out, "trusted-step-2"),
        "the official CLI's fork build was cached"
    );

    // And the other way round: what a fork built is not in the project's cache.
    let fork_first = step_context("RUN echo fork-step-$((2+2))");
    let (out, _) = build_step(&fork, &setup.project, fork_first.path(), rootfs.path());
    assert!(ran(&out, "fork-step-4"));
    let (out, _) = build_step(&trusted, &setup.project, fork_first.path(), rootfs.path());
    assert!(
        ran(&out, "fork-step-4"),
        "the trusted build used the fork's cache"
    );

    // The fork cannot read the project's builds or get pull tokens.
    let listed = fork.run(&["list", "builds", "--project", &setup.project]);
    assert!(!listed.status.success());
    assert!(
        combined(&listed).contains("a pull request from a fork"),
        "{}",
        combined(&listed)
    );
    let pull_token = fork.run(&["pull-token", "--project", &setup.project]);
    assert!(!pull_token.status.success(), "{}", combined(&pull_token));

    // Its build token cannot use the registry, and the build was not saved.
    let created = setup
        .server
        .client(&fork_jwt)
        .builds()
        .create_build(CreateBuildRequest {
            project_id: Some(setup.project.clone()),
            ..Default::default()
        })
        .await
        .expect("CreateBuild with the fork's token");
    assert!(created.additional_tags.is_empty(), "{created:?}");
    assert!(created.additional_credentials.is_empty(), "{created:?}");
    let config = tempfile::tempdir().unwrap();
    let login = docker_login(config.path(), &setup.server.host(), &created.build_token);
    assert!(!login.status.success());
    assert!(
        combined(&login).contains("isolated builds"),
        "{}",
        combined(&login)
    );
    let pull_info = setup
        .server
        .client(&setup.token)
        .builds()
        .get_pull_info(GetPullInfoRequest {
            build_id: build_id.clone(),
        })
        .await
        .expect_err("an isolated build has nothing to pull");
    assert!(pull_info.message().contains("not saved"), "{pull_info}");

    // Every fork build's builder is gone, state and all; the project's own one remains.
    let started = std::time::Instant::now();
    while setup
        .server
        .builder_dirs()
        .iter()
        .any(|d| d.starts_with("ephemeral-"))
        || setup.server.engines() != 1
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "fork builders outlived their builds: {:?}",
            setup.server.builder_dirs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_circleci_and_buildkite_jobs_find_and_use_their_tokens() {
    let setup = Setup::new().await;
    setup
        .add_policy(add_trust_policy_request::Provider::Circleci(
            trust_policy::CircleCi {
                organization_uuid: CIRCLE_ORG.into(),
                project_uuid: CIRCLE_PROJECT.into(),
            },
        ))
        .await;
    setup
        .add_policy(add_trust_policy_request::Provider::Buildkite(
            trust_policy::Buildkite {
                organization_slug: "acme".into(),
                pipeline_slug: "app".into(),
            },
        ))
        .await;
    // GitLab policies are depot-rs's own (depotrs.v1.TrustPolicyService).
    let admin = setup.server.client(&setup.token);
    depot_core::proto::depotrs::v1::TrustPolicyServiceClient::new(admin.connect().clone())
        .add_trust_policy(depot_core::proto::depotrs::v1::AddTrustPolicyRequest {
            project_id: setup.project.clone(),
            trust_policy: Some(depot_core::proto::depotrs::v1::TrustPolicy {
                trust_policy_id: String::new(),
                provider: Some(
                    depot_core::proto::depotrs::v1::trust_policy::Provider::Gitlab(
                        depot_core::proto::depotrs::v1::trust_policy::GitLab {
                            namespace_path: "group".into(),
                            project_path: "app".into(),
                        },
                    ),
                ),
            }),
        })
        .await
        .expect("adding a GitLab policy");
    let build_id = setup
        .server
        .finished_build(
            &setup.token,
            &setup.project,
            depot_core::proto::depot::cli::v1::finish_build_request::Result::Success(
                Default::default(),
            ),
        )
        .await;

    let gitlab_jwt = setup.gitlab.mint(&setup.gitlab.claims(
        AUDIENCE,
        json!({"namespace_path": "group", "project_path": "group/app"}),
    ));
    // CircleCI tokens carry the organization as their audience.
    let circle_jwt = setup.circleci.mint(&setup.circleci.claims(
        CIRCLE_ORG,
        json!({"oidc.circleci.com/org-id": CIRCLE_ORG, "oidc.circleci.com/project-id": CIRCLE_PROJECT}),
    ));
    setup
        .buildkite
        .set_ci_claims(json!({"organization_slug": "acme", "pipeline_slug": "app"}));
    let jobs: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            "gitlab",
            vec![
                ("GITLAB_CI", "true".into()),
                ("DEPOT_OIDC_TOKEN", gitlab_jwt),
            ],
        ),
        ("circleci", vec![("CIRCLE_OIDC_TOKEN_V2", circle_jwt)]),
        (
            "buildkite",
            vec![
                ("BUILDKITE_AGENT_ACCESS_TOKEN", BUILDKITE_AGENT_TOKEN.into()),
                ("BUILDKITE_JOB_ID", "0190-job".into()),
                (
                    "BUILDKITE_AGENT_ENDPOINT",
                    setup.buildkite.buildkite_endpoint(),
                ),
            ],
        ),
    ];
    for (provider, env) in jobs {
        let mut cli = Cli::ours(&setup.server).env("DEPOT_DEBUG_OIDC", "1");
        for (key, value) in &env {
            cli = cli.env(key, value);
        }
        let out = cli.run(&[
            "list",
            "builds",
            "--project",
            &setup.project,
            "--output",
            "json",
        ]);
        assert!(out.status.success(), "{provider}: {}", combined(&out));
        assert!(text(&out.stdout).contains(&build_id), "{provider}");
        let debug = text(&out.stderr);
        assert!(
            debug.contains(&format!("[depot] oidc: {provider}: got a token")),
            "{provider}: {debug}"
        );
        assert!(
            debug.contains("[depot] oidc: github: skipped"),
            "{provider}: {debug}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exchanged_token_is_short_lived_single_use_and_revoked_with_its_policy() {
    let setup = Setup::new().await;
    let policy = setup.trust_github("acme", "app").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // A CI token with five minutes left: the project token may not outlive it.
    let jwt = setup.github_token("acme/app", json!({"exp": now + 300}));
    let body = json!({"project_id": setup.project}).to_string();
    let bearer = format!("Bearer {jwt}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let exchange = || {
        depot_tests::http(
            &setup.server.url,
            "POST",
            "/oidc/exchange",
            &headers,
            body.as_bytes(),
        )
    };
    let exchanged = exchange().await;
    assert_eq!(exchanged.status, 200, "{}", exchanged.text());
    let answer = exchanged.json();
    let token = answer["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("dpp_"), "{answer}");
    let expires_in = answer["expires_in"].as_i64().unwrap();
    assert!((200..=300).contains(&expires_in), "{answer}");
    let expires_at = humantime::parse_rfc3339(answer["expires_at"].as_str().unwrap()).unwrap();
    assert!(
        expires_at <= std::time::UNIX_EPOCH + std::time::Duration::from_secs(now + 300),
        "not even a fraction of a second past the CI token: {answer}"
    );

    // Replayed: refused, with nothing minted.
    let replay = exchange().await;
    assert_eq!(replay.status, 409, "{}", replay.text());
    assert_eq!(replay.json()["code"], "already_exists");
    assert!(
        replay.text().contains("already exchanged"),
        "{}",
        replay.text()
    );

    // The Connect RPC does the same, once per CI token.
    let second_jwt = setup.github_token("acme/app", json!({}));
    let oidc = depot_core::proto::depotrs::v1::OidcServiceClient::new(
        setup.server.client(&second_jwt).connect().clone(),
    );
    let request = depot_core::proto::depotrs::v1::ExchangeTokenRequest {
        project_id: setup.project.clone(),
    };
    let rpc = oidc
        .exchange_token(request.clone())
        .await
        .expect("ExchangeToken");
    assert!(rpc.token.starts_with("dpp_"));
    let again = oidc.exchange_token(request).await.unwrap_err();
    assert_eq!(again.code(), depot_core::connect::Code::AlreadyExists);

    // The exchanged token works for the API and docker login…
    let cli = Cli::ours(&setup.server).env("DEPOT_TOKEN", &token);
    cli.list_builds(&setup.project);
    let config = tempfile::tempdir().unwrap();
    let login = docker_login(config.path(), &setup.server.host(), &token);
    assert!(login.status.success(), "{}", combined(&login));
    // …but cannot administer the project…
    let denied = setup
        .server
        .client(&token)
        .project_admin()
        .add_trust_policy(AddTrustPolicyRequest {
            project_id: setup.project.clone(),
            provider: Some(add_trust_policy_request::Provider::Github(
                trust_policy::GitHub {
                    repository_owner: "mallory".into(),
                    repository: "app".into(),
                },
            )),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), depot_core::connect::Code::PermissionDenied);
    // …and removing the policy revokes it.
    setup.remove_policy(&policy).await;
    let revoked = cli.run(&["list", "builds", "--project", &setup.project]);
    assert!(!revoked.status.success());
    assert!(
        combined(&revoked).contains("invalid, expired or revoked"),
        "{}",
        combined(&revoked)
    );
}
