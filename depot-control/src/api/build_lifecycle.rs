//! A running build's life after `CreateBuild`: its builder (`GetBuildKitConnection`), its
//! client's health (`ReportBuildHealth`, and the reaper that fails builds whose client went
//! away), its steps (`ReportStatusStream`), and the release of its builder when it ends.

use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::Response;

use super::step_logs::LineSplitter;
use super::{ControlPlane, timestamp};
use crate::auth::Access;
use crate::builders::{BuilderArch, BuilderConnection, BuilderRequest};
use crate::connect::{decode_stream, stream_error_response, stream_response};
use crate::store::{self, BuildStep, now_ms};
use depot_core::connect::{Code, ConnectError};
use depot_core::proto::depot::cli::v1::{
    self as api, BuildStatus, BuilderPlatform, get_build_kit_connection_response as connection,
};
use depot_core::proto::moby::buildkit::v1::StatusResponse;

/// Most steps kept per build.
pub const MAX_STEPS_PER_BUILD: i64 = 10_000;
/// Longest step name kept (longer names are cut).
const MAX_STEP_NAME: usize = 1024;

impl ControlPlane {
    pub(super) async fn get_build_kit_connection(
        &self,
        principal: crate::auth::Principal,
        request: api::GetBuildKitConnectionRequest,
    ) -> Result<api::GetBuildKitConnectionResponse, ConnectError> {
        let build = self
            .authorize_build(&principal, &request.build_id, Access::Write)
            .await?;
        require_running(&build)?;
        let builders = self.builders.as_ref().ok_or_else(|| {
            ConnectError::new(
                Code::Unavailable,
                "this depot-server has no builders: start it with --builder engines (a Docker \
                 Engine per project; needs root) or --builder local, or --remote-builder \
                 tcp://<buildkitd>",
            )
        })?;
        let arch = match BuilderPlatform::try_from(request.platform) {
            Ok(BuilderPlatform::Arm64) => BuilderArch::Arm64,
            Ok(BuilderPlatform::Amd64) => BuilderArch::Amd64,
            _ => BuilderArch::host().unwrap_or(BuilderArch::Amd64),
        };
        // Liveness comes from health reports, which clients send while they wait; no write
        // here keeps acquisition fast.
        let expires_at = UNIX_EPOCH
            + Duration::from_millis(build.created_at.max(0) as u64)
            + self.config.build_token_ttl;
        let settings = self.builder_settings(&build.project_id).await?;
        let answer = builders
            .connect(BuilderRequest {
                build_id: build.id.clone(),
                project_id: build.project_id.clone(),
                arch,
                expires_at,
                isolated: build.isolated != 0,
                cache_policy: settings.cache_policy,
                org_id: settings.org_id,
                builds_per_builder: settings.builds_per_builder,
                max_builders: settings.max_builders,
            })
            .await?;
        let connection = match answer {
            BuilderConnection::Pending { retry_after } => {
                connection::Connection::Pending(connection::PendingConnection {
                    wait_ms: retry_after.as_millis().clamp(1, i32::MAX as u128) as i32,
                })
            }
            BuilderConnection::Active(active) => {
                // The build record keeps which builder runs each of its platforms.
                self.store
                    .record_build_builder(&build.id, arch.as_str(), &active.endpoint)
                    .await?;
                let (cert, ca_cert) = match (active.client_cert, active.ca_cert_pem) {
                    (Some(pair), Some(ca)) => (
                        Some(api::Cert {
                            cert: pair.cert_pem,
                            key: pair.key_pem,
                        }),
                        Some(api::Cert {
                            cert: ca,
                            key: String::new(),
                        }),
                    ),
                    _ => (None, None),
                };
                connection::Connection::Active(connection::ActiveConnection {
                    endpoint: active.endpoint,
                    server_name: active.server_name,
                    cert,
                    ca_cert,
                    compressor: Some(connection::active_connection::Compressor::Identity(
                        connection::active_connection::Identity {},
                    )),
                })
            }
        };
        Ok(api::GetBuildKitConnectionResponse {
            connection: Some(connection),
        })
    }

    /// Health report: keeps the build alive. `cancels_at` tells the client to stop: when an
    /// operator canceled the build, or when it already ended (timed out, finished elsewhere).
    pub(super) async fn report_build_health(
        &self,
        principal: crate::auth::Principal,
        request: api::ReportBuildHealthRequest,
    ) -> Result<api::ReportBuildHealthResponse, ConnectError> {
        let build = self
            .authorize_build(&principal, &request.build_id, Access::Write)
            .await?;
        let cancels_at = if build.status == BuildStatus::Running as i64 {
            self.store.touch_build(&build.id).await?;
            build.cancel_requested_at
        } else {
            build.finished_at.or(Some(build.created_at))
        };
        Ok(api::ReportBuildHealthResponse {
            cancels_at: cancels_at.map(timestamp),
        })
    }

    /// `ReportStatusStream`: BuildKit status batches from the client, kept as the build's
    /// steps and their logs. Every message must name the same build.
    pub(super) async fn report_status_stream(&self, headers: &HeaderMap, body: Body) -> Response {
        let principal = match self.auth.authenticate(headers).await {
            Ok(principal) => principal,
            Err(err) => return stream_error_response(&err),
        };
        let mut messages = match decode_stream::<api::ReportStatusStreamRequest>(headers, body) {
            Ok(messages) => messages,
            Err(err) => return stream_error_response(&err),
        };
        let result = async {
            let mut build: Option<store::Build> = None;
            let mut lines = LineSplitter::default();
            while let Some(message) = messages.message().await? {
                let build = match &build {
                    Some(b) if b.id == message.build_id => b,
                    Some(b) => {
                        return Err(ConnectError::invalid_argument(format!(
                            "this stream reports build {}, not {}",
                            b.id, message.build_id
                        )));
                    }
                    None => build.insert(
                        self.authorize_build(&principal, &message.build_id, Access::Write)
                            .await?,
                    ),
                };
                // The server's own view of the solves (on its builders) has the same logs.
                let has_logs = message.statuses.iter().any(|s| !s.logs.is_empty());
                let keep_logs = has_logs && !self.store.status_observed(&build.id).await?;
                self.record_statuses(
                    &build.id,
                    &message.statuses,
                    keep_logs.then_some(&mut lines),
                )
                .await?;
                self.store.touch_build(&build.id).await?;
            }
            if let Some(build) = &build {
                self.keep_step_logs(&build.id, &lines.flush()).await?;
            }
            Ok(api::ReportStatusStreamResponse {})
        };
        let result = result.await;
        stream_response(futures_util::stream::once(async move { result }))
    }

    /// Ends a build (if it is still running) and releases its builder either way.
    pub(super) async fn end_build(
        &self,
        build_id: &str,
        status: BuildStatus,
        error: Option<&str>,
    ) -> Result<bool, ConnectError> {
        let ended = self
            .store
            .finish_build(build_id, status as i64, error)
            .await?;
        if let Some(builders) = &self.builders {
            builders.release(build_id, error).await;
        }
        Ok(ended)
    }

    /// Ends running builds whose client stopped reporting health for longer than
    /// `build_health_timeout` (failed), or that an operator canceled and whose client did not
    /// stop within that time (canceled), and releases their builders. Returns their ids.
    pub async fn expire_stale_builds(&self) -> Result<Vec<String>, ConnectError> {
        let timeout = self.config.build_health_timeout;
        let before = now_ms() - timeout.as_millis() as i64;
        let stale = self.store.stale_builds(before).await?;
        let mut ended = Vec::new();
        for build_id in stale {
            let Some(build) = self.store.get_build(&build_id).await? else {
                continue;
            };
            let (status, error) = if build.cancel_requested_at.is_some() {
                (BuildStatus::Canceled, None)
            } else {
                (
                    BuildStatus::Failed,
                    Some(format!(
                        "the build's client stopped reporting health for {} s; its builder was \
                         released",
                        timeout.as_secs_f64()
                    )),
                )
            };
            if self.end_build(&build_id, status, error.as_deref()).await? {
                tracing::warn!(build = %build_id, ?status, "build timed out");
                ended.push(build_id);
            }
        }
        Ok(ended)
    }

    /// Runs [`ControlPlane::expire_stale_builds`] in the background, a few times per health
    /// timeout.
    pub fn spawn_build_reaper(&self) -> tokio::task::JoinHandle<()> {
        let plane = self.clone();
        let every = (self.config.build_health_timeout / 4)
            .clamp(Duration::from_millis(250), Duration::from_secs(15));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(err) = plane.expire_stale_builds().await {
                    tracing::warn!(err = %depot_core::ErrorChain(&err), "expiring stale builds failed");
                }
            }
        })
    }
}

fn require_running(build: &store::Build) -> Result<(), ConnectError> {
    if build.status == BuildStatus::Running as i64 {
        return Ok(());
    }
    Err(ConnectError::failed_precondition(format!(
        "build {} has already ended ({}); start a new build",
        build.id,
        build.status_name()
    )))
}

/// The steps named by a batch of BuildKit statuses (vertices without a name are skipped).
pub(super) fn steps_of(statuses: &[StatusResponse]) -> Vec<BuildStep> {
    statuses
        .iter()
        .flat_map(|s| &s.vertexes)
        .filter(|v| !v.digest.is_empty() && !v.name.is_empty())
        .map(|v| BuildStep {
            digest: truncate(&v.digest, 128),
            name: truncate(&v.name, MAX_STEP_NAME),
            started_at: v.started.as_ref().map(millis),
            completed_at: v.completed.as_ref().map(millis),
            cached: i64::from(v.cached),
            error: (!v.error.is_empty()).then(|| truncate(&v.error, 4096)),
        })
        .collect()
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

pub(super) fn millis(t: &prost_types::Timestamp) -> i64 {
    t.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(t.nanos) / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use depot_core::proto::moby::buildkit::v1::Vertex;

    #[test]
    fn steps_come_from_named_vertices() {
        let status = StatusResponse {
            vertexes: vec![
                Vertex {
                    digest: "sha256:a".into(),
                    name: "[1/2] RUN make".into(),
                    cached: true,
                    started: Some(prost_types::Timestamp {
                        seconds: 2,
                        nanos: 5_000_000,
                    }),
                    ..Default::default()
                },
                Vertex {
                    digest: "sha256:b".into(),
                    ..Default::default()
                },
                Vertex {
                    digest: "sha256:c".into(),
                    name: "é".repeat(MAX_STEP_NAME),
                    error: "exit code: 1".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let steps = steps_of(&[status]);
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].started_at, Some(2005));
        assert_eq!(steps[0].cached, 1);
        assert!(steps[1].name.len() <= MAX_STEP_NAME);
        assert_eq!(steps[1].error.as_deref(), Some("exit code: 1"));
    }
}
