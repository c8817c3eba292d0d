//! Exchanging a CI job's OIDC token for a short-lived project token, for tools that cannot
//! present the OIDC token themselves (`docker login` in a later step, caches, scripts):
//! `depotrs.v1.OidcService/ExchangeToken` and the plain JSON route `POST /oidc/exchange`.
//!
//! Each OIDC token can be exchanged once (by its `jti`, or its hash when it has none). The
//! project token expires after [`ControlPlaneConfig::oidc_token_ttl`](super::ControlPlaneConfig)
//! or with the OIDC token, whichever is first, and is revoked when its trust policy is removed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use depot_oidc::server::looks_like_jwt;
use serde::Deserialize;

use super::{ControlPlane, timestamp};
use crate::auth::{Access, Principal, bearer_token, matching_policy};
use crate::connect::error_response;
use crate::store::NewToken;
use crate::tokens::{TokenKind, hash_secret};
use depot_core::connect::{Code, ConnectError};
use depot_core::proto::depotrs::v1 as ours;

/// A minted project token.
struct Exchanged {
    token: String,
    expires_at_ms: i64,
    project_id: String,
}

impl ControlPlane {
    pub(super) async fn exchange_token(
        &self,
        headers: &HeaderMap,
        request: ours::ExchangeTokenRequest,
    ) -> Result<ours::ExchangeTokenResponse, ConnectError> {
        let exchanged = self
            .exchange(bearer_token(headers), &request.project_id)
            .await?;
        Ok(ours::ExchangeTokenResponse {
            token: exchanged.token,
            expires_at: Some(timestamp(exchanged.expires_at_ms)),
            project_id: exchanged.project_id,
        })
    }

    async fn exchange(
        &self,
        ci_token: Option<&str>,
        project_id: &str,
    ) -> Result<Exchanged, ConnectError> {
        let ci_token = ci_token.filter(|t| looks_like_jwt(t)).ok_or_else(|| {
            ConnectError::unauthenticated(
                "the token exchange takes a CI provider's OIDC token (a JWT) as the bearer token",
            )
        })?;
        let identity = self.auth.verify_ci_token(ci_token).await?;
        let principal = Principal::Ci {
            identity: identity.clone().into(),
        };
        let project = principal
            .authorize_project(&self.store, project_id, Access::Write)
            .await?;
        let policy = matching_policy(&self.store, &project.id, &identity)
            .await?
            .ok_or_else(|| principal.denied(&format!("project {project_id}")))?;

        // The store caps the new token at the CI token's expiry; this only refuses a CI token
        // that has (next to) no life left.
        let remaining = (UNIX_EPOCH + Duration::from_secs(identity.expires_at))
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        if remaining < Duration::from_millis(1) {
            return Err(ConnectError::unauthenticated(
                "the CI token expires now; request a fresh token from the CI provider",
            ));
        }
        let token_key = identity
            .jti
            .clone()
            .unwrap_or_else(|| hash_secret(ci_token));
        let new = NewToken {
            kind: TokenKind::Project,
            description: format!("exchanged CI token: {identity}"),
            user_id: None,
            org_id: Some(project.org_id.clone()),
            project_id: Some(project.id.clone()),
            build_id: None,
            ttl: Some(self.config.oidc_token_ttl),
        };
        let (token, secret) = self
            .store
            .exchange_ci_token(
                &identity.issuer,
                &token_key,
                identity.expires_at as i64 * 1000,
                &policy.id,
                &new,
            )
            .await?
            .ok_or_else(|| {
                ConnectError::new(
                    Code::AlreadyExists,
                    "this CI token was already exchanged, and each can be exchanged once: \
                     request a fresh token from the CI provider",
                )
            })?;
        tracing::info!(project = %project.id, %identity, token_id = %token.id, "exchanged a CI token");
        Ok(Exchanged {
            token: secret.expose().to_owned(),
            expires_at_ms: token.expires_at.unwrap_or_default(),
            project_id: project.id,
        })
    }
}

/// The body of `POST /oidc/exchange`.
#[derive(Deserialize)]
pub(super) struct ExchangeBody {
    project_id: String,
    /// The OIDC token, when not sent as the bearer token.
    token: Option<String>,
}

/// `POST /oidc/exchange`: `{"project_id", "token"?}` with the OIDC token in the body or as the
/// bearer token; answers `{"token", "project_id", "expires_at" (RFC 3339), "expires_in"}` or a
/// Connect-style JSON error.
pub(super) async fn exchange_json(
    State(plane): State<ControlPlane>,
    headers: HeaderMap,
    body: Result<Json<ExchangeBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return error_response(&ConnectError::invalid_argument(format!(
                "expected a JSON body {{\"project_id\": \"…\"}}: {}",
                rejection.body_text()
            )));
        }
    };
    let ci_token = body.token.as_deref().or_else(|| bearer_token(&headers));
    match plane.exchange(ci_token, &body.project_id).await {
        Ok(exchanged) => {
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as i64;
            Json(serde_json::json!({
                "token": exchanged.token,
                "project_id": exchanged.project_id,
                "expires_at": rfc3339(exchanged.expires_at_ms),
                "expires_in": (exchanged.expires_at_ms - now_ms).max(0) / 1000,
            }))
            .into_response()
        }
        Err(err) => error_response(&err),
    }
}

/// `ms` since the epoch as an RFC 3339 UTC timestamp.
fn rfc3339(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_000_000_000_250), "2001-09-09T01:46:40.250Z");
    }
}
