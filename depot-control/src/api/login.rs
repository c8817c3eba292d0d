//! The device login flow (`depot.cli.v1beta1.LoginService`): `StartLogin` opens a login and
//! returns its approve URL; `FinishLogin` streams the new user token once someone approves it,
//! either on the approve page (by presenting one of their user tokens) or through
//! `depot-server login approve`.

use std::time::Duration;

use axum::Form;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::ControlPlane;
use crate::auth::{Principal, authenticate_secret};
use crate::connect::{decode_stream, stream_error_response, stream_response};
use crate::store::{Store, now_ms};
use depot_core::connect::{Code, ConnectError};
use depot_core::proto::depot::cli::v1beta1::{
    FinishLoginRequest, FinishLoginResponse, StartLoginRequest, StartLoginResponse,
};

/// How often a waiting `FinishLogin` checks for approval.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

impl ControlPlane {
    pub(super) async fn start_login(
        &self,
        _: StartLoginRequest,
    ) -> Result<StartLoginResponse, ConnectError> {
        let login = self.store.create_login(self.config.login_ttl).await?;
        Ok(StartLoginResponse {
            approve_url: format!("{}/login/{}", self.config.public_url, login.id),
            id: login.id,
        })
    }

    pub(super) async fn finish_login(&self, headers: &HeaderMap, body: Body) -> Response {
        let request = async {
            let mut stream = decode_stream::<FinishLoginRequest>(headers, body)?;
            let request = stream.message().await?.ok_or_else(|| {
                ConnectError::invalid_argument("FinishLogin needs one request message")
            })?;
            let login = self.store.get_login(&request.id).await?.ok_or_else(|| {
                ConnectError::not_found("unknown login request: run `depot login` again")
            })?;
            Ok::<_, ConnectError>(login)
        };
        let login = match request.await {
            Ok(login) => login,
            Err(err) => return stream_error_response(&err),
        };
        let store = self.store.clone();
        let token = async move {
            loop {
                if let Some(secret) = store.deliver_login(&login.id).await? {
                    return Ok(FinishLoginResponse {
                        token: secret.expose().to_owned(),
                    });
                }
                if now_ms() >= login.expires_at {
                    return Err(ConnectError::new(
                        Code::DeadlineExceeded,
                        "the login was not approved in time: run `depot login` again",
                    ));
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        };
        stream_response(futures_util::stream::once(token))
    }
}

/// Approves a pending device login for a user, whose waiting `FinishLogin` then receives a new
/// token. Used by the approve page and by `depot-server login approve`.
pub async fn approve_login(
    store: &Store,
    login_id: &str,
    user_id: &str,
) -> Result<(), ConnectError> {
    {
        let login = store
            .get_login(login_id)
            .await?
            .ok_or_else(|| ConnectError::not_found(format!("login {login_id} not found")))?;
        if login.approved_user_id.is_some() {
            return Err(ConnectError::failed_precondition(format!(
                "login {login_id} was already approved"
            )));
        }
        if store.approve_login(login_id, user_id).await? {
            Ok(())
        } else {
            Err(ConnectError::failed_precondition(format!(
                "login {login_id} has expired: run `depot login` again"
            )))
        }
    }
}

/// `GET /login/<id>`: asks the approver for one of their user tokens.
pub(super) async fn approve_page(
    State(plane): State<ControlPlane>,
    Path(id): Path<String>,
) -> Response {
    match plane.store.get_login(&id).await {
        Ok(Some(login)) if login.approved_user_id.is_some() => page(
            StatusCode::OK,
            "Already approved",
            "<p>This login is already approved.</p>",
        ),
        Ok(Some(login)) if now_ms() < login.expires_at => page(
            StatusCode::OK,
            "Approve CLI login",
            &format!(
                "<p>A <code>depot login</code> is waiting for approval.</p>\
                 <form method=\"post\" action=\"/login/{id}\">\
                 <label>Your API token (a user token, e.g. from <code>depot-server token create --user</code>):<br>\
                 <input type=\"password\" name=\"token\" size=\"60\" autocomplete=\"off\" required></label>\
                 <p><button type=\"submit\">Approve</button></p></form>",
                id = html_escape(&login.id)
            ),
        ),
        Ok(_) => expired_page(),
        Err(err) => {
            tracing::error!(err = %depot_core::ErrorChain(&err), "storage failure");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "<p>The server's database failed.</p>",
            )
        }
    }
}

/// The approve form's fields.
#[derive(serde::Deserialize)]
pub(super) struct ApproveForm {
    token: String,
}

/// `POST /login/<id>`: approves the login for the owner of the presented user token.
pub(super) async fn approve_submit(
    State(plane): State<ControlPlane>,
    Path(id): Path<String>,
    Form(form): Form<ApproveForm>,
) -> Response {
    let user_id = match authenticate_secret(&plane.store, form.token.trim()).await {
        Ok(Principal::User { user_id }) => user_id,
        Ok(_) => {
            return page(
                StatusCode::FORBIDDEN,
                "Not a user token",
                "<p>Only a user token can approve a login: organization, project, build and pull tokens cannot.</p>",
            );
        }
        Err(err) => {
            return page(
                StatusCode::UNAUTHORIZED,
                "Invalid token",
                &format!("<p>{}</p>", html_escape(err.message())),
            );
        }
    };
    match approve_login(&plane.store, &id, &user_id).await {
        Ok(()) => page(
            StatusCode::OK,
            "Login approved",
            "<p>The CLI is now logged in. You can close this window.</p>",
        ),
        Err(err) if err.code() == Code::NotFound => expired_page(),
        Err(err) => page(
            StatusCode::CONFLICT,
            "Cannot approve",
            &format!("<p>{}</p>", html_escape(err.message())),
        ),
    }
}

fn expired_page() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Login not found",
        "<p>This login request does not exist or has expired. Run <code>depot login</code> again.</p>",
    )
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title} · depot-server</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\"><h1>{title}</h1>{body}</body></html>"
    );
    (status, Html(html)).into_response()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
