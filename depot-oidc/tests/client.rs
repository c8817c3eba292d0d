//! The CI token providers against fake GitHub Actions and Buildkite endpoints on loopback.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use depot_oidc::client::{CiEnv, CiToken, detect_with};
use depot_oidc::{DEFAULT_AUDIENCE, Provider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `{"alg":"RS256"}.{"iss":"https://token.actions.githubusercontent.com","aud":"https://depot.dev"}.sig`
const GITHUB_JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL3Rva2VuLmFjdGlvbnMuZ2l0aHVidXNlcmNvbnRlbnQuY29tIiwiYXVkIjoiaHR0cHM6Ly9kZXBvdC5kZXYifQ.c2ln";
/// `{"alg":"RS256"}.{"iss":"https://agent.buildkite.com","aud":"https://depot.dev"}.sig`
const BUILDKITE_JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2FnZW50LmJ1aWxka2l0ZS5jb20iLCJhdWQiOiJodHRwczovL2RlcG90LmRldiJ9.c2ln";
const GITLAB_TOKEN: &str = "gitlab-id-token";
const CIRCLECI_TOKEN: &str = "circleci-id-token";
const GITHUB_REQUEST_TOKEN: &str = "gh-request-secret";
const BUILDKITE_AGENT_TOKEN: &str = "bk-agent-secret";
const SECRETS: [&str; 6] = [
    GITHUB_JWT,
    BUILDKITE_JWT,
    GITLAB_TOKEN,
    CIRCLECI_TOKEN,
    GITHUB_REQUEST_TOKEN,
    BUILDKITE_AGENT_TOKEN,
];

/// How the fake endpoints answer.
#[derive(Clone, Copy)]
enum Behaviour {
    Tokens,
    /// 500, with a body that echoes the request credential.
    Fail,
    /// A 100 KiB body with a Content-Length.
    Huge,
}

/// One request a fake endpoint received.
#[derive(Clone, Debug, Default)]
struct Seen {
    path: String,
    authorization: Option<String>,
    query: HashMap<String, String>,
    body: Option<serde_json::Value>,
}

#[derive(Clone)]
struct Fake {
    behaviour: Behaviour,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn answer(
        &self,
        seen: Seen,
        expected_authorization: &str,
        json: serde_json::Value,
    ) -> Response {
        let authorized = seen.authorization.as_deref() == Some(expected_authorization);
        self.seen.lock().unwrap().push(seen);
        if !authorized {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        match self.behaviour {
            Behaviour::Tokens => Json(json).into_response(),
            Behaviour::Fail => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{{\"message\": \"no token for {expected_authorization}\"}}"),
            )
                .into_response(),
            Behaviour::Huge => "x".repeat(100 * 1024).into_response(),
        }
    }
}

fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn github(
    State(fake): State<Fake>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !query.contains_key("audience") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let seen = Seen {
        path: "/github/token".into(),
        authorization: authorization(&headers),
        query,
        body: None,
    };
    fake.answer(
        seen,
        &format!("bearer {GITHUB_REQUEST_TOKEN}"),
        serde_json::json!({ "count": 1, "value": GITHUB_JWT }),
    )
}

async fn buildkite(
    State(fake): State<Fake>,
    Path(job): Path<String>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    if !body["audience"].is_string() {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let seen = Seen {
        path: format!("/v3/jobs/{job}/oidc/tokens"),
        authorization: authorization(&headers),
        query: HashMap::new(),
        body: Some(body),
    };
    fake.answer(
        seen,
        &format!("Token {BUILDKITE_AGENT_TOKEN}"),
        serde_json::json!({ "token": BUILDKITE_JWT }),
    )
}

/// Serves the fake GitHub (`/github/token`) and Buildkite (`/v3/jobs/{id}/oidc/tokens`)
/// endpoints; returns their base URL and the requests they receive.
async fn serve(behaviour: Behaviour) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route("/github/token", get(github))
        .route("/v3/jobs/{job}/oidc/tokens", post(buildkite))
        .with_state(Fake {
            behaviour,
            seen: seen.clone(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

/// Runs the providers with exactly `vars`; checks that no debug line shows a secret.
async fn detect(vars: &[(&str, &str)]) -> (Option<CiToken>, Vec<String>) {
    let env = CiEnv::from_vars(vars.iter().copied());
    let mut lines = Vec::new();
    let token = detect_with(&env, &mut |line| lines.push(line.to_owned())).await;
    for line in &lines {
        assert!(line.starts_with("[depot] oidc: "), "{line}");
        for secret in SECRETS {
            assert!(!line.contains(secret), "{line} shows {secret}");
        }
    }
    (token, lines)
}

fn token(provider: Provider, token: &str) -> Option<CiToken> {
    Some(CiToken {
        provider,
        token: token.to_owned(),
    })
}

#[tokio::test]
async fn github_token_is_requested_with_the_bearer_request_token_and_audience() {
    let (base, seen) = serve(Behaviour::Tokens).await;
    let url = format!("{base}/github/token?api-version=2.0");
    let (found, lines) = detect(&[
        ("ACTIONS_ID_TOKEN_REQUEST_URL", url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", GITHUB_REQUEST_TOKEN),
    ])
    .await;
    assert_eq!(found, token(Provider::GitHub, GITHUB_JWT));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("bearer gh-request-secret")
    );
    assert_eq!(seen[0].query["audience"], DEFAULT_AUDIENCE);
    assert_eq!(seen[0].query["api-version"], "2.0");
    assert_eq!(
        lines,
        [format!(
            "[depot] oidc: github: got a token ({} bytes, issuer https://token.actions.githubusercontent.com, audience https://depot.dev)",
            GITHUB_JWT.len()
        )]
    );
}

#[tokio::test]
async fn depot_oidc_audience_is_requested_from_github_and_buildkite() {
    let (base, seen) = serve(Behaviour::Tokens).await;
    let audience = "https://depot.example/a b&c=d";
    // No `?` in the URL: the audience starts the query.
    let url = format!("{base}/github/token");
    let (found, _) = detect(&[
        ("ACTIONS_ID_TOKEN_REQUEST_URL", url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", GITHUB_REQUEST_TOKEN),
        ("DEPOT_OIDC_AUDIENCE", audience),
    ])
    .await;
    assert_eq!(found, token(Provider::GitHub, GITHUB_JWT));

    let endpoint = format!("{base}/v3/");
    let (found, _) = detect(&[
        ("BUILDKITE_AGENT_ACCESS_TOKEN", BUILDKITE_AGENT_TOKEN),
        ("BUILDKITE_JOB_ID", "job-1"),
        ("BUILDKITE_AGENT_ENDPOINT", endpoint.as_str()),
        ("DEPOT_OIDC_AUDIENCE", audience),
    ])
    .await;
    assert_eq!(found, token(Provider::Buildkite, BUILDKITE_JWT));

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].query.len(), 1);
    assert_eq!(seen[0].query["audience"], audience);
    assert_eq!(
        seen[1].body,
        Some(serde_json::json!({ "audience": audience }))
    );
    assert_eq!(
        CiEnv::from_vars([("DEPOT_OIDC_AUDIENCE", audience)]).audience(),
        audience
    );
    assert_eq!(
        CiEnv::from_vars([("DEPOT_OIDC_AUDIENCE", "")]).audience(),
        DEFAULT_AUDIENCE
    );
}

#[tokio::test]
async fn buildkite_token_is_requested_from_the_agent_api() {
    let (base, seen) = serve(Behaviour::Tokens).await;
    // A trailing slash on the endpoint does not double the path's.
    let endpoint = format!("{base}/v3/");
    let (found, lines) = detect(&[
        ("BUILDKITE_AGENT_ACCESS_TOKEN", BUILDKITE_AGENT_TOKEN),
        ("BUILDKITE_JOB_ID", "0190-job"),
        ("BUILDKITE_AGENT_ENDPOINT", endpoint.as_str()),
    ])
    .await;
    assert_eq!(found, token(Provider::Buildkite, BUILDKITE_JWT));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v3/jobs/0190-job/oidc/tokens");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Token bk-agent-secret")
    );
    assert_eq!(
        seen[0].body,
        Some(serde_json::json!({ "audience": DEFAULT_AUDIENCE }))
    );
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(lines[0].contains("github: skipped, ACTIONS_ID_TOKEN_REQUEST_URL is not set"));
    assert!(lines[1].contains("gitlab: skipped, GITLAB_CI is not set"));
    assert!(lines[2].contains("circleci: skipped, CIRCLE_OIDC_TOKEN_V2 is not set"));
    assert!(
        lines[3].contains("buildkite: got a token (")
            && lines[3].contains("issuer https://agent.buildkite.com"),
        "{}",
        lines[3]
    );
}

#[tokio::test]
async fn gitlab_and_circleci_tokens_come_from_the_environment() {
    let (found, lines) = detect(&[("GITLAB_CI", "true"), ("DEPOT_OIDC_TOKEN", GITLAB_TOKEN)]).await;
    assert_eq!(found, token(Provider::GitLab, GITLAB_TOKEN));
    assert_eq!(
        lines[1],
        format!(
            "[depot] oidc: gitlab: got a token ({} bytes, not a JWT)",
            GITLAB_TOKEN.len()
        )
    );

    // DEPOT_OIDC_TOKEN counts only in GitLab CI.
    let (found, lines) = detect(&[("DEPOT_OIDC_TOKEN", GITLAB_TOKEN)]).await;
    assert_eq!(found, None);
    assert!(lines[1].contains("gitlab: skipped, GITLAB_CI is not set"));
    let (found, lines) = detect(&[("GITLAB_CI", "true")]).await;
    assert_eq!(found, None);
    assert!(lines[1].contains("gitlab: skipped, DEPOT_OIDC_TOKEN is not set"));

    let (found, _) = detect(&[("CIRCLE_OIDC_TOKEN_V2", CIRCLECI_TOKEN)]).await;
    assert_eq!(found, token(Provider::CircleCi, CIRCLECI_TOKEN));
}

#[tokio::test]
async fn providers_are_tried_in_the_official_order() {
    let (base, seen) = serve(Behaviour::Tokens).await;
    let url = format!("{base}/github/token");
    let endpoint = format!("{base}/v3");
    let everything = [
        ("ACTIONS_ID_TOKEN_REQUEST_URL", url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", GITHUB_REQUEST_TOKEN),
        ("GITLAB_CI", "true"),
        ("DEPOT_OIDC_TOKEN", GITLAB_TOKEN),
        ("CIRCLE_OIDC_TOKEN_V2", CIRCLECI_TOKEN),
        ("BUILDKITE_AGENT_ACCESS_TOKEN", BUILDKITE_AGENT_TOKEN),
        ("BUILDKITE_JOB_ID", "job"),
        ("BUILDKITE_AGENT_ENDPOINT", endpoint.as_str()),
    ];
    let (found, lines) = detect(&everything).await;
    assert_eq!(found, token(Provider::GitHub, GITHUB_JWT));
    assert_eq!(lines.len(), 1, "the first token wins: {lines:#?}");
    let (found, _) = detect(&everything[2..]).await;
    assert_eq!(found, token(Provider::GitLab, GITLAB_TOKEN));
    let (found, _) = detect(&everything[4..]).await;
    assert_eq!(found, token(Provider::CircleCi, CIRCLECI_TOKEN));
    let (found, _) = detect(&everything[5..]).await;
    assert_eq!(found, token(Provider::Buildkite, BUILDKITE_JWT));
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "one request per HTTP provider"
    );
}

#[tokio::test]
async fn a_failing_provider_is_reported_and_the_next_one_tried() {
    let (base, _) = serve(Behaviour::Fail).await;
    let url = format!("{base}/github/token");
    let endpoint = format!("{base}/v3");
    let (found, lines) = detect(&[
        ("ACTIONS_ID_TOKEN_REQUEST_URL", url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", GITHUB_REQUEST_TOKEN),
        ("GITLAB_CI", "true"),
        ("DEPOT_OIDC_TOKEN", GITLAB_TOKEN),
    ])
    .await;
    assert_eq!(found, token(Provider::GitLab, GITLAB_TOKEN));
    // The error body echoed the request token; the line quotes it redacted.
    assert_eq!(
        lines[0],
        "[depot] oidc: github: failed, HTTP 500 Internal Server Error: {\"message\": \"no token for bearer <redacted>\"}"
    );

    // Every provider failing or missing: no token.
    let (found, lines) = detect(&[
        ("BUILDKITE_AGENT_ACCESS_TOKEN", BUILDKITE_AGENT_TOKEN),
        ("BUILDKITE_JOB_ID", "job"),
        ("BUILDKITE_AGENT_ENDPOINT", endpoint.as_str()),
    ])
    .await;
    assert_eq!(found, None);
    assert!(
        lines[3].starts_with("[depot] oidc: buildkite: failed, HTTP 500"),
        "{}",
        lines[3]
    );
    assert_eq!(lines[4], "[depot] oidc: no CI provider yielded a token");

    // A wrong credential is an HTTP error like any other.
    let (found, lines) = detect(&[
        ("ACTIONS_ID_TOKEN_REQUEST_URL", url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "wrong"),
        ("CIRCLE_OIDC_TOKEN_V2", CIRCLECI_TOKEN),
    ])
    .await;
    assert_eq!(found, token(Provider::CircleCi, CIRCLECI_TOKEN));
    assert_eq!(
        lines[0],
        "[depot] oidc: github: failed, HTTP 401 Unauthorized"
    );
}

#[tokio::test]
async fn unreachable_and_malformed_endpoints_fail_over() {
    // A port nothing listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", closed.local_addr().unwrap());
    drop(closed);
    let (found, lines) = detect(&[
        ("ACTIONS_ID_TOKEN_REQUEST_URL", url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", GITHUB_REQUEST_TOKEN),
        ("CIRCLE_OIDC_TOKEN_V2", CIRCLECI_TOKEN),
    ])
    .await;
    assert_eq!(found, token(Provider::CircleCi, CIRCLECI_TOKEN));
    assert!(
        lines[0].starts_with("[depot] oidc: github: failed, error sending request")
            && lines[0].contains("Connection refused"),
        "{}",
        lines[0]
    );

    // A body past the limit, announced by Content-Length.
    let (base, _) = serve(Behaviour::Huge).await;
    let url = format!("{base}/github/token");
    let (found, lines) = detect(&[
        ("ACTIONS_ID_TOKEN_REQUEST_URL", url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", GITHUB_REQUEST_TOKEN),
    ])
    .await;
    assert_eq!(found, None);
    assert_eq!(
        lines[0],
        "[depot] oidc: github: failed, HTTP 200 OK, the response exceeds 64 KiB"
    );

    // An endless chunked body: reading stops at the limit.
    let url = endless_chunked_body().await;
    let (found, lines) = detect(&[
        ("ACTIONS_ID_TOKEN_REQUEST_URL", url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", GITHUB_REQUEST_TOKEN),
    ])
    .await;
    assert_eq!(found, None);
    assert_eq!(
        lines[0],
        "[depot] oidc: github: failed, HTTP 200 OK, the response exceeds 64 KiB"
    );

    // A success without the token field.
    let url = fixed_response("{\"val\": \"x\"}").await;
    let (found, lines) = detect(&[
        ("ACTIONS_ID_TOKEN_REQUEST_URL", url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", GITHUB_REQUEST_TOKEN),
    ])
    .await;
    assert_eq!(found, None);
    assert_eq!(
        lines[0],
        "[depot] oidc: github: failed, HTTP 200 OK, but the response has no \"value\" string"
    );
    // A JSON string is not an object holding the token (nor quoted in the message).
    let url = fixed_response(&format!("\"{GITHUB_JWT}\"")).await;
    let (found, lines) = detect(&[
        ("ACTIONS_ID_TOKEN_REQUEST_URL", url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", GITHUB_REQUEST_TOKEN),
    ])
    .await;
    assert_eq!(found, None);
    assert!(lines[0].contains("no \"value\" string"), "{}", lines[0]);
}

/// A one-request HTTP/1.1 server answering 200 with `body`; returns its URL.
async fn fixed_response(body: &str) -> String {
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    raw_server(move |mut stream| async move {
        let _ = stream.write_all(response.as_bytes()).await;
    })
    .await
}

/// A one-request HTTP/1.1 server answering 200 with chunks of 16 KiB until the client hangs up
/// (or 64 MiB, should it never).
async fn endless_chunked_body() -> String {
    raw_server(|mut stream| async move {
        let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("4000\r\n{}\r\n", "y".repeat(0x4000));
        for _ in 0..4096 {
            if stream.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
        panic!("the client read 64 MiB");
    })
    .await
}

async fn raw_server<F, Fut>(answer: F) -> String
where
    F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        // Read the request head (a GET has no body).
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        answer(stream).await;
    });
    url
}

#[tokio::test]
async fn nothing_configured_yields_nothing() {
    // Empty values count as unset.
    let (found, lines) = detect(&[
        ("ACTIONS_ID_TOKEN_REQUEST_URL", ""),
        ("GITLAB_CI", ""),
        ("DEPOT_OIDC_TOKEN", GITLAB_TOKEN),
        ("CIRCLE_OIDC_TOKEN_V2", ""),
        ("BUILDKITE_AGENT_ACCESS_TOKEN", BUILDKITE_AGENT_TOKEN),
        ("BUILDKITE_JOB_ID", ""),
    ])
    .await;
    assert_eq!(found, None);
    assert_eq!(
        lines,
        [
            "[depot] oidc: github: skipped, ACTIONS_ID_TOKEN_REQUEST_URL is not set (not GitHub Actions, or the job lacks `permissions: id-token: write`)",
            "[depot] oidc: gitlab: skipped, GITLAB_CI is not set",
            "[depot] oidc: circleci: skipped, CIRCLE_OIDC_TOKEN_V2 is not set",
            "[depot] oidc: buildkite: skipped, BUILDKITE_JOB_ID is not set",
            "[depot] oidc: no CI provider yielded a token",
        ]
    );
}

#[test]
fn debug_output_shows_no_secrets() {
    let found = CiToken {
        provider: Provider::GitHub,
        token: GITHUB_JWT.into(),
    };
    let text = format!("{found:?}");
    assert!(!text.contains(GITHUB_JWT), "{text}");
    assert!(text.contains("GitHub"), "{text}");

    let env = CiEnv::from_vars([
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", GITHUB_REQUEST_TOKEN),
        ("DEPOT_DEBUG_OIDC", "1"),
        ("PATH", "/bin"),
    ]);
    assert!(env.debug());
    assert!(!CiEnv::default().debug());
    let text = format!("{env:?}");
    assert_eq!(
        text,
        "CiEnv { set: [\"ACTIONS_ID_TOKEN_REQUEST_TOKEN\", \"DEPOT_DEBUG_OIDC\"] }"
    );
}
