//! Shared builds: `depot.core.v1.BuildService/ShareBuild` hands out a link
//! (`<public-url>/shared/builds/<secret>`) that shows the build's summary and step logs to
//! anyone holding it, until `StopSharingBuild`. The secret is random and separate from the
//! build id, so stopping sharing revokes every copy of the link.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ControlPlane;
use crate::auth::{Access, Principal};
use depot_core::connect::ConnectError;
use depot_core::proto::depot::core::v1 as core_api;

/// Lines of each step's log the shared page shows (the last ones).
const SHARED_LOG_LINES: i64 = 200;

impl ControlPlane {
    /// `ShareBuild`: the build's share link (the same one while it stays shared).
    pub(super) async fn share_build(
        &self,
        principal: Principal,
        request: core_api::ShareBuildRequest,
    ) -> Result<core_api::ShareBuildResponse, ConnectError> {
        let build = self
            .authorize_sharing(&principal, &request.build_id)
            .await?;
        let token = self
            .store
            .share_build(&build.id)
            .await?
            .ok_or_else(|| ConnectError::not_found(format!("build {} not found", build.id)))?;
        Ok(core_api::ShareBuildResponse {
            share_url: format!("{}/shared/builds/{token}", self.config.public_url),
        })
    }

    /// `StopSharingBuild`: the build's share link stops working.
    pub(super) async fn stop_sharing_build(
        &self,
        principal: Principal,
        request: core_api::StopSharingBuildRequest,
    ) -> Result<core_api::StopSharingBuildResponse, ConnectError> {
        let build = self
            .authorize_sharing(&principal, &request.build_id)
            .await?;
        self.store.stop_sharing_build(&build.id).await?;
        Ok(core_api::StopSharingBuildResponse {})
    }

    /// Sharing is for people who may run the project's builds, not for a build's own token.
    async fn authorize_sharing(
        &self,
        principal: &Principal,
        build_id: &str,
    ) -> Result<crate::store::Build, ConnectError> {
        if let Principal::Build { .. } = principal {
            return Err(ConnectError::permission_denied(
                "a build token cannot share its build; use an organization, user or project token",
            ));
        }
        self.authorize_build(principal, build_id, Access::Write)
            .await
    }
}

/// `GET /shared/builds/<secret>`: the shared build's summary, then each step's log.
pub(super) async fn page(
    State(plane): State<ControlPlane>,
    Path(secret): Path<String>,
) -> Response {
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            "no build is shared under this link (it may have been unshared)\n",
        )
            .into_response()
    };
    if secret.is_empty() || secret.len() > 64 || !secret.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return not_found();
    }
    let store = plane.store();
    let text = async {
        let Some(build) = store.shared_build(&secret).await? else {
            return Ok(None);
        };
        let steps = store.build_steps(&build.id).await?;
        let builders = store.build_builders(&build.id).await?;
        let mut text = super::build_page::render(&build, &builders, &steps);
        let with_logs = store.steps_with_logs(&build.id).await?;
        for step in steps.iter().filter(|s| with_logs.contains(&s.digest)) {
            let lines = store
                .last_step_logs(&build.id, &step.digest, SHARED_LOG_LINES)
                .await?;
            text.push_str(&format!("\nlog of {}:\n", step.name));
            for line in lines {
                text.push_str(&format!("  {}\n", line.message));
            }
        }
        Ok::<_, crate::store::StoreError>(Some(text))
    };
    let response = match text.await {
        Ok(Some(text)) => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
        }
        Ok(None) => not_found(),
        Err(err) => {
            tracing::error!(err = %depot_core::ErrorChain(&err), "reading a shared build");
            (StatusCode::INTERNAL_SERVER_ERROR, "storage error\n").into_response()
        }
    };
    super::dashboard::protect(response).await
}
