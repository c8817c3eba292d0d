//! Signing in to the dashboard with an API token (user, organization or project: a pull,
//! build or CI token cannot), the session cookie (`HttpOnly`, `SameSite=Strict`, `Secure`
//! under TLS), CSRF tokens on state-changing forms, and signing out. A session lives
//! [`SESSION_TTL`] at most and dies with the token it was opened with.

use std::time::Duration;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::layout::page;
use crate::api::ControlPlane;
use crate::auth::{Principal, authenticate_hash};
use crate::ids::new_secret_id;
use crate::store::{Session, now_ms};
use crate::tokens::hash_secret;

/// The session cookie's name.
const COOKIE: &str = "depot_session";
/// The longest a session lives.
const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);

/// Who is looking at a page: the principal of the token they signed in with.
#[derive(Clone, Debug)]
pub(crate) struct Viewer {
    pub(crate) principal: Principal,
    csrf_token: String,
    secret_hash: String,
}

impl Viewer {
    /// The token state-changing forms of this session carry.
    pub(crate) fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

impl ControlPlane {
    /// The viewer of a request with a live session, if it has one.
    pub(super) async fn viewer(&self, headers: &HeaderMap) -> Option<Viewer> {
        let secret = session_cookie(headers)?;
        let secret_hash = hash_secret(secret);
        let session = self.store.find_session(&secret_hash).await.ok()??;
        let principal = authenticate_hash(&self.store, &session.token_hash)
            .await
            .ok()?;
        Some(Viewer {
            principal,
            csrf_token: session.csrf_token,
            secret_hash,
        })
    }
}

/// Where to send someone who is not signed in, back to `path` afterwards.
pub(super) fn to_sign_in(path: &str) -> Response {
    let next: String = url_encode(path);
    Redirect::to(&format!("/sign-in?next={next}")).into_response()
}

/// Whether a state-changing request comes from this site: its `Origin`, when the browser sends
/// one, is the server's.
pub(super) fn same_origin(plane: &ControlPlane, headers: &HeaderMap) -> bool {
    match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        None => true,
        Some(origin) => {
            let public = &plane.config.public_url;
            let public_origin = public
                .find("://")
                .and_then(|at| {
                    public[at + 3..]
                        .find('/')
                        .map(|end| &public[..at + 3 + end])
                })
                .unwrap_or(public);
            origin == public_origin || Some(origin) == host_origin(headers).as_deref()
        }
    }
}

/// `http://<Host>` and the like, for servers reached by another name than their public URL.
fn host_origin(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    Some(format!("http://{host}")).filter(|_| !host.is_empty())
}

/// Whether `presented` is the session's CSRF token (compared in constant time).
pub(super) fn csrf_matches(viewer: &Viewer, presented: &str) -> bool {
    let expected = viewer.csrf_token.as_bytes();
    let presented = presented.as_bytes();
    expected.len() == presented.len()
        && expected
            .iter()
            .zip(presented)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Next {
    next: Option<String>,
}

/// `GET /sign-in`.
pub(super) async fn sign_in_page(
    State(plane): State<ControlPlane>,
    headers: HeaderMap,
    Query(query): Query<Next>,
) -> Response {
    if plane.viewer(&headers).await.is_some() {
        return Redirect::to(&safe_next(query.next.as_deref())).into_response();
    }
    sign_in_form(query.next.as_deref(), None, StatusCode::OK)
}

fn sign_in_form(next: Option<&str>, error: Option<&str>, status: StatusCode) -> Response {
    let body = html! {
        h1 { "Sign in" }
        form.sign-in method="post" action="/sign-in" {
            p.muted {
                "Sign in with an API token: a user or organization token (`depot login` stores one), \
                 or a project token for that project only."
            }
            @if let Some(error) = error {
                p.error role="alert" { (error) }
            }
            label for="token" { "API token" }
            input #token type="password" name="token" autocomplete="off" required;
            input type="hidden" name="next" value=(safe_next(next));
            button type="submit" { "Sign in" }
        }
    };
    (status, page("Sign in", None, None, body)).into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct SignIn {
    token: String,
    next: Option<String>,
}

/// `POST /sign-in`: a session for a user, organization or project token.
pub(super) async fn sign_in(
    State(plane): State<ControlPlane>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    if !same_origin(&plane, &headers) {
        return (StatusCode::FORBIDDEN, "cross-site sign-in refused\n").into_response();
    }
    let token = form.token.trim();
    let token_hash = hash_secret(token);
    let refused = |message: &str| {
        sign_in_form(
            form.next.as_deref(),
            Some(message),
            StatusCode::UNAUTHORIZED,
        )
    };
    match authenticate_hash(&plane.store, &token_hash).await {
        Ok(Principal::User { .. } | Principal::Organization { .. } | Principal::Project { .. }) => {
        }
        Ok(_) => {
            return refused(
                "pull, build and CI tokens cannot sign in: use a user, organization or project \
                 token",
            );
        }
        Err(_) => return refused("that token is invalid, expired or revoked"),
    }
    let secret = new_secret_id();
    let session = Session {
        token_hash,
        csrf_token: new_secret_id(),
        expires_at: now_ms() + SESSION_TTL.as_millis() as i64,
    };
    if let Err(err) = plane
        .store
        .create_session(&hash_secret(&secret), &session)
        .await
    {
        tracing::error!(err = %depot_core::ErrorChain(&err), "opening a dashboard session");
        return (StatusCode::INTERNAL_SERVER_ERROR, "storage error\n").into_response();
    }
    let secure = if plane.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        SESSION_TTL.as_secs()
    );
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to(&safe_next(form.next.as_deref())),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct SignOut {
    csrf: String,
}

/// `POST /sign-out`: ends the session (with its CSRF token).
pub(super) async fn sign_out(
    State(plane): State<ControlPlane>,
    headers: HeaderMap,
    Form(form): Form<SignOut>,
) -> Response {
    let Some(viewer) = plane.viewer(&headers).await else {
        return to_sign_in("/");
    };
    if !same_origin(&plane, &headers) || !csrf_matches(&viewer, &form.csrf) {
        return (
            StatusCode::FORBIDDEN,
            "invalid form token: reload the page\n",
        )
            .into_response();
    }
    if let Err(err) = plane.store.delete_session(&viewer.secret_hash).await {
        tracing::error!(err = %depot_core::ErrorChain(&err), "closing a dashboard session");
    }
    (
        [(
            header::SET_COOKIE,
            format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
        )],
        Redirect::to("/sign-in"),
    )
        .into_response()
}

/// The session cookie's value.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// `next` if it is a path on this site (printable ASCII, so it is a valid `Location`), else `/`.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && path.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// A redirect to `path` on this site, its bytes outside the URL-safe set escaped (a path made
/// from a request's own path parameters cannot make it fail).
pub(super) fn redirect(path: &str) -> Response {
    Redirect::to(&url_encode(path)).into_response()
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_site_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/builds/abc")), "/builds/abc");
        assert_eq!(safe_next(Some("//evil.example/x")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(Some("/a\r\nSet-Cookie: x")), "/");
        assert_eq!(safe_next(None), "/");
        assert_eq!(url_encode("/builds/a b?x"), "/builds/a%20b%3Fx");
        assert_eq!(
            redirect("/projects/a\nb/tokens").headers()[header::LOCATION],
            "/projects/a%0Ab/tokens"
        );
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; depot_session=s3cret; b=2".parse().unwrap(),
        );
        assert_eq!(session_cookie(&headers), Some("s3cret"));
        headers.insert(header::COOKIE, "depot_session=".parse().unwrap());
        assert_eq!(session_cookie(&headers), None);
    }
}
