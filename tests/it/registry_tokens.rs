//! The registry's token endpoint: bearers are short-lived, carry exactly the access granted
//! for the scopes asked for (never more than the depot token they are minted from), and never
//! hand that token back.

use depot_tests::{HttpResponse, RegistryClient as Registry, Server, http, sha256};
use serde_json::json;

fn error_code(r: &HttpResponse) -> String {
    r.json()["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Asks the token endpoint, with `depot_token` as docker sends it, for `scopes`.
async fn mint(server: &Server, depot_token: &str, scopes: &[&str]) -> HttpResponse {
    let basic = Registry::new(server, depot_token);
    let query: Vec<String> = scopes.iter().map(|s| format!("scope={s}")).collect();
    basic
        .call(
            "GET",
            &format!("/auth/token?service=depot&{}", query.join("&")),
            &[],
            b"",
        )
        .await
}

/// The `Authorization` header for the bearer in a token response.
fn bearer_of(minted: &HttpResponse) -> String {
    assert_eq!(minted.status, 200, "{}", minted.text());
    let token = minted.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(minted.json()["access_token"].as_str(), Some(token.as_str()));
    format!("Bearer {token}")
}

async fn call(server: &Server, bearer: &str, method: &str, path: &str) -> HttpResponse {
    http(&server.url, method, path, &[("authorization", bearer)], b"").await
}

#[tokio::test]
async fn bearers_carry_only_the_granted_scope_and_never_the_depot_token() {
    let server = Server::start().await;
    let boot = server.bootstrap("bearer");
    let owner = Registry::new(&server, &boot.token);
    let repo = format!("{}/app", boot.project_id);
    let sibling = format!("{}/other", boot.project_id);
    owner.push_image(&repo, "v1", "a").await;
    owner.push_image(&sibling, "v1", "b").await;

    // Asked for pull: reads, but cannot start an upload or delete; the refusal names the
    // scope to ask for, as RFC 6750's insufficient_scope.
    let minted = mint(&server, &boot.token, &[&format!("repository:{repo}:pull")]).await;
    assert!(
        !minted.text().contains(&boot.token),
        "the token endpoint handed the depot token back"
    );
    assert_eq!(minted.json()["expires_in"], json!(300));
    let pull = bearer_of(&minted);
    assert_eq!(
        call(&server, &pull, "GET", &format!("/v2/{repo}/manifests/v1"))
            .await
            .status,
        200
    );
    let upload = call(
        &server,
        &pull,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
    )
    .await;
    assert_eq!(
        (upload.status, error_code(&upload).as_str()),
        (403, "DENIED")
    );
    let challenge = upload.header("www-authenticate");
    assert!(
        challenge.contains(&format!("scope=\"repository:{repo}:pull,push\""))
            && challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    let delete = call(
        &server,
        &pull,
        "DELETE",
        &format!("/v2/{repo}/manifests/v1"),
    )
    .await;
    assert_eq!(delete.status, 403);
    // Only the repository asked for: not its sibling, not the catalog.
    assert_eq!(
        call(
            &server,
            &pull,
            "GET",
            &format!("/v2/{sibling}/manifests/v1")
        )
        .await
        .status,
        403
    );
    assert_eq!(
        call(&server, &pull, "GET", "/v2/_catalog").await.status,
        403
    );

    // Asked for push: an upload goes through with the bearer alone.
    let push = bearer_of(
        &mint(
            &server,
            &boot.token,
            &[&format!("repository:{repo}:pull,push")],
        )
        .await,
    );
    let data = b"pushed with a bearer";
    let digest = sha256(data);
    let put = http(
        &server.url,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
        &[
            ("authorization", &push),
            ("content-type", "application/octet-stream"),
        ],
        data,
    )
    .await;
    assert_eq!(put.status, 201, "{}", put.text());

    // Another project's repository: the token is issued, but grants nothing there.
    let stranger = server.bootstrap("stranger");
    let theirs = format!("{}/app", stranger.project_id);
    Registry::new(&server, &stranger.token)
        .push_image(&theirs, "v1", "c")
        .await;
    let minted = mint(
        &server,
        &boot.token,
        &[&format!("repository:{theirs}:pull,push")],
    )
    .await;
    let none = bearer_of(&minted);
    assert_eq!(
        call(&server, &none, "GET", &format!("/v2/{theirs}/manifests/v1"))
            .await
            .status,
        403
    );
    assert_eq!(
        call(
            &server,
            &none,
            "POST",
            &format!("/v2/{theirs}/blobs/uploads/")
        )
        .await
        .status,
        403
    );

    // A pull token asking for push gets pull only.
    let pull_token = server.pull_token(&boot.token, &boot.project_id).await;
    let read_only = bearer_of(
        &mint(
            &server,
            &pull_token,
            &[&format!("repository:{repo}:pull,push")],
        )
        .await,
    );
    assert_eq!(
        call(
            &server,
            &read_only,
            "GET",
            &format!("/v2/{repo}/manifests/v1")
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call(
            &server,
            &read_only,
            "POST",
            &format!("/v2/{repo}/blobs/uploads/")
        )
        .await
        .status,
        403
    );

    // The catalog, when asked for, lists the caller's projects only.
    let catalog = bearer_of(&mint(&server, &boot.token, &["registry:catalog:*"]).await);
    let listed = call(&server, &catalog, "GET", "/v2/_catalog").await;
    assert_eq!(
        listed.json()["repositories"],
        json!([repo.clone(), sibling.clone()])
    );

    // A bearer is not a credential for minting more, and a forged one is refused.
    let again = http(
        &server.url,
        "GET",
        "/auth/token?scope=repository:x:pull",
        &[("authorization", &pull)],
        b"",
    )
    .await;
    assert_eq!(again.status, 401);
    let (head, rest) = pull.split_once('.').unwrap();
    let (claims, _signature) = rest.split_once('.').unwrap();
    let forged = format!("{head}.{claims}.AAAA");
    assert_eq!(
        call(&server, &forged, "GET", &format!("/v2/{repo}/manifests/v1"))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn bearers_expire() {
    let server = Server::start_with(vec!["--registry-token-ttl".into(), "2s".into()]).await;
    let boot = server.bootstrap("expiry");
    let owner = Registry::new(&server, &boot.token);
    let repo = format!("{}/app", boot.project_id);
    owner.push_image(&repo, "v1", "a").await;
    let minted = mint(&server, &boot.token, &[&format!("repository:{repo}:pull")]).await;
    assert_eq!(minted.json()["expires_in"], json!(2));
    let bearer = bearer_of(&minted);
    let path = format!("/v2/{repo}/manifests/v1");
    assert_eq!(call(&server, &bearer, "GET", &path).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let expired = call(&server, &bearer, "GET", &path).await;
    assert_eq!(
        (expired.status, error_code(&expired).as_str()),
        (401, "UNAUTHORIZED")
    );
    assert!(expired.text().contains("expired"), "{}", expired.text());
    assert!(
        expired
            .header("www-authenticate")
            .starts_with("Bearer realm="),
        "a client is told where to get a new one"
    );
}
