//! The pages: the projects the viewer can see, a project's builds (paged, as `ListBuilds`
//! serves them), and a build (summary, failure, step waterfall, each step's log; reloading
//! itself while the build runs).

use std::time::{Duration, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::page;
use super::session::{Viewer, to_sign_in};
use super::waterfall::{took, waterfall};
use crate::api::ControlPlane;
use crate::api::build_lifecycle::millis;
use crate::auth::Access;
use crate::store::now_ms;
use depot_core::connect::{Code, ConnectError};
use depot_core::proto::depot::core::v1 as core_api;

/// Builds per page of a project's list.
const BUILDS_PAGE: i32 = 50;
/// Log lines shown per step (the last ones).
const LOG_LINES: i64 = 500;
/// How often a running build's page reloads itself.
const REFRESH_SECONDS: u32 = 3;

/// `GET /`: the projects the viewer can see.
pub(super) async fn projects(State(plane): State<ControlPlane>, headers: HeaderMap) -> Response {
    let Some(viewer) = plane.viewer(&headers).await else {
        return to_sign_in("/");
    };
    let projects = match viewer.principal.visible_projects(&plane.store).await {
        Ok(projects) => projects,
        Err(err) => return failure(&viewer, &err),
    };
    let body = html! {
        h1 { "Projects" }
        @if projects.is_empty() {
            p.muted { "No projects yet: create one with `depot projects create`." }
        } @else {
            table {
                thead { tr { th { "Project" } th { "ID" } th { "Region" } } }
                tbody {
                    @for project in &projects {
                        tr {
                            td { a href=(format!("/projects/{}/builds", project.id)) { (project.name) } }
                            td { code { (project.id) } }
                            td { (project.region_id) }
                        }
                    }
                }
            }
        }
    };
    page("Projects", Some(&viewer), None, body)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct PageQuery {
    page: Option<String>,
}

/// `GET /projects/<id>/builds`: the project's builds, newest first.
pub(super) async fn builds(
    State(plane): State<ControlPlane>,
    Path(project_id): Path<String>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(viewer) = plane.viewer(&headers).await else {
        return to_sign_in(&format!("/projects/{project_id}/builds"));
    };
    let project = match viewer
        .principal
        .authorize_project(&plane.store, &project_id, Access::Read)
        .await
    {
        Ok(project) => project,
        Err(err) => return failure(&viewer, &err),
    };
    let listed = plane
        .list_build_summaries(
            viewer.principal.clone(),
            core_api::ListBuildsRequest {
                project_id: project.id.clone(),
                page_size: Some(BUILDS_PAGE),
                page_token: query.page.clone(),
            },
        )
        .await;
    let listed = match listed {
        Ok(listed) => listed,
        Err(err) => return failure(&viewer, &err),
    };
    let body = html! {
        h1 { (project.name) " — builds" }
        p {
            a href=(format!("/projects/{}/insights", project.id)) { "Insights" } " · "
            a href=(format!("/projects/{}/tokens", project.id)) { "Project tokens" }
        }
        @if listed.builds.is_empty() {
            p.muted { "No builds yet." }
        } @else {
            table {
                thead { tr {
                    th { "Build" } th { "Status" } th { "Created" } th { "Duration" }
                    th { "Cache hits" } th { "Time saved" }
                } }
                tbody {
                    @for build in &listed.builds {
                        tr {
                            td { a href=(format!("/builds/{}", build.build_id)) { code { (build.build_id) } } }
                            td { (status_badge(status_name(build.status))) }
                            td { (time(build.created_at.as_ref().map(millis))) }
                            td { (seconds(build.build_duration_seconds)) }
                            td { (cache_hits(build.cached_steps, build.total_steps)) }
                            td { (seconds(build.saved_duration_seconds)) }
                        }
                    }
                }
            }
        }
        @if !listed.next_page_token.is_empty() {
            p.pager {
                a href=(format!("/projects/{}/builds?page={}", project.id, listed.next_page_token)) { "Older builds →" }
            }
        }
    };
    page(
        &format!("{} builds", project.name),
        Some(&viewer),
        None,
        body,
    )
}

/// `GET /builds/<id>`: the build page for a signed-in viewer; for an API client presenting a
/// token (`Authorization: Bearer`), the build's plain-text summary.
pub(in crate::api) async fn build_page(
    State(plane): State<ControlPlane>,
    Path(build_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if headers.contains_key(header::AUTHORIZATION) {
        let response = plane.plain_summary(&headers, &build_id).await;
        return super::protect(response).await;
    }
    let Some(viewer) = plane.viewer(&headers).await else {
        return super::protect(to_sign_in(&format!("/builds/{build_id}"))).await;
    };
    let response = match plane.build_view(&viewer, &build_id).await {
        Ok(response) => response,
        Err(err) => failure(&viewer, &err),
    };
    super::protect(response).await
}

impl ControlPlane {
    /// The build page's content.
    async fn build_view(&self, viewer: &Viewer, build_id: &str) -> Result<Response, ConnectError> {
        let build = self
            .authorize_build(&viewer.principal, build_id, Access::Read)
            .await?;
        let steps = self.store.build_steps(&build.id).await?;
        let with_logs = self.store.steps_with_logs(&build.id).await?;
        let builders = self.store.build_builders(&build.id).await?;
        let saved = self.store.build_time_saved(&build).await?;
        let mut logs = Vec::new();
        for step in steps.iter().filter(|s| with_logs.contains(&s.digest)) {
            let lines = self
                .store
                .last_step_logs(&build.id, &step.digest, LOG_LINES)
                .await?;
            logs.push((step.digest.clone(), lines));
        }
        let status = build.status_name();
        let running = status == "running";
        let cached = steps.iter().filter(|s| s.cached == 1).count();
        let failed_step = steps.iter().find(|s| s.error.is_some());
        let log_of = |digest: &str| logs.iter().find(|(d, _)| d == digest).map(|(_, l)| l);
        let body = html! {
            h1 { "Build " code { (build.id) } " " (status_badge(&status)) }
            dl.facts {
                dt { "Project" } dd { a href=(format!("/projects/{}/builds", build.project_id)) { code { (build.project_id) } } }
                dt { "Created" } dd { (time(Some(build.created_at))) }
                dt { "Duration" } dd { (duration(build.finished_at.unwrap_or_else(now_ms) - build.created_at)) @if running { " (running)" } }
                dt { "Steps" } dd { (steps.len()) " (" (cached) " cached)" }
                dt { "Time saved" } dd { (duration(saved)) }
                @for (arch, endpoint) in &builders {
                    dt { "Builder " (arch) } dd { code { (endpoint) } }
                }
            }
            @if let Some(error) = &build.error {
                section.failure role="alert" {
                    h2 { "Failed" @if let Some(step) = failed_step { ": " (step.name) } }
                    pre { (error) }
                    @if let Some(lines) = failed_step.and_then(|s| log_of(&s.digest)) {
                        pre.log { @for line in lines { (line.message) "\n" } }
                    }
                }
            }
            h2 { "Steps" }
            (waterfall(&steps))
            table.steps {
                thead { tr { th { "Step" } th { "Took" } } }
                tbody {
                    @for step in &steps {
                        tr {
                            td {
                                span class=(if step.cached == 1 { "cached" } else { "" }) { (step.name) }
                                @if let Some(error) = &step.error { div.error { (error) } }
                                @if let Some(lines) = log_of(&step.digest) {
                                    details {
                                        summary { "Log (" (lines.len()) " lines)" }
                                        pre.log { @for line in lines { (line.message) "\n" } }
                                    }
                                }
                            }
                            td { (took(step)) }
                        }
                    }
                }
            }
        };
        let refresh = running.then_some(REFRESH_SECONDS);
        Ok(page(
            &format!("Build {}", build.id),
            Some(viewer),
            refresh,
            body,
        ))
    }

    /// The plain-text summary, for a caller whose token may read the build.
    async fn plain_summary(&self, headers: &HeaderMap, build_id: &str) -> Response {
        let result = async {
            let principal = self.auth.authenticate(headers).await?;
            let build = self
                .authorize_build(&principal, build_id, Access::Read)
                .await?;
            let steps = self.store.build_steps(&build.id).await?;
            let builders = self.store.build_builders(&build.id).await?;
            Ok::<_, ConnectError>(crate::api::build_page::render(&build, &builders, &steps))
        };
        match result.await {
            Ok(text) => {
                ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
            }
            Err(err) => (http_status(&err), format!("{}\n", err.message())).into_response(),
        }
    }
}

/// A page saying what went wrong (not found, not allowed, storage).
pub(super) fn failure(viewer: &Viewer, err: &ConnectError) -> Response {
    let body = html! {
        h1 { "Cannot show this page" }
        p.error { (err.message()) }
        p { a href="/" { "Back to your projects" } }
    };
    (http_status(err), page("Error", Some(viewer), None, body)).into_response()
}

fn http_status(err: &ConnectError) -> StatusCode {
    match err.code() {
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn status_name(status: i32) -> &'static str {
    use core_api::build::Status;
    match Status::try_from(status) {
        Ok(Status::Running) => "running",
        Ok(Status::Success) => "success",
        Ok(Status::Failed) => "failed",
        Ok(Status::Error) => "error",
        Ok(Status::Canceled) => "canceled",
        _ => "unknown",
    }
}

fn status_badge(status: &str) -> Markup {
    // The store's `finished` is the public API's `success`.
    let status = if status == "finished" {
        "success"
    } else {
        status
    };
    html! { span class=(format!("status status-{status}")) { (status) } }
}

fn cache_hits(cached: Option<i32>, total: Option<i32>) -> String {
    match (cached, total) {
        (Some(cached), Some(total)) if total > 0 => {
            format!("{}% ({cached}/{total})", cached * 100 / total)
        }
        _ => "-".to_owned(),
    }
}

fn seconds(value: Option<i32>) -> String {
    value.map_or_else(|| "-".to_owned(), |s| duration(i64::from(s) * 1000))
}

fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

fn time(ms: Option<i64>) -> String {
    match ms {
        Some(ms) if ms >= 0 => {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms as u64))
                .to_string()
                .replace('T', " ")
                .replace('Z', " UTC")
        }
        _ => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(cache_hits(Some(3), Some(4)), "75% (3/4)");
        assert_eq!(cache_hits(Some(0), Some(0)), "-");
        assert_eq!(duration(1_250), "1.2 s");
        assert_eq!(duration(125_000), "2 min 5 s");
        assert_eq!(time(Some(0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(status_name(3), "success");
    }
}
