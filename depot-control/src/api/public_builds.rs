//! Depot's public build API (v1), for clients that drive BuildKit themselves (Depot's Go SDK)
//! or hand the build to the CLI (its Node SDK): `depot.build.v1.BuildService` (register and
//! finish a build, its steps), `depot.buildkit.v1.BuildKitService` (the build's BuildKit
//! endpoint, health, release; with the build's own token) and `depot.core.v1.BuildService`
//! (build summaries). Each is the CLI API's operation under another shape.

use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::Response;

use super::{ControlPlane, timestamp};
use crate::auth::{Access, Principal};
use crate::connect::{decode_stream, stream_error_response, stream_response};
use crate::store;
use depot_core::connect::{Code, ConnectError};
use depot_core::proto::depot::build::v1 as build_api;
use depot_core::proto::depot::buildkit::v1 as buildkit_api;
use depot_core::proto::depot::cli::v1::{
    self as cli, BuildStatus, BuilderPlatform, get_build_kit_connection_response as cli_connection,
};
use depot_core::proto::depot::core::v1 as core_api;

use build_api::get_build_steps_response::{BuildStep, build_step::CacheState};
use buildkit_api::get_endpoint_response::{ActiveConnection, Connection, PendingConnection};

/// Longest wait between two pending answers of `GetEndpoint`.
const MAX_PENDING_WAIT: Duration = Duration::from_secs(2);
/// Steps returned per `GetBuildSteps` page when the request does not say.
const DEFAULT_STEPS_PAGE: i32 = 100;

impl ControlPlane {
    /// `depot.build.v1.BuildService/CreateBuild`: a build of the project, and its token.
    pub(super) async fn create_public_build(
        &self,
        principal: Principal,
        request: build_api::CreateBuildRequest,
    ) -> Result<build_api::CreateBuildResponse, ConnectError> {
        if request.project_id.is_empty() {
            return Err(ConnectError::invalid_argument("project_id is required"));
        }
        let created = self
            .create_build(
                principal,
                cli::CreateBuildRequest {
                    project_id: Some(request.project_id),
                    ..Default::default()
                },
            )
            .await?;
        Ok(build_api::CreateBuildResponse {
            build_id: created.build_id,
            build_token: created.build_token,
        })
    }

    /// `depot.build.v1.BuildService/FinishBuild`.
    pub(super) async fn finish_public_build(
        &self,
        principal: Principal,
        request: build_api::FinishBuildRequest,
    ) -> Result<build_api::FinishBuildResponse, ConnectError> {
        use build_api::finish_build_request::Result as Outcome;
        use cli::finish_build_request as cli_finish;
        let result = match request.result {
            Some(Outcome::Success(_)) => cli_finish::Result::Success(cli_finish::BuildSuccess {}),
            Some(Outcome::Error(error)) => {
                cli_finish::Result::Error(cli_finish::BuildError { error: error.error })
            }
            None => {
                return Err(ConnectError::invalid_argument(
                    "FinishBuild needs a result: success or error",
                ));
            }
        };
        self.finish_build(
            principal,
            cli::FinishBuildRequest {
                build_id: request.build_id,
                result: Some(result),
            },
        )
        .await?;
        Ok(build_api::FinishBuildResponse {})
    }

    /// `depot.build.v1.BuildService/GetBuildSteps`: the steps the build's client reported, in
    /// the order they started, paged.
    pub(super) async fn get_build_steps(
        &self,
        principal: Principal,
        request: build_api::GetBuildStepsRequest,
    ) -> Result<build_api::GetBuildStepsResponse, ConnectError> {
        let build = self
            .readable_build_in(&principal, &request.build_id, &request.project_id)
            .await?;
        let page_size = match request.page_size.unwrap_or(DEFAULT_STEPS_PAGE) {
            n if (1..=super::builds::MAX_PAGE_SIZE).contains(&n) => n as usize,
            n => {
                return Err(ConnectError::invalid_argument(format!(
                    "page_size {n} is out of range 1-{}",
                    super::builds::MAX_PAGE_SIZE
                )));
            }
        };
        let offset = match request.page_token.as_deref() {
            None | Some("") => 0,
            Some(token) => token
                .parse::<usize>()
                .map_err(|_| ConnectError::invalid_argument("invalid page_token"))?,
        };
        let steps = self.store.build_steps(&build.id).await?;
        let with_logs = self.store.steps_with_logs(&build.id).await?;
        let next_page_token =
            (steps.len() > offset + page_size).then(|| (offset + page_size).to_string());
        let build_steps = steps
            .into_iter()
            .skip(offset)
            .take(page_size)
            .map(|step| BuildStep {
                started_at: step.started_at.map(timestamp),
                completed_at: step.completed_at.map(timestamp),
                cache_state: if step.cached != 0 {
                    CacheState::Cached
                } else {
                    CacheState::Uncached
                } as i32,
                error: step.error,
                has_logs: with_logs.contains(&step.digest),
                name: step.name,
                digest: step.digest,
            })
            .collect();
        Ok(build_api::GetBuildStepsResponse {
            build_steps,
            next_page_token,
        })
    }

    /// `depot.buildkit.v1.BuildKitService/GetEndpoint`: pending answers while the build's
    /// builder starts, then its endpoint with the build's client certificate.
    pub(super) async fn get_endpoint(&self, headers: &HeaderMap, body: Body) -> Response {
        let opened = async {
            let principal = self.build_principal(headers).await?;
            let mut requests = decode_stream::<buildkit_api::GetEndpointRequest>(headers, body)?;
            let request = requests
                .message()
                .await?
                .ok_or_else(|| ConnectError::invalid_argument("GetEndpoint needs a request"))?;
            Ok::<_, ConnectError>((principal, request))
        };
        let (principal, request) = match opened.await {
            Ok(opened) => opened,
            Err(err) => return stream_error_response(&err),
        };
        let plane = self.clone();
        let answers = futures_util::stream::unfold(Some(()), move |state| {
            let (plane, principal, request) = (plane.clone(), principal.clone(), request.clone());
            async move {
                state?;
                let asked = cli::GetBuildKitConnectionRequest {
                    build_id: request.build_id.clone(),
                    platform: cli_platform(request.platform) as i32,
                };
                let answer = plane.get_build_kit_connection(principal, asked).await;
                let connection = match answer.map(|a| a.connection) {
                    Err(err) => return Some((Err(err), None)),
                    Ok(Some(cli_connection::Connection::Active(active))) => {
                        return Some((Ok(active_answer(active)), None));
                    }
                    Ok(Some(cli_connection::Connection::Pending(pending))) => pending,
                    Ok(None) => return Some((Err(ConnectError::internal("no connection")), None)),
                };
                let wait = Duration::from_millis(connection.wait_ms.max(1) as u64);
                tokio::time::sleep(wait.min(MAX_PENDING_WAIT)).await;
                let pending = buildkit_api::GetEndpointResponse {
                    connection: Some(Connection::Pending(PendingConnection {})),
                };
                Some((Ok(pending), Some(())))
            }
        });
        stream_response(answers)
    }

    /// `depot.buildkit.v1.BuildKitService/ReportHealth`: each message keeps the build alive;
    /// the stream ends `canceled` once the build was canceled or ended.
    pub(super) async fn report_health(&self, headers: &HeaderMap, body: Body) -> Response {
        let result = async {
            let principal = self.build_principal(headers).await?;
            let mut requests = decode_stream::<buildkit_api::ReportHealthRequest>(headers, body)?;
            while let Some(request) = requests.message().await? {
                let reported = self
                    .report_build_health(
                        principal.clone(),
                        cli::ReportBuildHealthRequest {
                            build_id: request.build_id.clone(),
                            ..Default::default()
                        },
                    )
                    .await?;
                if reported.cancels_at.is_some() {
                    return Err(ConnectError::new(
                        Code::Canceled,
                        format!("build {} was canceled or has ended", request.build_id),
                    ));
                }
            }
            Ok(buildkit_api::ReportHealthResponse {})
        };
        let result = result.await;
        stream_response(futures_util::stream::once(async move { result }))
    }

    /// `depot.buildkit.v1.BuildKitService/ReleaseEndpoint`: the build's builders are released
    /// (every platform's: builders are held per build); the build itself stays running until
    /// `FinishBuild`.
    pub(super) async fn release_endpoint(
        &self,
        principal: Principal,
        request: buildkit_api::ReleaseEndpointRequest,
    ) -> Result<buildkit_api::ReleaseEndpointResponse, ConnectError> {
        require_build_token(&principal)?;
        let build = self
            .authorize_build(&principal, &request.build_id, Access::Write)
            .await?;
        if let Some(builders) = &self.builders {
            builders.release(&build.id, None).await;
        }
        Ok(buildkit_api::ReleaseEndpointResponse {})
    }

    /// `depot.core.v1.BuildService/GetBuild`.
    pub(super) async fn get_build_summary(
        &self,
        principal: Principal,
        request: core_api::GetBuildRequest,
    ) -> Result<core_api::GetBuildResponse, ConnectError> {
        let build = self
            .authorize_build(&principal, &request.build_id, Access::Read)
            .await?;
        Ok(core_api::GetBuildResponse {
            build: Some(self.summary(build).await?),
        })
    }

    /// `depot.core.v1.BuildService/ListBuilds`: newest first, paged as the CLI API pages.
    pub(super) async fn list_build_summaries(
        &self,
        principal: Principal,
        request: core_api::ListBuildsRequest,
    ) -> Result<core_api::ListBuildsResponse, ConnectError> {
        let listed = self
            .list_builds(
                principal,
                cli::ListBuildsRequest {
                    project_id: request.project_id,
                    page_size: request.page_size.unwrap_or(0),
                    page_token: request.page_token.unwrap_or_default(),
                },
            )
            .await?;
        let mut builds = Vec::new();
        for listed in listed.builds {
            if let Some(build) = self.store.get_build(&listed.id).await? {
                builds.push(self.summary(build).await?);
            }
        }
        Ok(core_api::ListBuildsResponse {
            builds,
            next_page_token: listed.next_page_token,
        })
    }

    /// A build as the public API shows it: status, timings, its steps counted.
    async fn summary(&self, build: store::Build) -> Result<core_api::Build, ConnectError> {
        use core_api::build::Status;
        let steps = self.store.build_steps(&build.id).await?;
        let status = match BuildStatus::try_from(build.status as i32) {
            Ok(BuildStatus::Running) => Status::Running,
            Ok(BuildStatus::Finished) => Status::Success,
            Ok(BuildStatus::Failed) => Status::Failed,
            Ok(BuildStatus::Canceled) => Status::Canceled,
            _ => Status::Unspecified,
        };
        let started_at = steps.iter().filter_map(|s| s.started_at).min();
        let seconds = |ms: i64| i32::try_from(ms.max(0) / 1000).unwrap_or(i32::MAX);
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(core_api::Build {
            status: status as i32,
            created_at: Some(timestamp(build.created_at)),
            started_at: Some(timestamp(started_at.unwrap_or(build.created_at))),
            finished_at: build.finished_at.map(timestamp),
            build_duration_seconds: build
                .finished_at
                .map(|finished| seconds(finished - build.created_at)),
            saved_duration_seconds: Some(seconds(self.store.build_time_saved(&build).await?)),
            cached_steps: Some(count(steps.iter().filter(|s| s.cached != 0).count())),
            total_steps: Some(count(steps.len())),
            build_id: build.id,
        })
    }

    /// A build `principal` may read, which must belong to `project_id` when one is given
    /// (the public API's build requests name both).
    pub(super) async fn readable_build_in(
        &self,
        principal: &Principal,
        build_id: &str,
        project_id: &str,
    ) -> Result<store::Build, ConnectError> {
        let build = self
            .authorize_build(principal, build_id, Access::Read)
            .await?;
        if !project_id.is_empty() && project_id != build.project_id {
            return Err(ConnectError::not_found(format!(
                "build {build_id} not found in project {project_id}"
            )));
        }
        Ok(build)
    }

    /// The caller of a `BuildKitService` procedure: only a build's own token.
    async fn build_principal(&self, headers: &HeaderMap) -> Result<Principal, ConnectError> {
        let principal = self.auth.authenticate(headers).await?;
        require_build_token(&principal)?;
        Ok(principal)
    }
}

fn require_build_token(principal: &Principal) -> Result<(), ConnectError> {
    match principal {
        Principal::Build { .. } => Ok(()),
        _ => Err(ConnectError::permission_denied(
            "BuildKitService takes the build token that CreateBuild returned",
        )),
    }
}

fn cli_platform(platform: i32) -> BuilderPlatform {
    match buildkit_api::Platform::try_from(platform) {
        Ok(buildkit_api::Platform::Amd64) => BuilderPlatform::Amd64,
        Ok(buildkit_api::Platform::Arm64) => BuilderPlatform::Arm64,
        _ => BuilderPlatform::Unspecified,
    }
}

fn active_answer(active: cli_connection::ActiveConnection) -> buildkit_api::GetEndpointResponse {
    let cert = active.cert.map(|pair| buildkit_api::CertificatePair {
        cert: Some(buildkit_api::PublicCertificate { cert: pair.cert }),
        key: Some(buildkit_api::PrivateKey { key: pair.key }),
    });
    let ca_cert = active
        .ca_cert
        .map(|ca| buildkit_api::PublicCertificate { cert: ca.cert });
    buildkit_api::GetEndpointResponse {
        connection: Some(Connection::Active(ActiveConnection {
            endpoint: active.endpoint,
            server_name: active.server_name,
            cert,
            ca_cert,
        })),
    }
}
