//! A project's tokens: listed, created (the secret shown once, on the answer to the form, never
//! again) and revoked, through the same calls as `ListTokens`, `CreateToken` and `DeleteToken`
//! (organization and user tokens only).

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::page;
use super::pages::failure;
use super::session::{Viewer, csrf_matches, redirect, same_origin, to_sign_in};
use crate::api::ControlPlane;
use crate::auth::Access;
use depot_core::connect::ConnectError;
use depot_core::proto::depot::core::v1 as core_api;

/// Longest token description taken.
const MAX_DESCRIPTION: usize = 200;

/// `GET /projects/<id>/tokens`.
pub(super) async fn list(
    State(plane): State<ControlPlane>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(viewer) = plane.viewer(&headers).await else {
        return to_sign_in(&format!("/projects/{project_id}/tokens"));
    };
    match plane.tokens_view(&viewer, &project_id, None).await {
        Ok(response) => response,
        Err(err) => failure(&viewer, &err),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct CreateForm {
    csrf: String,
    description: String,
}

/// `POST /projects/<id>/tokens`: creates a token and shows its secret, once.
pub(super) async fn create(
    State(plane): State<ControlPlane>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> Response {
    let Some(viewer) = plane.viewer(&headers).await else {
        return to_sign_in(&format!("/projects/{project_id}/tokens"));
    };
    if !same_origin(&plane, &headers) || !csrf_matches(&viewer, &form.csrf) {
        return forged();
    }
    let description: String = form
        .description
        .trim()
        .chars()
        .take(MAX_DESCRIPTION)
        .collect();
    let created = plane
        .create_project_token(
            viewer.principal.clone(),
            core_api::CreateTokenRequest {
                project_id: project_id.clone(),
                description,
            },
        )
        .await;
    let result = match created {
        Ok(created) => {
            plane
                .tokens_view(&viewer, &project_id, Some(&created))
                .await
        }
        Err(err) => Err(err),
    };
    match result {
        Ok(response) => response,
        Err(err) => failure(&viewer, &err),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct RevokeForm {
    csrf: String,
}

/// `POST /projects/<id>/tokens/<token-id>/revoke`.
pub(super) async fn revoke(
    State(plane): State<ControlPlane>,
    Path((project_id, token_id)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<RevokeForm>,
) -> Response {
    let Some(viewer) = plane.viewer(&headers).await else {
        return to_sign_in(&format!("/projects/{project_id}/tokens"));
    };
    if !same_origin(&plane, &headers) || !csrf_matches(&viewer, &form.csrf) {
        return forged();
    }
    let revoked = plane
        .delete_project_token(
            viewer.principal.clone(),
            core_api::DeleteTokenRequest { token_id },
        )
        .await;
    match revoked {
        Ok(_) => redirect(&format!("/projects/{project_id}/tokens")),
        Err(err) => failure(&viewer, &err),
    }
}

fn forged() -> Response {
    (
        StatusCode::FORBIDDEN,
        "invalid form token: reload the page\n",
    )
        .into_response()
}

impl ControlPlane {
    /// The tokens page, with a just-created token's secret when there is one.
    async fn tokens_view(
        &self,
        viewer: &Viewer,
        project_id: &str,
        created: Option<&core_api::CreateTokenResponse>,
    ) -> Result<Response, ConnectError> {
        let project = viewer
            .principal
            .authorize_project(&self.store, project_id, Access::Admin)
            .await?;
        let tokens = self
            .list_project_tokens(
                viewer.principal.clone(),
                core_api::ListTokensRequest {
                    project_id: project.id.clone(),
                },
            )
            .await?
            .tokens;
        let base = format!("/projects/{}/tokens", project.id);
        let body = html! {
            h1 { (project.name) " — tokens" }
            @if let Some(created) = created {
                section.created role="status" {
                    p { "A new project token. Copy it now: it is not shown again." }
                    pre { code.secret { (created.secret) } }
                }
            }
            (create_form(viewer, &base))
            @if tokens.is_empty() {
                p.muted { "No project tokens." }
            } @else {
                table.tokens {
                    thead { tr { th { "Description" } th { "ID" } th {} } }
                    tbody {
                        @for token in &tokens {
                            tr {
                                td { (token.description) }
                                td { code { (token.token_id) } }
                                td {
                                    form method="post" action=(format!("{base}/{}/revoke", token.token_id)) {
                                        input type="hidden" name="csrf" value=(viewer.csrf_token());
                                        button type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        };
        Ok(page(
            &format!("{} tokens", project.name),
            Some(viewer),
            None,
            body,
        ))
    }
}

fn create_form(viewer: &Viewer, action: &str) -> Markup {
    html! {
        form.create-token method="post" action=(action) {
            input type="hidden" name="csrf" value=(viewer.csrf_token());
            label for="description" { "New token for " }
            input #description type="text" name="description" maxlength=(MAX_DESCRIPTION) required placeholder="what it is for";
            " "
            button type="submit" { "Create token" }
        }
    }
}
