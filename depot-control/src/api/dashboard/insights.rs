//! A project's insights: duration and cache hit rate of its recent builds (the trend chart),
//! the steps that take longest when they run, and what its builders cache.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;

use super::layout::page;
use super::pages::failure;
use super::session::{Viewer, to_sign_in};
use super::trend::trend;
use crate::api::ControlPlane;
use crate::auth::Access;
use crate::store::now_ms;
use depot_core::connect::ConnectError;

/// Builds the trend covers.
const TREND_BUILDS: i64 = 60;
/// Steps listed as slowest.
const SLOWEST: i64 = 10;
/// How far back the slowest steps look.
const SLOWEST_WINDOW_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// `GET /projects/<id>/insights`.
pub(super) async fn insights(
    State(plane): State<ControlPlane>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(viewer) = plane.viewer(&headers).await else {
        return to_sign_in(&format!("/projects/{project_id}/insights"));
    };
    match plane.insights_view(&viewer, &project_id).await {
        Ok(response) => response,
        Err(err) => failure(&viewer, &err),
    }
}

impl ControlPlane {
    async fn insights_view(
        &self,
        viewer: &Viewer,
        project_id: &str,
    ) -> Result<Response, ConnectError> {
        let project = viewer
            .principal
            .authorize_project(&self.store, project_id, Access::Read)
            .await?;
        let builds = self.store.build_trend(&project.id, TREND_BUILDS).await?;
        let slowest = self
            .store
            .slowest_steps(&project.id, now_ms() - SLOWEST_WINDOW_MS, SLOWEST)
            .await?;
        // A builder shared by several projects cannot say what one project caches.
        let cache = match &self.builders {
            Some(builders) => builders.cache_usage(&project.id).await.ok(),
            None => None,
        };
        let (steps, cached) = builds
            .iter()
            .fold((0, 0), |(s, c), b| (s + b.steps, c + b.cached));
        let body = html! {
            h1 { (project.name) " — insights" }
            p {
                a href=(format!("/projects/{}/builds", project.id)) { "Builds" } " · "
                a href=(format!("/projects/{}/tokens", project.id)) { "Project tokens" }
            }
            h2 { "Build time and cache hits, last " (builds.len()) " builds" }
            @if builds.is_empty() {
                p.muted { "No builds yet." }
            } @else {
                p.muted {
                    "Bars: each build's duration (red: failed or canceled). Line: its share of cached steps. "
                    "Overall " (if steps > 0 { cached * 100 / steps } else { 0 }) "% of steps came from the cache."
                }
                (trend(&builds))
            }
            h2 { "Slowest steps, last 30 days" }
            @if slowest.is_empty() {
                p.muted { "No step has run yet." }
            } @else {
                table.slowest {
                    thead { tr { th { "Step" } th { "Runs" } th { "Average" } th { "Longest" } } }
                    tbody {
                        @for step in &slowest {
                            tr {
                                td { (step.name) }
                                td { (step.runs) }
                                td { (format!("{:.1} s", step.average_ms as f64 / 1000.0)) }
                                td { (format!("{:.1} s", step.longest_ms as f64 / 1000.0)) }
                            }
                        }
                    }
                }
            }
            h2 { "Cache" }
            @match &cache {
                Some(usage) if !usage.is_empty() => {
                    table {
                        thead { tr { th { "Builder" } th { "Cached" } th { "Entries" } } }
                        tbody {
                            @for builder in usage {
                                tr {
                                    td { (builder.arch.as_str()) }
                                    td { (format!("{:.1} MB", builder.bytes as f64 / 1e6)) }
                                    td { (builder.entries) }
                                }
                            }
                        }
                    }
                }
                Some(_) => p.muted { "Nothing cached yet." },
                None => p.muted { "This server's builders are shared between projects: a project's cache cannot be told apart." },
            }
        };
        Ok(page(
            &format!("{} insights", project.name),
            Some(viewer),
            None,
            body,
        ))
    }
}
