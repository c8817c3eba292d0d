//! A build's life on depot-server without a builder: health reports, the reaper that fails
//! builds whose client went away, operator cancellation, the steps kept from the status stream
//! and the summary page at `build_url`.

use std::time::Duration;

use depot_core::connect::Code;
use depot_core::proto::depot::cli::v1::{
    BuildStatus, CreateBuildRequest, CreateBuildResponse, FinishBuildRequest,
    GetBuildKitConnectionRequest, ListBuildsRequest, ReportBuildHealthRequest,
    ReportStatusStreamRequest, finish_build_request,
};
use depot_core::proto::moby::buildkit::v1::{StatusResponse, Vertex};
use depot_tests::{Server, http};
use serde_json::Value;

async fn create_build(server: &Server, token: &str, project: &str) -> CreateBuildResponse {
    server
        .client(token)
        .builds()
        .create_build(CreateBuildRequest {
            project_id: Some(project.to_owned()),
            ..Default::default()
        })
        .await
        .expect("CreateBuild")
}

fn vertex(digest: &str, name: &str, started: i64, completed: Option<i64>, cached: bool) -> Vertex {
    let at = |s: i64| prost_types::Timestamp {
        seconds: s,
        nanos: 0,
    };
    Vertex {
        digest: digest.into(),
        name: name.into(),
        cached,
        started: Some(at(started)),
        completed: completed.map(at),
        ..Default::default()
    }
}

async fn status_of(server: &Server, token: &str, project: &str, build_id: &str) -> i32 {
    server
        .client(token)
        .builds()
        .list_builds(ListBuildsRequest {
            project_id: project.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .builds
        .into_iter()
        .find(|b| b.id == build_id)
        .expect("build listed")
        .status
}

#[tokio::test]
async fn reported_steps_are_kept_on_the_build_and_its_summary_page() {
    let server = Server::start_with(vec![]).await;
    let boot = server.bootstrap("ada");
    let build = create_build(&server, &boot.token, &boot.project_id).await;
    assert_eq!(
        build.build_url,
        format!("{}/builds/{}", server.url, build.build_id)
    );
    let builds = server.client(&build.build_token).builds();

    // Two batches: the step starts, then completes; a cached step; an unnamed vertex.
    let batches = vec![
        ReportStatusStreamRequest {
            build_id: build.build_id.clone(),
            statuses: vec![StatusResponse {
                vertexes: vec![
                    vertex("sha256:a", "[1/2] COPY . /src", 100, Some(100), true),
                    vertex("sha256:b", "[2/2] RUN make", 101, None, false),
                    vertex("sha256:c", "", 101, None, false),
                ],
                ..Default::default()
            }],
            ..Default::default()
        },
        ReportStatusStreamRequest {
            build_id: build.build_id.clone(),
            statuses: vec![StatusResponse {
                vertexes: vec![vertex("sha256:b", "[2/2] RUN make", 101, Some(104), false)],
                ..Default::default()
            }],
            ..Default::default()
        },
    ];
    builds
        .report_status_stream(futures_util::stream::iter(batches))
        .await
        .expect("ReportStatusStream");

    let shown = server.admin_ok(&["build", "show", &build.build_id, "--output", "json"]);
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["status"], "running");
    let steps = shown["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{shown}");
    assert_eq!(steps[0]["name"], "[1/2] COPY . /src");
    assert_eq!(steps[0]["cached"], true);
    assert_eq!(steps[1]["name"], "[2/2] RUN make");
    assert_eq!(steps[1]["started_at"], 101_000);
    assert_eq!(steps[1]["completed_at"], 104_000);

    // The summary at the build's URL, for a token that may read the build.
    let text = server.build_summary(&boot.token, &build.build_id).await;
    assert!(text.contains("status: running"), "{text}");
    assert!(text.contains("CACHED  [1/2] COPY . /src"), "{text}");
    assert!(text.contains("3.0s  [2/2] RUN make"), "{text}");
    let bearer = format!("Bearer {}", boot.token);
    let auth = [("authorization", bearer.as_str())];
    let missing = http(&server.url, "GET", "/builds/nope", &auth, b"").await;
    assert_eq!(missing.status, 404);
    // Another tenant's token sees nothing; without a token (or session) a browser is sent to
    // sign in.
    let stranger = server.bootstrap("stranger");
    let bearer = format!("Bearer {}", stranger.token);
    let page = http(
        &server.url,
        "GET",
        &format!("/builds/{}", build.build_id),
        &[("authorization", bearer.as_str())],
        b"",
    )
    .await;
    assert!(matches!(page.status, 403 | 404), "{}", page.text());
    let page = http(
        &server.url,
        "GET",
        &format!("/builds/{}", build.build_id),
        &[],
        b"",
    )
    .await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.header("location"),
        format!("/sign-in?next=/builds/{}", build.build_id)
    );

    // A stream may not switch builds, and another build's token cannot report on this one.
    let other = create_build(&server, &boot.token, &boot.project_id).await;
    let err = builds
        .report_status_stream(futures_util::stream::iter(vec![
            ReportStatusStreamRequest {
                build_id: build.build_id.clone(),
                ..Default::default()
            },
            ReportStatusStreamRequest {
                build_id: other.build_id.clone(),
                ..Default::default()
            },
        ]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    let err = server
        .client(&other.build_token)
        .builds()
        .report_status_stream(futures_util::stream::iter(vec![
            ReportStatusStreamRequest {
                build_id: build.build_id.clone(),
                ..Default::default()
            },
        ]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err}");
}

#[tokio::test]
async fn health_keeps_a_build_alive_and_silence_fails_it() {
    let server = Server::start_with(vec![
        "--build-health-timeout".into(),
        "2s".into(),
        "--builder".into(),
        "none".into(),
    ])
    .await;
    let boot = server.bootstrap("grace");
    let reported = create_build(&server, &boot.token, &boot.project_id).await;
    let silent = create_build(&server, &boot.token, &boot.project_id).await;
    let health = |build: &CreateBuildResponse| {
        let client = server.client(&build.build_token);
        let request = ReportBuildHealthRequest {
            build_id: build.build_id.clone(),
            platform: 1,
        };
        async move { client.builds().report_build_health(request).await }
    };
    for _ in 0..8 {
        let answer = health(&reported).await.expect("ReportBuildHealth");
        assert!(
            answer.cancels_at.is_none(),
            "a healthy build is not canceled"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        status_of(&server, &boot.token, &boot.project_id, &reported.build_id).await,
        BuildStatus::Running as i32
    );
    assert_eq!(
        status_of(&server, &boot.token, &boot.project_id, &silent.build_id).await,
        BuildStatus::Failed as i32,
        "a build whose client never reported is failed after the timeout"
    );
    let shown = server.admin_ok(&["build", "show", &silent.build_id, "--output", "json"]);
    assert!(shown.contains("stopped reporting health"), "{shown}");
    // Its client learns that it has ended, and cannot get a builder any more.
    let answer = health(&silent).await.unwrap();
    assert!(answer.cancels_at.is_some());
    let err = server
        .client(&silent.build_token)
        .builds()
        .get_build_kit_connection(GetBuildKitConnectionRequest {
            build_id: silent.build_id.clone(),
            platform: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");

    // Without builders, a running build is told the server has none.
    let err = server
        .client(&reported.build_token)
        .builds()
        .get_build_kit_connection(GetBuildKitConnectionRequest {
            build_id: reported.build_id.clone(),
            platform: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert!(err.message().contains("--builder"), "{err}");
}

#[tokio::test]
async fn an_operator_cancels_a_running_build_through_its_health_reports() {
    let server = Server::start_with(vec!["--build-health-timeout".into(), "2s".into()]).await;
    let boot = server.bootstrap("hedy");
    let build = create_build(&server, &boot.token, &boot.project_id).await;
    let builds = server.client(&build.build_token).builds();
    let request = ReportBuildHealthRequest {
        build_id: build.build_id.clone(),
        platform: 1,
    };
    assert!(
        builds
            .report_build_health(request.clone())
            .await
            .unwrap()
            .cancels_at
            .is_none()
    );
    server.admin_ok(&["build", "cancel", &build.build_id]);
    let cancels_at = builds
        .report_build_health(request.clone())
        .await
        .unwrap()
        .cancels_at
        .expect("cancels_at after an operator cancel");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(cancels_at.seconds <= now, "cancels_at is not in the future");

    // The client keeps reporting but never stops: the build is canceled after the timeout.
    for _ in 0..10 {
        builds.report_build_health(request.clone()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(
        status_of(&server, &boot.token, &boot.project_id, &build.build_id).await,
        BuildStatus::Canceled as i32
    );
    let again = server.admin(&["build", "cancel", &build.build_id]);
    assert!(!again.status.success(), "canceling an ended build fails");

    // A client that finishes first keeps its result.
    let finished = create_build(&server, &boot.token, &boot.project_id).await;
    server
        .client(&finished.build_token)
        .builds()
        .finish_build(FinishBuildRequest {
            build_id: finished.build_id.clone(),
            result: Some(finish_build_request::Result::Success(
                finish_build_request::BuildSuccess {},
            )),
        })
        .await
        .unwrap();
    assert_eq!(
        status_of(&server, &boot.token, &boot.project_id, &finished.build_id).await,
        BuildStatus::Finished as i32
    );
}
