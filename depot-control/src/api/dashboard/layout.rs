//! The page shell: title, navigation, the sign-out form, the stylesheet.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::session::Viewer;

/// The stylesheet, shipped in the binary.
const STYLESHEET: &str = include_str!("dashboard.css");

/// `GET /assets/dashboard.css`.
pub(super) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// A whole page: `body` under the navigation (with sign-out when someone is signed in).
/// `refresh` reloads the page every that many seconds (a running build).
pub(super) fn page(
    title: &str,
    viewer: Option<&Viewer>,
    refresh: Option<u32>,
    body: Markup,
) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(seconds) = refresh {
                    meta http-equiv="refresh" content=(seconds);
                }
                title { (title) " · depot-rs" }
                link rel="stylesheet" href="/assets/dashboard.css";
            }
            body {
                header {
                    a.brand href="/" { "depot-rs" }
                    @if let Some(viewer) = viewer {
                        nav { a href="/" { "Projects" } }
                        form.sign-out method="post" action="/sign-out" {
                            input type="hidden" name="csrf" value=(viewer.csrf_token());
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    Html(markup.into_string()).into_response()
}
