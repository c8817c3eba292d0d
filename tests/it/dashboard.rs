//! The web dashboard in a real browser (Debian's Chromium, headless, over WebDriver): signing
//! in with a token, a finished build's steps and a step's log, a failed build's failure,
//! hostile step names and logs shown as text (no script runs), a project token created (its
//! secret shown once) and revoked, signing out; and over plain
//! HTTP: security headers, refused sign-ins, forged forms, sessions that die with their token.
//! Screenshots of the pages land in `target/dashboard-screenshots/`.

use depot_core::proto::depot::build::v1 as build_v1;
use depot_core::proto::depot::cli::v1::{GetPullTokenRequest, ReportStatusStreamRequest};
use depot_core::proto::depot::core::v1::{CreateTokenRequest, DeleteTokenRequest};
use depot_core::proto::moby::buildkit::v1::{StatusResponse, Vertex, VertexLog};
use depot_tests::{Browser, HttpResponse, Server, http};
use fantoccini::Locator;

/// A step name and a log line that would run script if they were not escaped.
const HOSTILE_NAME: &str = r#"[2/2] RUN echo "<script>window.pwned = 1</script>" 'quoted'"#;
const HOSTILE_LOG: &str = r#"<img src=x onerror="window.pwned = 2">"#;

fn at(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

/// A build of `project` that reported `steps` (`digest`, `name`, a log line, error), finished
/// with `error` (or success).
async fn reported_build(
    server: &Server,
    token: &str,
    project: &str,
    steps: &[(&str, &str, &str, Option<&str>)],
    error: Option<&str>,
) -> String {
    let created = server
        .client(token)
        .public_builds()
        .create_build(build_v1::CreateBuildRequest {
            project_id: project.into(),
        })
        .await
        .unwrap();
    let status = StatusResponse {
        vertexes: steps
            .iter()
            .enumerate()
            .map(|(i, (digest, name, _, error))| Vertex {
                digest: (*digest).into(),
                name: (*name).into(),
                started: Some(at(1_000 + i as i64)),
                completed: Some(at(1_002 + i as i64)),
                cached: i == 0,
                error: error.unwrap_or_default().into(),
                ..Default::default()
            })
            .collect(),
        logs: steps
            .iter()
            .map(|(digest, _, line, _)| VertexLog {
                vertex: (*digest).into(),
                stream: 1,
                msg: format!("{line}\n").into_bytes(),
                timestamp: Some(at(1_001)),
            })
            .collect(),
        ..Default::default()
    };
    server
        .client(&created.build_token)
        .builds()
        .report_status_stream(futures_util::stream::iter([ReportStatusStreamRequest {
            build_id: created.build_id.clone(),
            statuses: vec![status],
            ..Default::default()
        }]))
        .await
        .unwrap();
    use build_v1::finish_build_request::{BuildError, BuildSuccess, Result};
    let result = match error {
        Some(error) => Result::Error(BuildError {
            error: error.into(),
        }),
        None => Result::Success(BuildSuccess {}),
    };
    server
        .client(&created.build_token)
        .public_builds()
        .finish_build(build_v1::FinishBuildRequest {
            build_id: created.build_id.clone(),
            result: Some(result),
        })
        .await
        .unwrap();
    created.build_id
}

/// `POST /sign-in` with `token`; the response.
async fn sign_in(server: &Server, token: &str) -> HttpResponse {
    let body = format!("token={token}&next=%2F");
    http(
        &server.url,
        "POST",
        "/sign-in",
        &[("content-type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
    .await
}

/// The session cookie a sign-in set (`depot_session=…`).
fn session_cookie(response: &HttpResponse) -> String {
    let set = response.header("set-cookie");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_signed_in_browser_sees_builds_steps_logs_and_failures_and_signs_out() {
    let server = Server::start().await;
    let boot = server.bootstrap("viewer");
    let good = reported_build(
        &server,
        &boot.token,
        &boot.project_id,
        &[
            ("sha256:copy", "[1/2] COPY . /src", "copied", None),
            ("sha256:run", HOSTILE_NAME, HOSTILE_LOG, None),
        ],
        None,
    )
    .await;
    let bad = reported_build(
        &server,
        &boot.token,
        &boot.project_id,
        &[(
            "sha256:boom",
            "[1/1] RUN make test",
            "1 test failed",
            Some("exit code: 3"),
        )],
        Some("process \"make test\" did not complete successfully: exit code: 3"),
    )
    .await;
    // And a build still running.
    server
        .client(&boot.token)
        .public_builds()
        .create_build(build_v1::CreateBuildRequest {
            project_id: boot.project_id.clone(),
        })
        .await
        .unwrap();

    let browser = Browser::start().await;
    let page = &browser.client;
    let url = |path: &str| format!("{}{path}", server.url);

    // Without a session, the build page sends the browser to sign in, and back after.
    page.goto(&url(&format!("/builds/{good}"))).await.unwrap();
    assert!(
        page.current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/sign-in")
    );
    browser.screenshot("sign-in").await;
    page.find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(&boot.token)
        .await
        .unwrap();
    page.find(Locator::Css("form.sign-in button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.wait()
        .for_element(Locator::Css("table.steps"))
        .await
        .unwrap();
    assert_eq!(
        page.current_url().await.unwrap().path(),
        format!("/builds/{good}")
    );

    // The finished build: its steps (the cached one marked), the waterfall, a step's log.
    let body = page
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("success"), "{body}");
    assert!(body.contains("[1/2] COPY . /src"), "{body}");
    assert!(
        body.contains(HOSTILE_NAME),
        "the name is shown as text: {body}"
    );
    let cached = page
        .find(Locator::Css("table.steps span.cached"))
        .await
        .unwrap();
    assert_eq!(cached.text().await.unwrap(), "[1/2] COPY . /src");
    let bars = page
        .find_all(Locator::Css("svg.waterfall rect"))
        .await
        .unwrap();
    assert_eq!(bars.len(), 2);
    let log = page
        .find(Locator::XPath(
            "//tr[.//span[contains(., 'window.pwned')]]//details",
        ))
        .await
        .unwrap();
    log.find(Locator::Css("summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let log_text = log
        .find(Locator::Css("pre.log"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(log_text.trim(), HOSTILE_LOG);
    let pwned = page
        .execute("return window.pwned === undefined;", vec![])
        .await
        .unwrap();
    assert_eq!(pwned, serde_json::json!(true), "no injected script ran");
    browser.screenshot("build").await;

    // The failed build: the failure, its step and the step's log.
    page.goto(&url(&format!("/builds/{bad}"))).await.unwrap();
    let failure = page
        .find(Locator::Css("section.failure"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(failure.contains("Failed: [1/1] RUN make test"), "{failure}");
    assert!(failure.contains("exit code: 3"), "{failure}");
    assert!(failure.contains("1 test failed"), "{failure}");
    browser.screenshot("failed-build").await;

    // The project's builds, newest first, from the projects page.
    page.goto(&url("/")).await.unwrap();
    page.find(Locator::Css("table a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.wait()
        .for_element(Locator::Css("a[href^='/builds/']"))
        .await
        .unwrap();
    let rows = page.find_all(Locator::Css("tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 3, "three builds");
    let listed = page
        .find(Locator::Css("tbody"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listed.contains(&good) && listed.contains(&bad), "{listed}");
    assert!(
        listed.contains("failed") && listed.contains("running"),
        "{listed}"
    );
    browser.screenshot("builds").await;

    // Insights: a bar per finished build, the slowest steps (names still text).
    page.find(Locator::LinkText("Insights"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.wait()
        .for_element(Locator::Css("table.slowest"))
        .await
        .unwrap();
    let bars = page.find_all(Locator::Css("svg.trend rect")).await.unwrap();
    assert_eq!(bars.len(), 2, "the two finished builds");
    let slowest = page
        .find(Locator::Css("table.slowest"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(slowest.contains(HOSTILE_NAME), "{slowest}");
    // Cached steps (each build's first, here) did not run.
    assert!(
        !slowest.contains("COPY") && !slowest.contains("make test"),
        "{slowest}"
    );
    browser.screenshot("insights").await;
    page.back().await.unwrap();
    page.wait()
        .for_element(Locator::LinkText("Project tokens"))
        .await
        .unwrap();

    // A project token: created (its secret shown once, and it works), then revoked.
    page.find(Locator::LinkText("Project tokens"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.wait()
        .for_element(Locator::Css("form.create-token"))
        .await
        .unwrap();
    page.find(Locator::Css("#description"))
        .await
        .unwrap()
        .send_keys("from the <dashboard>")
        .await
        .unwrap();
    page.find(Locator::Css("form.create-token button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let secret = page
        .wait()
        .for_element(Locator::Css("code.secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let as_new_token = server.client(&secret).public_builds();
    as_new_token
        .get_build_steps(build_v1::GetBuildStepsRequest {
            build_id: good.clone(),
            ..Default::default()
        })
        .await
        .expect("the new token reads the project's builds");
    browser.screenshot("tokens").await;
    page.goto(&url(&format!("/projects/{}/tokens", boot.project_id)))
        .await
        .unwrap();
    let listed = page.source().await.unwrap();
    assert!(!listed.contains(&secret), "the secret is shown once");
    assert!(listed.contains("from the &lt;dashboard&gt;"), "{listed}");
    page.find(Locator::Css("table.tokens form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.wait()
        .for_element(Locator::Css("form.create-token"))
        .await
        .unwrap();
    assert!(
        page.find_all(Locator::Css("table.tokens tr"))
            .await
            .unwrap()
            .is_empty()
    );
    let err = as_new_token
        .get_build_steps(build_v1::GetBuildStepsRequest {
            build_id: good.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        depot_core::connect::Code::Unauthenticated,
        "{err}"
    );

    // A forged sign-out (no form token) changes nothing; the real one ends the session.
    let cookie = page.get_named_cookie("depot_session").await.unwrap();
    let cookie = format!("depot_session={}", cookie.value());
    let forged = http(
        &server.url,
        "POST",
        "/sign-out",
        &[
            ("cookie", cookie.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        b"csrf=guessed",
    )
    .await;
    assert_eq!(forged.status, 403);
    page.goto(&url("/")).await.unwrap();
    assert_eq!(page.current_url().await.unwrap().path(), "/");
    page.find(Locator::Css("form.sign-out button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.wait()
        .for_element(Locator::Css("form.sign-in"))
        .await
        .unwrap();
    assert_eq!(page.current_url().await.unwrap().path(), "/sign-in");
    page.goto(&url(&format!("/builds/{good}"))).await.unwrap();
    assert!(
        page.current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/sign-in")
    );
    let after = http(&server.url, "GET", "/", &[("cookie", cookie.as_str())], b"").await;
    assert_eq!(after.status, 303, "the old cookie is dead");
    browser.close().await;
}

#[tokio::test]
async fn sign_in_is_for_api_tokens_and_a_session_dies_with_its_token() {
    let server = Server::start().await;
    let boot = server.bootstrap("guard");

    let form = http(&server.url, "GET", "/sign-in", &[], b"").await;
    assert_eq!(form.status, 200);
    let csp = form.header("content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(form.header("x-frame-options"), "DENY");

    // Every page wants a session.
    for path in ["/", &format!("/projects/{}/builds", boot.project_id)] {
        let page = http(&server.url, "GET", path, &[], b"").await;
        assert_eq!(page.status, 303, "{path}");
        assert!(page.header("location").starts_with("/sign-in"), "{path}");
    }

    // Refused: a bad token, a pull token, a sign-in posted from another site.
    let bad = sign_in(&server, "not-a-token").await;
    assert_eq!(bad.status, 401);
    assert!(
        bad.text().contains("invalid, expired or revoked"),
        "{}",
        bad.text()
    );
    let pull = server
        .client(&boot.token)
        .builds()
        .get_pull_token(GetPullTokenRequest {
            project_id: Some(boot.project_id.clone()),
            build_id: None,
        })
        .await
        .unwrap()
        .token;
    let refused = sign_in(&server, &pull).await;
    assert_eq!(refused.status, 401);
    assert!(
        refused
            .text()
            .contains("pull, build and CI tokens cannot sign in")
    );
    let cross = http(
        &server.url,
        "POST",
        "/sign-in",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", "https://evil.example"),
        ],
        format!("token={}", boot.token).as_bytes(),
    )
    .await;
    assert_eq!(cross.status, 403);

    // A project token signs in to its project; deleting the token ends the session.
    let created = server
        .client(&boot.token)
        .project_admin()
        .create_token(CreateTokenRequest {
            project_id: boot.project_id.clone(),
            description: "dashboard".into(),
        })
        .await
        .unwrap();
    let signed_in = sign_in(&server, &created.secret).await;
    assert_eq!(signed_in.status, 303);
    let cookie = session_cookie(&signed_in);
    let home = http(&server.url, "GET", "/", &[("cookie", cookie.as_str())], b"").await;
    assert_eq!(home.status, 200);
    assert!(home.text().contains(&boot.project_id), "{}", home.text());
    assert!(
        !home.text().contains(&created.secret),
        "no secret on a page"
    );
    server
        .client(&boot.token)
        .project_admin()
        .delete_token(DeleteTokenRequest {
            token_id: created.token_id.clone(),
        })
        .await
        .unwrap();
    let home = http(&server.url, "GET", "/", &[("cookie", cookie.as_str())], b"").await;
    assert_eq!(home.status, 303, "the session died with its token");
}
