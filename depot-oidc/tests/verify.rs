//! Verification against a real (local) issuer: discovery, JWKS caching, every refusal.

use std::time::Duration;

use depot_oidc::server::{OidcVerifier, TrustedIssuer, VerifierConfig, VerifyError};
use depot_oidc::test_issuer::{Signing, TestIssuer};
use depot_oidc::{Provider, ProviderClaims};
use serde_json::{Value, json};

const AUDIENCE: &str = "https://depot.dev";

fn verifier(issuers: &[(&TestIssuer, Provider)]) -> OidcVerifier {
    let issuers = issuers
        .iter()
        .map(|(issuer, provider)| TrustedIssuer {
            provider: *provider,
            issuer: issuer.issuer().to_owned(),
            prefix: false,
        })
        .collect();
    OidcVerifier::new(VerifierConfig::new(issuers, AUDIENCE))
}

fn github_claims() -> Value {
    json!({"repository_owner": "acme", "repository": "acme/app", "event_name": "push"})
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn valid_tokens_of_each_provider_give_their_identity() {
    let github = TestIssuer::start("/github").await;
    let gitlab = TestIssuer::start("").await;
    let verifier = verifier(&[(&github, Provider::GitHub), (&gitlab, Provider::GitLab)]);

    let claims = github.claims(AUDIENCE, github_claims());
    let identity = verifier.verify(&github.mint(&claims)).await.unwrap();
    assert_eq!(identity.issuer, github.issuer());
    assert_eq!(identity.jti.as_deref(), claims["jti"].as_str());
    assert!(matches!(
        &identity.claims,
        ProviderClaims::GitHub { repository, .. } if repository == "acme/app"
    ));
    // ES256 too.
    let es = github.mint_with(&claims, Signing::Es256);
    assert_eq!(verifier.verify(&es).await.unwrap(), identity);

    let claims = gitlab.claims(
        AUDIENCE,
        json!({"namespace_path": "group", "project_path": "group/app"}),
    );
    let identity = verifier.verify(&gitlab.mint(&claims)).await.unwrap();
    assert_eq!(identity.provider(), Provider::GitLab);
    assert_eq!(identity.to_string(), "gitlab project group/app");
}

#[tokio::test]
async fn circleci_tokens_may_carry_their_organization_as_audience() {
    let issuer = TestIssuer::start("/org/6f1b2c").await;
    let verifier = OidcVerifier::new(VerifierConfig::new(
        vec![
            TrustedIssuer::parse(&format!(
                "circleci={}*",
                issuer.issuer().trim_end_matches("6f1b2c")
            ))
            .unwrap(),
        ],
        AUDIENCE,
    ));
    let circle =
        json!({"oidc.circleci.com/org-id": "6f1b2c", "oidc.circleci.com/project-id": "77aa"});
    let token = issuer.mint(&issuer.claims("6f1b2c", circle.clone()));
    let identity = verifier.verify(&token).await.unwrap();
    assert_eq!(identity.provider(), Provider::CircleCi);
    let other_org = issuer.mint(&issuer.claims("another-org", circle));
    assert!(matches!(
        verifier.verify(&other_org).await,
        Err(VerifyError::WrongAudience { .. })
    ));
}

#[tokio::test]
async fn every_bad_token_is_refused_with_its_own_code_and_never_echoed() {
    let issuer = TestIssuer::start("/github").await;
    let stranger = TestIssuer::start("/stranger").await;
    let verifier = verifier(&[(&issuer, Provider::GitHub)]);
    let good = issuer.claims(AUDIENCE, github_claims());
    let with = |extra: Value| {
        let mut claims = good.clone();
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    };
    let cases: Vec<(&str, String)> = vec![
        (
            "expired",
            issuer.mint(&with(
                json!({"exp": now() - 3600, "iat": now() - 4000, "nbf": now() - 4000}),
            )),
        ),
        (
            "not_yet_valid",
            issuer.mint(&with(json!({"nbf": now() + 3600}))),
        ),
        (
            "not_yet_valid",
            issuer.mint(&with(json!({"iat": now() + 3600}))),
        ),
        (
            "wrong_audience",
            issuer.mint(&with(json!({"aud": "https://other.example"}))),
        ),
        ("wrong_audience", issuer.mint(&with(json!({"aud": null})))),
        (
            "unknown_issuer",
            stranger.mint(&stranger.claims(AUDIENCE, github_claims())),
        ),
        ("bad_signature", issuer.mint_with(&good, Signing::Tampered)),
        ("unsigned", issuer.mint_with(&good, Signing::Unsigned)),
        (
            "symmetric_algorithm",
            issuer.mint_with(&good, Signing::HmacWithPublicKey),
        ),
        ("unknown_key", issuer.mint_with(&good, Signing::UnlistedKey)),
        (
            "missing_claim",
            issuer.mint(&with(json!({"repository_owner": null}))),
        ),
        ("missing_claim", issuer.mint(&with(json!({"exp": null})))),
        (
            "malformed",
            "eyJhbGciOiJSUzI1NiJ9.not base64.sig".to_owned(),
        ),
        ("malformed", "not-a-jwt".to_owned()),
        ("token_too_large", format!("eyJ{}", "a".repeat(20_000))),
    ];
    for (code, token) in cases {
        let err = verifier.verify(&token).await.expect_err(code);
        assert_eq!(err.code(), code, "{err}");
        let message = err.to_string();
        assert!(!message.contains(&token), "{message}");
        if token.len() > 40 {
            let signature = token.rsplit('.').next().unwrap();
            assert!(
                signature.is_empty() || !message.contains(signature),
                "{message}"
            );
        }
    }
}

#[tokio::test]
async fn keys_are_cached_and_refetched_once_per_cooldown_for_unknown_kids() {
    let issuer = TestIssuer::start("/github").await;
    let mut config = VerifierConfig::new(
        vec![TrustedIssuer {
            provider: Provider::GitHub,
            issuer: issuer.issuer().to_owned(),
            prefix: false,
        }],
        AUDIENCE,
    );
    config.refetch_cooldown = Duration::from_millis(300);
    let verifier = OidcVerifier::new(config);
    let token = |issuer: &TestIssuer| issuer.mint(&issuer.claims(AUDIENCE, github_claims()));

    for _ in 0..5 {
        verifier.verify(&token(&issuer)).await.unwrap();
    }
    assert_eq!(issuer.jwks_fetches(), 1, "warm cache: one fetch");

    // A forged kid right after a fetch does not make the verifier ask again.
    let forged = issuer.mint_with(
        &issuer.claims(AUDIENCE, github_claims()),
        Signing::UnlistedKey,
    );
    assert_eq!(
        verifier.verify(&forged).await.unwrap_err().code(),
        "unknown_key"
    );
    assert_eq!(
        verifier.verify(&forged).await.unwrap_err().code(),
        "unknown_key"
    );
    assert_eq!(issuer.jwks_fetches(), 1);

    // After the cooldown, a rotated key is found with a single refetch.
    tokio::time::sleep(Duration::from_millis(350)).await;
    issuer.rotate().await;
    verifier.verify(&token(&issuer)).await.unwrap();
    assert_eq!(issuer.jwks_fetches(), 2);
    verifier.verify(&token(&issuer)).await.unwrap();
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn an_unreachable_issuer_is_reported_as_such() {
    let issuer = TestIssuer::start("/github").await;
    let token = issuer.mint(&issuer.claims(AUDIENCE, github_claims()));
    let verifier = verifier(&[(&issuer, Provider::GitHub)]);
    drop(issuer);
    let err = verifier.verify(&token).await.unwrap_err();
    assert_eq!(err.code(), "issuer_unreachable", "{err}");
    assert!(err.is_server_side());
}
