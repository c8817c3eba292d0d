//! Build step logs, sharing and time saved: what a build's steps printed is kept from the
//! status its client streams, served paged by `GetBuildStepLogs`, capped per build, shown on
//! a shared link until sharing stops, and dropped once the build's logs expire. A cached
//! rebuild reports the time its cached steps saved.

use std::time::{Duration, Instant};

use depot_core::connect::Code;
use depot_core::proto::depot::build::v1 as build_v1;
use depot_core::proto::depot::cli::v1::ReportStatusStreamRequest;
use depot_core::proto::depot::core::v1 as core_v1;
use depot_core::proto::moby::buildkit::v1::{StatusResponse, Vertex, VertexLog};
use depot_tests::{Cli, Server, busybox_rootfs, text};

/// The kept-log limit of the capped server.
const LOG_LIMIT: usize = 4096;

fn at(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

fn chunk(vertex: &str, msg: &str, seconds: i64) -> VertexLog {
    VertexLog {
        vertex: vertex.into(),
        stream: 1,
        msg: msg.as_bytes().to_vec(),
        timestamp: Some(at(seconds)),
    }
}

/// A status batch: the steps (`digest`, `name`) and log chunks.
fn batch(
    build_id: &str,
    steps: &[(&str, &str)],
    logs: Vec<VertexLog>,
) -> ReportStatusStreamRequest {
    ReportStatusStreamRequest {
        build_id: build_id.into(),
        statuses: vec![StatusResponse {
            vertexes: steps
                .iter()
                .map(|(digest, name)| Vertex {
                    digest: (*digest).into(),
                    name: (*name).into(),
                    started: Some(at(100)),
                    ..Default::default()
                })
                .collect(),
            logs,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Every line of a step, following the pages of `page_size`; also how many pages it took.
async fn all_lines(
    builds: &depot_core::proto::depot::build::v1::BuildServiceClient,
    build_id: &str,
    digest: &str,
    page_size: i32,
) -> (Vec<String>, usize) {
    let mut lines = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = builds
            .get_build_step_logs(build_v1::GetBuildStepLogsRequest {
                build_id: build_id.into(),
                build_step_digest: digest.into(),
                page_size: Some(page_size),
                page_token: token.take(),
                ..Default::default()
            })
            .await
            .expect("GetBuildStepLogs");
        pages += 1;
        assert!(page.logs.len() <= page_size as usize);
        lines.extend(page.logs.into_iter().map(|l| l.message));
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => return (lines, pages),
        }
    }
}

fn get(url: &str) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", url])
        .output()
        .expect("curl");
    let out = text(&out.stdout);
    let (body, status) = out.rsplit_once('\n').unwrap();
    (status.trim().parse().unwrap(), body.to_owned())
}

#[tokio::test]
async fn step_logs_are_paged_capped_shared_and_expire() {
    let server = Server::start_with(vec![
        "--build-log-limit".into(),
        LOG_LIMIT.to_string(),
        "--build-log-retention".into(),
        "3s".into(),
    ])
    .await;
    let boot = server.bootstrap("logger");
    let created = server
        .client(&boot.token)
        .public_builds()
        .create_build(build_v1::CreateBuildRequest {
            project_id: boot.project_id.clone(),
        })
        .await
        .unwrap();
    let build_id = created.build_id.clone();
    let (run, copy) = ("sha256:run", "sha256:copy");
    let steps = [(copy, "[1/2] COPY . /src"), (run, "[2/2] RUN make")];

    // Lines cut across chunks and batches; then more output than the limit keeps.
    let flood: String = (0..400).map(|i| format!("flood line {i:04}\n")).collect();
    let batches = vec![
        batch(
            &build_id,
            &steps,
            vec![chunk(run, "compiling a\ncompil", 101)],
        ),
        batch(&build_id, &[], vec![chunk(run, "ing b\r\nlinking\n", 102)]),
        batch(
            &build_id,
            &[],
            vec![chunk(run, &flood, 103), chunk(run, "unterminated", 104)],
        ),
    ];
    server
        .client(&created.build_token)
        .builds()
        .report_status_stream(futures_util::stream::iter(batches))
        .await
        .expect("ReportStatusStream");

    let builds = server.client(&boot.token).public_builds();
    let listed = builds
        .get_build_steps(build_v1::GetBuildStepsRequest {
            build_id: build_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let has_logs = |digest: &str| {
        listed
            .build_steps
            .iter()
            .find(|s| s.digest == digest)
            .map(|s| s.has_logs)
    };
    assert_eq!((has_logs(run), has_logs(copy)), (Some(true), Some(false)));

    let (lines, pages) = all_lines(&builds, &build_id, run, 7).await;
    assert_eq!(lines[..3], ["compiling a", "compiling b", "linking"]);
    assert_eq!(lines[3], "flood line 0000");
    let kept: usize = lines[..lines.len() - 1].iter().map(|l| l.len() + 1).sum();
    assert!(
        kept <= LOG_LIMIT,
        "{kept} bytes kept over a {LOG_LIMIT}-byte limit"
    );
    assert!(
        lines.last().unwrap().contains("size limit"),
        "the log says it was cut: {:?}",
        lines.last()
    );
    assert!(!lines.iter().any(|l| l == "flood line 0399"));
    assert_eq!(pages, lines.len().div_ceil(7));
    let (copy_lines, _) = all_lines(&builds, &build_id, copy, 10).await;
    assert!(copy_lines.is_empty());

    // Bad requests say what is wrong; other tenants see nothing.
    let err = builds
        .get_build_step_logs(build_v1::GetBuildStepLogsRequest {
            build_id: build_id.clone(),
            build_step_digest: run.into(),
            page_token: Some("not-a-position".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    let stranger = server.bootstrap("stranger");
    let err = server
        .client(&stranger.token)
        .public_builds()
        .get_build_step_logs(build_v1::GetBuildStepLogsRequest {
            build_id: build_id.clone(),
            build_step_digest: run.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err.code(), Code::PermissionDenied | Code::NotFound),
        "{err}"
    );

    // A shared link shows the build and its log without a token, until sharing stops.
    let summaries = server.client(&boot.token).build_summaries();
    let share = || {
        summaries.share_build(core_v1::ShareBuildRequest {
            build_id: build_id.clone(),
        })
    };
    let link = share().await.expect("ShareBuild").share_url;
    assert_eq!(share().await.unwrap().share_url, link, "one link per share");
    let (status, page) = get(&link);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("[2/2] RUN make") && page.contains("flood line 0200"),
        "{page}"
    );
    let err = server
        .client(&created.build_token)
        .build_summaries()
        .share_build(core_v1::ShareBuildRequest {
            build_id: build_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err}");
    summaries
        .stop_sharing_build(core_v1::StopSharingBuildRequest {
            build_id: build_id.clone(),
        })
        .await
        .expect("StopSharingBuild");
    let (status, page) = get(&link);
    assert_eq!(status, 404, "an unshared link shows nothing: {page}");
    assert!(!page.contains("flood line"), "{page}");
    let relinked = share().await.unwrap().share_url;
    assert_ne!(relinked, link, "sharing again makes a new link");

    // Logs go a while after the build finished.
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
        .unwrap();
    let started = Instant::now();
    loop {
        let (lines, _) = all_lines(&builds, &build_id, run, 100).await;
        if lines.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "logs outlived their 3 s retention"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let steps = builds
        .get_build_steps(build_v1::GetBuildStepsRequest {
            build_id: build_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(steps.build_steps.len(), 2, "steps stay, logs go");
    assert!(steps.build_steps.iter().all(|s| !s.has_logs));
}

#[tokio::test]
async fn a_real_build_keeps_its_output_and_a_cached_rebuild_counts_the_time_saved() {
    let server = Server::start().await;
    let boot = server.bootstrap("saver");
    let rootfs = busybox_rootfs();
    let context = tempfile::tempdir().unwrap();
    // A step no engine has cached (the nonce), printing a line, taking 2 s.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::fs::write(
        context.path().join("Dockerfile"),
        format!(
            "FROM scratch\nCOPY --from=rootfs / /\n\
             RUN echo printed-by-the-step {nonce} && sleep 2 && echo done > /out\n"
        ),
    )
    .unwrap();
    let cli = Cli::ours(&server).env("DEPOT_TOKEN", &boot.token);
    let summaries = server.client(&boot.token).build_summaries();
    let build = || async {
        let out = cli.run(&[
            "build",
            "--project",
            &boot.project_id,
            "--progress",
            "plain",
            "--build-context",
            &format!("rootfs={}", rootfs.path().display()),
            context.path().to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let listed = summaries
            .list_builds(core_v1::ListBuildsRequest {
                project_id: boot.project_id.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        listed.builds[0].clone()
    };

    let first = build().await;
    let builds = server.client(&boot.token).public_builds();
    let steps = builds
        .get_build_steps(build_v1::GetBuildStepsRequest {
            build_id: first.build_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .build_steps;
    let run = steps
        .iter()
        .find(|s| s.name.contains("RUN echo printed-by-the-step"))
        .unwrap_or_else(|| panic!("the RUN step is on the build: {steps:?}"));
    assert!(run.has_logs, "{run:?}");
    let (lines, _) = all_lines(&builds, &first.build_id, &run.digest, 100).await;
    // Once, though both the CLI's reports and the server's view of the solve carry it.
    let printed = format!("printed-by-the-step {nonce}");
    assert_eq!(
        lines.iter().filter(|l| l.ends_with(&printed)).count(),
        1,
        "{lines:?}"
    );
    assert_eq!(first.saved_duration_seconds, Some(0), "nothing was cached");

    let second = build().await;
    assert_ne!(second.build_id, first.build_id);
    assert!(second.cached_steps >= Some(2), "{second:?}");
    assert!(
        second.saved_duration_seconds >= Some(2),
        "the cached RUN saved the 2 s it took: {second:?}"
    );
    let usage = server
        .client(&boot.token)
        .usage()
        .get_usage(core_v1::GetUsageRequest::default())
        .await
        .unwrap();
    let saved = usage
        .container_build
        .iter()
        .map(|u| u.minutes_saved)
        .sum::<f32>();
    assert!(
        saved * 60.0 >= 2.0,
        "usage counts the time saved: {usage:?}"
    );
}
