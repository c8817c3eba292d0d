//! A local OIDC issuer for tests, standing in for GitHub Actions, GitLab, CircleCI and Buildkite.
//!
//! It generates an RSA and a P-256 key, serves `/.well-known/openid-configuration` and `/jwks`
//! on loopback, and mints tokens with whatever claims a test chooses, correctly or in the broken
//! ways attackers try ([`Signing`]). It also speaks the two provider token endpoints the `depot`
//! CLI calls: GitHub Actions' `ACTIONS_ID_TOKEN_REQUEST_URL` and Buildkite's agent API.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// The request token the fake GitHub Actions endpoint expects (`ACTIONS_ID_TOKEN_REQUEST_TOKEN`).
pub const ACTIONS_REQUEST_TOKEN: &str = "test-actions-request-token";
/// The agent token the fake Buildkite endpoint expects (`BUILDKITE_AGENT_ACCESS_TOKEN`).
pub const BUILDKITE_AGENT_TOKEN: &str = "test-buildkite-agent-token";

/// How [`TestIssuer::mint_with`] signs a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signing {
    /// RS256 with the current published RSA key (what [`TestIssuer::mint`] does).
    Rs256,
    /// ES256 with the published P-256 key.
    Es256,
    /// RS256 with a key that is never published (its `kid` is unknown).
    UnlistedKey,
    /// `alg: none`, no signature.
    Unsigned,
    /// HS256 keyed with the RSA public key's PEM, the classic algorithm-confusion forgery.
    HmacWithPublicKey,
    /// A valid RS256 token whose payload was then replaced (the signature no longer matches).
    Tampered,
}

struct IssuerKey {
    kid: String,
    algorithm: Algorithm,
    encoding: EncodingKey,
    jwk: Jwk,
    public_pem: String,
}

impl IssuerKey {
    fn rsa(kid: &str) -> Self {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::{EncodePublicKey, LineEnding};
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .expect("generating an RSA key");
        let der = private.to_pkcs1_der().expect("encoding an RSA key");
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("encoding an RSA public key");
        Self::new(
            kid,
            Algorithm::RS256,
            EncodingKey::from_rsa_der(der.as_bytes()),
            public_pem,
        )
    }

    fn p256(kid: &str) -> Self {
        use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let private = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let der = private.to_pkcs8_der().expect("encoding a P-256 key");
        let public_pem = private
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("encoding a P-256 public key");
        Self::new(
            kid,
            Algorithm::ES256,
            EncodingKey::from_ec_der(der.as_bytes()),
            public_pem,
        )
    }

    fn new(kid: &str, algorithm: Algorithm, encoding: EncodingKey, public_pem: String) -> Self {
        let mut jwk = Jwk::from_encoding_key(&encoding, algorithm).expect("a JWK of our key");
        jwk.common.key_id = Some(kid.to_owned());
        Self {
            kid: kid.to_owned(),
            algorithm,
            encoding,
            jwk,
            public_pem,
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signing a token")
    }
}

struct Keys {
    /// Published RSA keys; the last one signs.
    rsa: Vec<IssuerKey>,
    ec: IssuerKey,
    unlisted: IssuerKey,
}

struct Shared {
    issuer: String,
    keys: RwLock<Keys>,
    jwks_fetches: AtomicUsize,
    ci_claims: Mutex<Value>,
    next_jti: AtomicUsize,
}

impl Shared {
    /// See [`TestIssuer::claims`].
    fn claims(&self, audience: &str, extra: Value) -> Value {
        let now = now_secs();
        let jti = self.next_jti.fetch_add(1, Ordering::SeqCst);
        let mut claims = json!({
            "iss": self.issuer,
            "aud": audience,
            "sub": "test-subject",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "jti": format!("test-jti-{jti}-{now}"),
        });
        let map = claims.as_object_mut().expect("an object");
        if let Value::Object(extra) = extra {
            for (name, value) in extra {
                if value.is_null() {
                    map.remove(&name);
                } else {
                    map.insert(name, value);
                }
            }
        }
        claims
    }

    /// A token for `audience` with the claims set by [`TestIssuer::set_ci_claims`].
    fn ci_token(&self, audience: &str) -> String {
        let extra = self.ci_claims.lock().expect("claims").clone();
        let claims = self.claims(audience, extra);
        let keys = self.keys.read().expect("issuer keys");
        keys.rsa.last().expect("one RSA key at least").sign(&claims)
    }
}

/// A running test issuer; it stops when dropped.
pub struct TestIssuer {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestIssuer {
    /// Starts an issuer on `127.0.0.1` with fresh keys. Its `iss` is its base URL plus `path`
    /// (e.g. `/github`), so several stand-ins can look like different providers.
    pub async fn start(path: &str) -> TestIssuer {
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("binding the test issuer");
        let addr = listener.local_addr().expect("the issuer's address");
        let path = path.trim_end_matches('/');
        let keys = tokio::task::spawn_blocking(|| Keys {
            rsa: vec![IssuerKey::rsa("rsa-1")],
            ec: IssuerKey::p256("ec-1"),
            unlisted: IssuerKey::rsa("unlisted"),
        })
        .await
        .expect("generating keys");
        let shared = Arc::new(Shared {
            issuer: format!("http://{addr}{path}"),
            keys: RwLock::new(keys),
            jwks_fetches: AtomicUsize::new(0),
            ci_claims: Mutex::new(json!({})),
            next_jti: AtomicUsize::new(1),
        });
        let issuer_routes = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/actions/token", get(actions_token))
            .route(
                "/buildkite/v3/jobs/{job}/oidc/tokens",
                post(buildkite_token),
            );
        let app = if path.is_empty() {
            issuer_routes
        } else {
            Router::new().nest(path, issuer_routes)
        }
        .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestIssuer { shared, server }
    }

    /// The issuer URL (`iss`).
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// How many times `/jwks` was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.shared.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Standard claims for `audience` (`iss`, `aud`, `sub`, `iat`, `nbf`, `exp` in ten minutes, a
    /// unique `jti`), with `extra`'s fields added or overriding them (`null` removes one).
    pub fn claims(&self, audience: &str, extra: Value) -> Value {
        self.shared.claims(audience, extra)
    }

    /// Signs `claims` with the current RSA key (RS256).
    pub fn mint(&self, claims: &Value) -> String {
        self.mint_with(claims, Signing::Rs256)
    }

    /// Signs `claims` as `signing` says.
    pub fn mint_with(&self, claims: &Value, signing: Signing) -> String {
        let keys = self.shared.keys.read().expect("issuer keys");
        let current = keys.rsa.last().expect("one RSA key at least");
        match signing {
            Signing::Rs256 => current.sign(claims),
            Signing::Es256 => keys.ec.sign(claims),
            Signing::UnlistedKey => keys.unlisted.sign(claims),
            Signing::Unsigned => {
                let header = json!({"alg": "none", "typ": "JWT", "kid": current.kid});
                format!("{}.{}.", encode_part(&header), encode_part(claims))
            }
            Signing::HmacWithPublicKey => {
                let mut header = Header::new(Algorithm::HS256);
                header.kid = Some(current.kid.clone());
                let key = EncodingKey::from_secret(current.public_pem.as_bytes());
                jsonwebtoken::encode(&header, claims, &key).expect("signing with HMAC")
            }
            Signing::Tampered => {
                let token = current.sign(claims);
                let mut forged = claims.clone();
                forged["sub"] = json!("tampered");
                let mut parts = token.split('.');
                let header = parts.next().expect("header");
                parts.next();
                let signature = parts.next().expect("signature");
                format!("{header}.{}.{signature}", encode_part(&forged))
            }
        }
    }

    /// Publishes a new RSA key and signs with it from now on (the old one stays published).
    pub async fn rotate(&self) {
        let kid = {
            let keys = self.shared.keys.read().expect("issuer keys");
            format!("rsa-{}", keys.rsa.len() + 1)
        };
        let key = tokio::task::spawn_blocking(move || IssuerKey::rsa(&kid))
            .await
            .expect("generating a key");
        self.shared.keys.write().expect("issuer keys").rsa.push(key);
    }

    /// The claims (besides the standard ones) of tokens handed out by the fake GitHub Actions
    /// and Buildkite endpoints.
    pub fn set_ci_claims(&self, claims: Value) {
        *self.shared.ci_claims.lock().expect("claims") = claims;
    }

    /// The `ACTIONS_ID_TOKEN_REQUEST_URL` of the fake GitHub Actions endpoint (it expects
    /// [`ACTIONS_REQUEST_TOKEN`]).
    pub fn actions_token_url(&self) -> String {
        format!("{}/actions/token?api-version=2.0", self.shared.issuer)
    }

    /// The `BUILDKITE_AGENT_ENDPOINT` of the fake Buildkite agent API (it expects
    /// [`BUILDKITE_AGENT_TOKEN`]).
    pub fn buildkite_endpoint(&self) -> String {
        format!("{}/buildkite/v3", self.shared.issuer)
    }
}

fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON"))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({
        "issuer": shared.issuer,
        "jwks_uri": format!("{}/jwks", shared.issuer),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    }))
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let keys = shared.keys.read().expect("issuer keys");
    let published: Vec<&Jwk> = keys
        .rsa
        .iter()
        .map(|k| &k.jwk)
        .chain([&keys.ec.jwk])
        .collect();
    (
        [(header::CACHE_CONTROL, "public, max-age=3600")],
        Json(json!({ "keys": published })),
    )
        .into_response()
}

fn authorized(headers: &HeaderMap, scheme: &str, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(s, t)| s.eq_ignore_ascii_case(scheme) && t == token)
}

async fn actions_token(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers, "bearer", ACTIONS_REQUEST_TOKEN) {
        return (StatusCode::UNAUTHORIZED, "bad request token").into_response();
    }
    let Some(audience) = query.get("audience") else {
        return (StatusCode::BAD_REQUEST, "audience is required").into_response();
    };
    Json(json!({ "count": 1, "value": shared.ci_token(audience) })).into_response()
}

async fn buildkite_token(
    State(shared): State<Arc<Shared>>,
    Path(_job): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorized(&headers, "token", BUILDKITE_AGENT_TOKEN) {
        return (StatusCode::UNAUTHORIZED, "bad agent token").into_response();
    }
    let Some(audience) = body.get("audience").and_then(Value::as_str) else {
        return (StatusCode::UNPROCESSABLE_ENTITY, "audience is required").into_response();
    };
    Json(json!({ "token": shared.ci_token(audience) })).into_response()
}
