//! Depot's public API (v1) against depot-server, as Depot's Go SDK drives it: `CreateBuild`,
//! `GetEndpoint` until active, a BuildKit solve over mTLS at that endpoint, `ReportHealth`,
//! `ReleaseEndpoint`, `FinishBuild`; then the build's summary and steps. Clients: our Connect
//! client with the v1 messages.

use std::time::Duration;

use depot_build::buildkit::{BuildKit, BuildOptions, Endpoint, Output, TlsSettings};
use depot_core::connect::Code;
use depot_core::proto::depot::build::v1::{
    self as build_v1, get_build_steps_response::build_step::CacheState,
};
use depot_core::proto::depot::buildkit::v1::{
    GetEndpointRequest, Platform, ReleaseEndpointRequest, ReportHealthRequest,
    get_endpoint_response::Connection,
};
use depot_core::proto::depot::cli::v1::ReportStatusStreamRequest;
use depot_core::proto::depot::core::v1::{self as core_v1, build::Status};
use depot_core::proto::moby::buildkit::v1::{StatusResponse, Vertex};
use depot_tests::{Server, busybox_rootfs};
use futures_util::StreamExt as _;

fn host_platform() -> Platform {
    match std::env::consts::ARCH {
        "aarch64" => Platform::Arm64,
        _ => Platform::Amd64,
    }
}

async fn create(server: &Server, token: &str, project: &str) -> build_v1::CreateBuildResponse {
    server
        .client(token)
        .public_builds()
        .create_build(build_v1::CreateBuildRequest {
            project_id: project.into(),
        })
        .await
        .expect("CreateBuild")
}

/// Whether BuildKit answers at `endpoint`.
async fn answers(endpoint: Endpoint) -> bool {
    let probe = async {
        BuildKit::connect(endpoint)
            .await
            .ok()?
            .capabilities()
            .await
            .ok()
    };
    tokio::time::timeout(Duration::from_secs(10), probe)
        .await
        .ok()
        .flatten()
        .is_some()
}

#[tokio::test]
async fn a_go_sdk_style_build_drives_buildkit_through_the_public_api() {
    let server = Server::start().await;
    let boot = server.bootstrap("gopher");
    let created = create(&server, &boot.token, &boot.project_id).await;
    let build_id = created.build_id.clone();
    let buildkit = server.client(&created.build_token).buildkit();

    // The endpoint: pending answers while the builder starts, then active.
    let mut answers_stream = buildkit
        .get_endpoint(GetEndpointRequest {
            build_id: build_id.clone(),
            platform: host_platform() as i32,
        })
        .await
        .expect("GetEndpoint");
    let active = loop {
        match answers_stream.message().await.expect("an answer") {
            Some(answer) => match answer.connection.expect("a connection") {
                Connection::Active(active) => break active,
                Connection::Pending(_) => continue,
            },
            None => panic!("GetEndpoint ended without an endpoint"),
        }
    };
    assert!(
        answers_stream.message().await.unwrap().is_none(),
        "the stream ends"
    );
    let cert = active.cert.expect("a client certificate");
    let endpoint = active
        .endpoint
        .parse::<Endpoint>()
        .unwrap()
        .with_tls(TlsSettings {
            ca_pem: active.ca_cert.expect("a CA").cert.into_bytes(),
            cert_pem: cert.cert.expect("a certificate").cert.into_bytes(),
            key_pem: cert.key.expect("a key").key.into_bytes(),
            server_name: Some(active.server_name.clone()),
        });

    // A solve over mTLS, as the Go SDK runs one.
    let kit = BuildKit::connect(endpoint.clone())
        .await
        .expect("BuildKit over mTLS");
    let rootfs = busybox_rootfs();
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch AS base\nCOPY --from=rootfs / /\nRUN echo from-the-public-api > /out.txt\n\
         FROM scratch\nCOPY --from=base /out.txt /\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut solve = kit.build(BuildOptions {
        context: context.path().to_owned(),
        build_contexts: [("rootfs".to_owned(), rootfs.path().display().to_string())].into(),
        outputs: vec![Output::Local {
            dir: out.path().to_owned(),
        }],
        client_id: Some("depot-rs-tests".into()),
        ..BuildOptions::default()
    });
    while solve.next().await.is_some() {}
    solve.result().await.expect("the solve");
    assert_eq!(
        std::fs::read_to_string(out.path().join("out.txt")).unwrap(),
        "from-the-public-api\n"
    );

    // Health while it runs, then the release: the endpoint stops answering this build.
    let health = || ReportHealthRequest {
        build_id: build_id.clone(),
        platform: host_platform() as i32,
    };
    buildkit
        .report_health(futures_util::stream::iter([health(), health()]))
        .await
        .expect("ReportHealth");
    buildkit
        .release_endpoint(ReleaseEndpointRequest {
            build_id: build_id.clone(),
            platform: host_platform() as i32,
        })
        .await
        .expect("ReleaseEndpoint");
    assert!(
        !answers(endpoint).await,
        "a released endpoint refuses the build"
    );

    server
        .client(&created.build_token)
        .public_builds()
        .finish_build(build_v1::FinishBuildRequest {
            build_id: build_id.clone(),
            result: Some(build_v1::finish_build_request::Result::Success(
                build_v1::finish_build_request::BuildSuccess {},
            )),
        })
        .await
        .expect("FinishBuild");
    let summaries = server.client(&boot.token).build_summaries();
    let build = summaries
        .get_build(core_v1::GetBuildRequest {
            build_id: build_id.clone(),
        })
        .await
        .unwrap()
        .build
        .unwrap();
    assert_eq!(build.status, Status::Success as i32);
    assert!(build.finished_at.is_some() && build.build_duration_seconds.is_some());
    let listed = summaries
        .list_builds(core_v1::ListBuildsRequest {
            project_id: boot.project_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(listed.builds.iter().any(|b| b.build_id == build_id));

    // BuildKitService takes only the build's own token.
    let other = create(&server, &boot.token, &boot.project_id).await;
    let as_other = server.client(&other.build_token).buildkit();
    let err = as_other
        .release_endpoint(ReleaseEndpointRequest {
            build_id: build_id.clone(),
            platform: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err}");
    let as_user = server.client(&boot.token).buildkit();
    let err = as_user
        .release_endpoint(ReleaseEndpointRequest {
            build_id: other.build_id.clone(),
            platform: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err}");
    assert!(err.message().contains("build token"), "{err}");
}

#[tokio::test]
async fn steps_and_summaries_come_from_what_the_build_reported() {
    let server = Server::start().await;
    let boot = server.bootstrap("stepper");
    let created = create(&server, &boot.token, &boot.project_id).await;
    let at = |seconds| prost_types::Timestamp { seconds, nanos: 0 };
    let step = |digest: &str, name: &str, cached| Vertex {
        digest: digest.into(),
        name: name.into(),
        cached,
        started: Some(at(100)),
        completed: Some(at(103)),
        ..Default::default()
    };
    server
        .client(&created.build_token)
        .builds()
        .report_status_stream(futures_util::stream::iter([ReportStatusStreamRequest {
            build_id: created.build_id.clone(),
            statuses: vec![StatusResponse {
                vertexes: vec![
                    step("sha256:a", "[1/2] COPY . /src", true),
                    step("sha256:b", "[2/2] RUN make", false),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }]))
        .await
        .unwrap();

    let builds = server.client(&boot.token).public_builds();
    let first = builds
        .get_build_steps(build_v1::GetBuildStepsRequest {
            project_id: boot.project_id.clone(),
            build_id: created.build_id.clone(),
            page_size: Some(1),
            page_token: None,
        })
        .await
        .unwrap();
    assert_eq!(first.build_steps.len(), 1);
    assert_eq!(first.build_steps[0].name, "[1/2] COPY . /src");
    assert_eq!(first.build_steps[0].cache_state, CacheState::Cached as i32);
    let rest = builds
        .get_build_steps(build_v1::GetBuildStepsRequest {
            project_id: boot.project_id.clone(),
            build_id: created.build_id.clone(),
            page_size: Some(1),
            page_token: first.next_page_token.clone(),
        })
        .await
        .unwrap();
    assert_eq!(rest.build_steps.len(), 1);
    let run = &rest.build_steps[0];
    assert_eq!(
        (run.name.as_str(), run.digest.as_str()),
        ("[2/2] RUN make", "sha256:b")
    );
    assert_eq!(run.cache_state, CacheState::Uncached as i32);
    assert_eq!(run.started_at.as_ref().map(|t| t.seconds), Some(100));
    assert_eq!(run.completed_at.as_ref().map(|t| t.seconds), Some(103));
    assert_eq!(rest.next_page_token, None);

    let summary = server
        .client(&boot.token)
        .build_summaries()
        .get_build(core_v1::GetBuildRequest {
            build_id: created.build_id.clone(),
        })
        .await
        .unwrap()
        .build
        .unwrap();
    assert_eq!(summary.status, Status::Running as i32);
    assert_eq!(
        (summary.cached_steps, summary.total_steps),
        (Some(1), Some(2))
    );
    assert_eq!(summary.started_at.map(|t| t.seconds), Some(100));
    assert_eq!(summary.finished_at, None);

    // Another project's token sees neither.
    let stranger = server.bootstrap("stranger");
    let err = server
        .client(&stranger.token)
        .public_builds()
        .get_build_steps(build_v1::GetBuildStepsRequest {
            build_id: created.build_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err.code(), Code::PermissionDenied | Code::NotFound),
        "{err}"
    );
}

#[tokio::test]
async fn project_tokens_are_managed_by_user_and_organization_tokens() {
    use core_v1::{CreateTokenRequest, DeleteTokenRequest, ListTokensRequest, UpdateTokenRequest};
    let server = Server::start().await;
    let boot = server.bootstrap("keeper");
    let admin = server.client(&boot.token).project_admin();
    let listed = |client: &core_v1::ProjectServiceClient| {
        let client = client.clone();
        let project = boot.project_id.clone();
        async move {
            client
                .list_tokens(ListTokensRequest {
                    project_id: project,
                })
                .await
                .map(|r| {
                    r.tokens
                        .into_iter()
                        .map(|t| (t.token_id, t.description))
                        .collect::<Vec<_>>()
                })
        }
    };

    // An organization token creates one; its secret works at once.
    let org = server.admin_ok(&["token", "create", "--org", &boot.org_id, "--output", "json"]);
    let org: serde_json::Value = serde_json::from_str(&org).unwrap();
    let by_org = server
        .client(org["token"].as_str().unwrap())
        .project_admin();
    let created = by_org
        .create_token(CreateTokenRequest {
            project_id: boot.project_id.clone(),
            description: "deploys".into(),
        })
        .await
        .expect("CreateToken");
    let as_project = server.client(&created.secret);
    let visible = as_project
        .projects()
        .list_projects(depot_core::proto::depot::cli::v1beta1::ListProjectsRequest {})
        .await
        .expect("the new token works");
    assert_eq!(visible.projects.len(), 1);
    assert_eq!(visible.projects[0].id, boot.project_id);
    assert_eq!(
        listed(&admin).await.unwrap(),
        [(created.token_id.clone(), "deploys".to_owned())]
    );

    // Renamed by the user's token.
    admin
        .update_token(UpdateTokenRequest {
            token_id: created.token_id.clone(),
            description: "release pipeline".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        listed(&admin).await.unwrap(),
        [(created.token_id.clone(), "release pipeline".to_owned())]
    );

    // Management is not for project tokens, nor for another organization.
    let own = as_project.project_admin();
    assert_eq!(
        listed(&own).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let err = own
        .reset_project(core_v1::ResetProjectRequest {
            project_id: boot.project_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err}");
    let stranger = server.bootstrap("stranger");
    let err = server
        .client(&stranger.token)
        .project_admin()
        .delete_token(DeleteTokenRequest {
            token_id: created.token_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err}");

    // Deleted: the secret stops working and the listing is empty.
    admin
        .delete_token(DeleteTokenRequest {
            token_id: created.token_id.clone(),
        })
        .await
        .unwrap();
    let err = as_project
        .projects()
        .list_projects(depot_core::proto::depot::cli::v1beta1::ListProjectsRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(listed(&admin).await.unwrap().is_empty());
    let err = admin
        .delete_token(DeleteTokenRequest {
            token_id: created.token_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err}");
}

#[tokio::test]
async fn usage_counts_the_builds_of_the_period() {
    use core_v1::{GetProjectUsageRequest, GetUsageRequest, ListProjectUsageRequest};
    let server = Server::start().await;
    let boot = server.bootstrap("counter");
    let first = create(&server, &boot.token, &boot.project_id).await;
    create(&server, &boot.token, &boot.project_id).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    server
        .client(&first.build_token)
        .public_builds()
        .finish_build(build_v1::FinishBuildRequest {
            build_id: first.build_id.clone(),
            result: Some(build_v1::finish_build_request::Result::Success(
                build_v1::finish_build_request::BuildSuccess {},
            )),
        })
        .await
        .unwrap();
    let usage = server.client(&boot.token).usage();

    let ours = usage
        .get_project_usage(GetProjectUsageRequest {
            project_id: boot.project_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .usage
        .unwrap();
    assert_eq!(ours.build_count, 2);
    assert!(ours.build_duration_seconds >= 1, "{ours:?}");
    // A period that ended before the builds counts none.
    let before = usage
        .get_project_usage(GetProjectUsageRequest {
            project_id: boot.project_id.clone(),
            start_at: Some(prost_types::Timestamp {
                seconds: 0,
                nanos: 0,
            }),
            end_at: Some(prost_types::Timestamp {
                seconds: 1_000_000_000,
                nanos: 0,
            }),
        })
        .await
        .unwrap()
        .usage
        .unwrap();
    assert_eq!((before.build_count, before.build_duration_seconds), (0, 0));

    let listed = usage
        .list_project_usage(ListProjectUsageRequest::default())
        .await
        .unwrap();
    let mine = listed
        .usage
        .iter()
        .find(|u| u.project_id == boot.project_id)
        .expect("the project is listed");
    assert_eq!(mine.build_count, 2);

    let total = usage.get_usage(GetUsageRequest::default()).await.unwrap();
    let builds = &total.container_build;
    assert_eq!(builds.len(), 1, "{total:?}");
    assert_eq!(builds[0].build_count, 2);
    assert!(builds[0].minutes_billed > 0.0, "{total:?}");
    assert_eq!(total.storage[0].storage_type, "layer_cache");
    assert!(total.period_start.unwrap().seconds < total.period_end.unwrap().seconds);

    // Usage is for the organization's people, not for a project's token.
    let project_token = project_token(&server, &boot).await;
    let err = server
        .client(&project_token)
        .usage()
        .get_usage(GetUsageRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err}");
}

/// A project token of `boot`'s project, made through the public API.
async fn project_token(server: &Server, boot: &depot_tests::Bootstrap) -> String {
    server
        .client(&boot.token)
        .project_admin()
        .create_token(core_v1::CreateTokenRequest {
            project_id: boot.project_id.clone(),
            description: "usage".into(),
        })
        .await
        .unwrap()
        .secret
}
