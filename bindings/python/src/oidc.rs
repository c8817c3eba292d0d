//! CI identity: finding the job's OIDC token, and exchanging it for a short-lived project token
//! (`depotrs.v1.OidcService/ExchangeToken`).

use depot_core::ErrorKind;
use std::time::UNIX_EPOCH;

use depot_core::DepotClient;
use depot_core::proto::depotrs::v1::{ExchangeTokenRequest, OidcServiceClient};
use depot_oidc::client::{CiEnv, CiToken, detect};
use pyo3::prelude::*;
use serde_json::{Value, json};

use crate::convert::Json;
use crate::errors::Failure;
use crate::runtime::awaitable;

/// The CI environment of this process, with `audience` requested instead of
/// `DEPOT_OIDC_AUDIENCE`'s when given.
fn ci_env(audience: Option<String>) -> CiEnv {
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    if let Some(audience) = audience {
        vars.push(("DEPOT_OIDC_AUDIENCE".into(), audience));
    }
    CiEnv::from_vars(vars)
}

fn token_json(ci: Option<CiToken>) -> Value {
    match ci {
        Some(ci) => json!({"provider": ci.provider.as_str(), "token": ci.token}),
        None => Value::Null,
    }
}

/// The CI job's OIDC token (`{"provider", "token"}`), or `None` outside CI.
#[pyfunction]
#[pyo3(signature = (*, audience=None))]
pub fn detect_ci_token(py: Python<'_>, audience: Option<String>) -> PyResult<Bound<'_, PyAny>> {
    let env = ci_env(audience);
    awaitable(py, async move { Ok(Json(token_json(detect(&env).await))) })
}

/// Exchanges a CI token (`token`, else the one the CI job provides) for a project token.
pub fn exchange<'py>(
    py: Python<'py>,
    api: &DepotClient,
    project_id: String,
    token: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let api = api.clone();
    awaitable(py, async move {
        let token = match token {
            Some(token) => token,
            None => {
                detect(&ci_env(None))
                    .await
                    .ok_or_else(|| {
                        Failure::message(
                            ErrorKind::Config,
                            "no CI OIDC token found: not in a CI job with OIDC, or its token is not available",
                        )
                    })?
                    .token
            }
        };
        let exchanged = OidcServiceClient::new(api.with_token(token).connect().clone())
            .exchange_token(ExchangeTokenRequest { project_id })
            .await?;
        let expires_at = exchanged.expires_at.map(|t| {
            let at = std::time::SystemTime::try_from(t).unwrap_or(UNIX_EPOCH);
            at.duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64())
        });
        Ok(Json(json!({
            "token": exchanged.token,
            "expires_at": expires_at,
            "project_id": exchanged.project_id,
        })))
    })
}
