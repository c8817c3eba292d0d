//! The web dashboard: server-rendered pages (maud) on the API port, behind a sign-in with an
//! API token. Pages read what the API serves (build summaries, steps, step logs), through the
//! same authorization; no JavaScript, nothing fetched from elsewhere (the stylesheet ships in
//! the binary), a strict Content-Security-Policy on every response.
//!
//! - [`session`]: sign-in and sign-out, the session cookie, CSRF tokens.
//! - [`pages`]: projects, a project's builds, a build (steps, waterfall, logs, failure).
//! - [`tokens`]: a project's tokens (created with the secret shown once, revoked).
//! - [`insights`]: a project's build time and cache hits over time, slowest steps, cache.
//! - [`trend`]: the build trend chart as SVG.
//! - [`waterfall`]: the build-step waterfall as SVG.
//! - [`layout`]: the page shell.

mod insights;
mod layout;
mod pages;
mod session;
mod tokens;
mod trend;
mod waterfall;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};

use super::ControlPlane;

pub(super) use pages::build_page;

/// What every dashboard response carries: no scripts, no framing, no sniffing, no caching.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's routes (the build page, `/builds/<id>`, is routed with the API's).
pub(super) fn routes() -> Router<ControlPlane> {
    Router::new()
        .route("/", get(pages::projects))
        .route("/projects/{id}/builds", get(pages::builds))
        .route("/projects/{id}/insights", get(insights::insights))
        .route(
            "/projects/{id}/tokens",
            get(tokens::list).post(tokens::create),
        )
        .route("/projects/{id}/tokens/{token}/revoke", post(tokens::revoke))
        .route(
            "/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/sign-out", post(session::sign_out))
        .route("/assets/dashboard.css", get(layout::stylesheet))
        .layer(axum::middleware::map_response(protect))
}

/// Adds the security headers to a dashboard response.
pub(super) async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
