//! The CI job's OIDC token, found like the CLI finds it.

use depot_oidc::client::{CiEnv, CiToken, detect};
use napi_derive::napi;

/// What `detectCiToken` takes.
#[napi(object)]
#[derive(Default)]
pub struct DetectOptions {
    /// The audience to ask providers for (default: `DEPOT_OIDC_AUDIENCE`, then
    /// `https://depot.dev`).
    pub audience: Option<String>,
}

/// A CI job's OIDC token.
#[napi(object)]
pub struct DetectedToken {
    /// The provider: `github`, `gitlab`, `circleci` or `buildkite`.
    pub provider: String,
    /// The token (a JWT).
    pub token: String,
}

/// Finds the CI job's OIDC token; `null` outside CI or without one.
#[napi]
pub async fn detect_ci_token(options: Option<DetectOptions>) -> Option<DetectedToken> {
    let audience = options.unwrap_or_default().audience;
    detect_token(audience).await.map(|found| DetectedToken {
        provider: found.provider.as_str().to_owned(),
        token: found.token,
    })
}

/// The process environment's CI token, asking for `audience` when given.
pub(crate) async fn detect_token(audience: Option<String>) -> Option<CiToken> {
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    if let Some(audience) = audience {
        vars.push(("DEPOT_OIDC_AUDIENCE".into(), audience));
    }
    detect(&CiEnv::from_vars(vars)).await
}
