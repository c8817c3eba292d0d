//! CI token verification cost, with two figures:
//!
//! 1. **Verification throughput** with a warm JWKS cache: `OidcVerifier::verify` on RS256 and
//!    ES256 tokens from a local test issuer, against the peer of a bare
//!    `jsonwebtoken::decode` with the key already parsed (the signature check alone). The
//!    ratio is what discovery, caching, claim parsing and checks add.
//! 2. **Added latency per API request**: `ListBuilds` through depot-server with the CI token
//!    as the bearer, against the same call with a project token exchanged for it. Median of
//!    `DEPOT_BENCH_RUNS` (default 200) calls each.
//!
//! ```sh
//! cargo build --release -p depot-server
//! cargo bench -p depot-tests --bench oidc
//! ```

use std::time::{Duration, Instant};

use depot_core::proto::depot::cli::v1::ListBuildsRequest;
use depot_core::proto::depot::core::v1::{
    AddTrustPolicyRequest, add_trust_policy_request, trust_policy,
};
use depot_core::proto::depotrs::v1::{ExchangeTokenRequest, OidcServiceClient};
use depot_oidc::Provider;
use depot_oidc::server::{OidcVerifier, TrustedIssuer, VerifierConfig};
use depot_oidc::test_issuer::{Signing, TestIssuer};
use depot_tests::Server;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

const AUDIENCE: &str = "https://depot.dev";
const TOKENS: usize = 2_000;

fn runs() -> usize {
    std::env::var("DEPOT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn claims(issuer: &TestIssuer) -> Value {
    issuer.claims(
        AUDIENCE,
        json!({"repository_owner": "acme", "repository": "acme/app", "event_name": "push"}),
    )
}

/// Tokens per second, for `count` tokens handled in `took`.
fn per_second(count: usize, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64()
}

/// The issuer's published key for `algorithm`, parsed once.
async fn published_key(issuer: &TestIssuer, algorithm: Algorithm) -> DecodingKey {
    let jwks = depot_tests::http(issuer.issuer(), "GET", "/jwks", &[], b"").await;
    let set: JwkSet = serde_json::from_slice(jwks.text().as_bytes()).expect("a JWKS");
    let kid = if algorithm == Algorithm::RS256 {
        "rsa-1"
    } else {
        "ec-1"
    };
    DecodingKey::from_jwk(set.find(kid).expect("the key")).expect("a usable key")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let issuer = TestIssuer::start("/github").await;
    let trusted = TrustedIssuer {
        provider: Provider::GitHub,
        issuer: issuer.issuer().to_owned(),
        prefix: false,
    };
    let verifier = OidcVerifier::new(VerifierConfig::new(vec![trusted], AUDIENCE));

    println!("CI token verification, warm JWKS cache ({TOKENS} tokens each)");
    for (algorithm, signing) in [
        (Algorithm::RS256, Signing::Rs256),
        (Algorithm::ES256, Signing::Es256),
    ] {
        let tokens: Vec<String> = (0..TOKENS)
            .map(|_| issuer.mint_with(&claims(&issuer), signing))
            .collect();
        verifier.verify(&tokens[0]).await.expect("a valid token"); // warms the cache
        let started = Instant::now();
        for token in &tokens {
            verifier.verify(token).await.expect("a valid token");
        }
        let ours = per_second(tokens.len(), started.elapsed());
        let key = published_key(&issuer, algorithm).await;
        let mut validation = Validation::new(algorithm);
        validation.set_audience(&[AUDIENCE]);
        let started = Instant::now();
        for token in &tokens {
            jsonwebtoken::decode::<Value>(token, &key, &validation).expect("a valid token");
        }
        let bare = per_second(tokens.len(), started.elapsed());
        println!(
            "  {algorithm:?}: depot-oidc {ours:>8.0} tokens/s   bare signature check {bare:>8.0} tokens/s   ratio {:.2}x",
            bare / ours
        );
    }

    // Through depot-server: the CI token as bearer vs. an exchanged project token.
    let server = Server::start_with(vec![
        "--oidc-issuer".into(),
        format!("github={}", issuer.issuer()),
    ])
    .await;
    let boot = server.bootstrap("bench");
    server
        .client(&boot.token)
        .project_admin()
        .add_trust_policy(AddTrustPolicyRequest {
            project_id: boot.project_id.clone(),
            provider: Some(add_trust_policy_request::Provider::Github(
                trust_policy::GitHub {
                    repository_owner: "acme".into(),
                    repository: "app".into(),
                },
            )),
        })
        .await
        .expect("AddTrustPolicy");
    let jwt = issuer.mint(&claims(&issuer));
    let exchanged = OidcServiceClient::new(server.client(&jwt).connect().clone())
        .exchange_token(ExchangeTokenRequest {
            project_id: boot.project_id.clone(),
        })
        .await
        .expect("ExchangeToken")
        .token;
    let request = ListBuildsRequest {
        project_id: boot.project_id.clone(),
        ..Default::default()
    };
    let latency = |token: String| {
        let client = server.client(&token);
        let request = request.clone();
        async move {
            client
                .builds()
                .list_builds(request.clone())
                .await
                .expect("ListBuilds");
            let mut samples = Vec::new();
            for _ in 0..runs() {
                let started = Instant::now();
                client
                    .builds()
                    .list_builds(request.clone())
                    .await
                    .expect("ListBuilds");
                samples.push(started.elapsed());
            }
            median(samples)
        }
    };
    let with_jwt = latency(jwt).await;
    let with_token = latency(exchanged).await;
    println!("ListBuilds through depot-server (median of {})", runs());
    println!(
        "  CI token as bearer {:>7.2} ms   project token {:>7.2} ms   added {:+.2} ms ({:.2}x)",
        with_jwt.as_secs_f64() * 1000.0,
        with_token.as_secs_f64() * 1000.0,
        (with_jwt.as_secs_f64() - with_token.as_secs_f64()) * 1000.0,
        with_jwt.as_secs_f64() / with_token.as_secs_f64()
    );
}
