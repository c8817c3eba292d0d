//! Parsing `/v2/<name>/…` paths (names contain slashes, so routes are matched from the end)
//! and dispatching them.

use axum::body::Body;
use axum::http::{HeaderMap, Method};
use axum::response::Response;

use super::Registry;
use super::auth::{self, Action};
use super::error::{ErrorCode, RegistryError, Result};
use crate::reference::Name;

/// A parsed request path.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags(Name),
    /// `/v2/<name>/manifests/<reference>`
    Manifest(Name, String),
    /// `/v2/<name>/blobs/<digest>`
    Blob(Name, String),
    /// `/v2/<name>/blobs/uploads/`
    NewUpload(Name),
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload(Name, String),
    /// `/v2/<name>/referrers/<digest>`
    Referrers(Name, String),
}

/// The parts of a request handlers use besides the body (which is passed on its own: it is
/// not `Sync`, so a shared reference to it could not cross an await).
pub struct Request {
    /// Method.
    pub method: Method,
    /// Query parameters in order.
    pub query: Vec<(String, String)>,
    /// Headers.
    pub headers: HeaderMap,
}

impl Request {
    /// The first value of query parameter `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl Route {
    /// Parses the path after `/v2/`.
    pub fn parse(rest: &str) -> Result<Route> {
        if rest == "_catalog" {
            return Ok(Route::Catalog);
        }
        let segments: Vec<&str> = rest.split('/').collect();
        let n = segments.len();
        let name = |upto: usize| -> Result<Name> {
            segments[..upto].join("/").parse().map_err(|()| {
                RegistryError::new(
                    ErrorCode::NameInvalid,
                    "invalid repository name: lowercase components of letters, digits and separators",
                )
            })
        };
        let route = match segments.as_slice() {
            [.., "tags", "list"] if n > 2 => Route::Tags(name(n - 2)?),
            [.., "blobs", "uploads", ""] if n > 3 => Route::NewUpload(name(n - 3)?),
            [.., "blobs", "uploads"] if n > 2 => Route::NewUpload(name(n - 2)?),
            [.., "blobs", "uploads", id] if n > 3 => Route::Upload(name(n - 3)?, (*id).to_owned()),
            [.., "manifests", reference] if n > 2 => {
                Route::Manifest(name(n - 2)?, (*reference).to_owned())
            }
            [.., "blobs", digest] if n > 2 => Route::Blob(name(n - 2)?, (*digest).to_owned()),
            [.., "referrers", digest] if n > 2 => {
                Route::Referrers(name(n - 2)?, (*digest).to_owned())
            }
            _ => {
                return Err(RegistryError::new(
                    ErrorCode::Unsupported,
                    format!("/v2/{rest} is not a registry endpoint"),
                )
                .with_status(axum::http::StatusCode::NOT_FOUND));
            }
        };
        Ok(route)
    }

    /// The largest body a request of this route and method may declare: a manifest, or a
    /// blob (upload requests).
    fn body_limit(&self, method: &Method, max_blob_bytes: u64) -> Option<u64> {
        match (self, method) {
            (Route::Manifest(..), &Method::PUT) => {
                Some(super::manifests::MAX_MANIFEST_BYTES as u64)
            }
            (Route::NewUpload(_), &Method::POST)
            | (Route::Upload(..), &Method::PATCH | &Method::PUT) => Some(max_blob_bytes),
            _ => None,
        }
    }

    fn scope(&self, method: &Method) -> Option<(&Name, Action)> {
        let action = match *method {
            Method::GET | Method::HEAD => Action::Pull,
            Method::DELETE => Action::Delete,
            _ => Action::Push,
        };
        match self {
            Route::Catalog => None,
            Route::Tags(name) | Route::Referrers(name, _) => Some((name, Action::Pull)),
            Route::Manifest(name, _)
            | Route::Blob(name, _)
            | Route::NewUpload(name)
            | Route::Upload(name, _) => Some((name, action)),
        }
    }
}

impl Registry {
    pub(super) async fn handle(
        &self,
        route: Route,
        request: &Request,
        body: Body,
    ) -> Result<Response> {
        let inner = &self.inner;
        // A body declared over the route's limit is refused before anything is read.
        if let Some(limit) = route.body_limit(&request.method, inner.max_blob_bytes)
            && let Some(declared) = declared_length(&request.headers)
            && declared > limit
        {
            let code = match route {
                Route::Manifest(..) => ErrorCode::ManifestInvalid,
                _ => ErrorCode::SizeInvalid,
            };
            depot_control::http::discard_refused_body(body);
            return Err(RegistryError::new(
                code,
                format!("the request declares {declared} bytes; at most {limit} are accepted here"),
            )
            .with_status(axum::http::StatusCode::PAYLOAD_TOO_LARGE));
        }
        let scope = route.scope(&request.method);
        let caller = auth::identify(
            &inner.auth,
            &inner.bearers,
            &request.headers,
            &inner.challenge,
            scope,
        )
        .await?;
        if let Some((name, action)) = scope {
            caller
                .authorize(&inner.store, &inner.challenge, name, action)
                .await?;
        }
        let method = request.method.clone();
        match (route, method) {
            (Route::Catalog, Method::GET) => self.catalog(&caller, request).await,
            (Route::Tags(name), Method::GET) => self.tags(&name, request).await,
            (Route::Referrers(name, digest), Method::GET) => {
                self.referrers(&name, &digest, request).await
            }
            (Route::Manifest(name, reference), Method::GET | Method::HEAD) => {
                self.get_manifest(&name, &reference, request).await
            }
            (Route::Manifest(name, reference), Method::PUT) => {
                self.put_manifest(&name, &reference, request, body).await
            }
            (Route::Manifest(name, reference), Method::DELETE) => {
                self.delete_manifest(&name, &reference).await
            }
            (Route::Blob(name, digest), Method::GET | Method::HEAD) => {
                self.get_blob(&name, &digest, request).await
            }
            (Route::Blob(name, digest), Method::DELETE) => self.delete_blob(&name, &digest).await,
            (Route::NewUpload(name), Method::POST) => {
                self.start_upload(&name, &caller, request, body).await
            }
            (Route::Upload(name, id), Method::GET) => self.upload_status(&name, &id).await,
            (Route::Upload(name, id), Method::PATCH) => {
                self.patch_upload(&name, &id, request, body).await
            }
            (Route::Upload(name, id), Method::PUT) => {
                self.finish_upload(&name, &id, request, body).await
            }
            (Route::Upload(name, id), Method::DELETE) => self.cancel_upload(&name, &id).await,
            (_, method) => Err(RegistryError::new(
                ErrorCode::Unsupported,
                format!("{method} is not supported here"),
            )),
        }
    }
}

/// The request's `Content-Length`, if it declares one.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        s.parse().unwrap()
    }

    #[test]
    fn routes_are_matched_from_the_end() {
        assert_eq!(Route::parse("_catalog").unwrap(), Route::Catalog);
        assert_eq!(
            Route::parse("p/app/tags/list").unwrap(),
            Route::Tags(name("p/app"))
        );
        assert_eq!(
            Route::parse("p/manifests/x/manifests/latest").unwrap(),
            Route::Manifest(name("p/manifests/x"), "latest".into())
        );
        assert_eq!(
            Route::parse("p/blobs/uploads/").unwrap(),
            Route::NewUpload(name("p"))
        );
        assert_eq!(
            Route::parse("p/blobs/uploads/abc").unwrap(),
            Route::Upload(name("p"), "abc".into())
        );
        assert_eq!(
            Route::parse("p/blobs/sha256:00").unwrap(),
            Route::Blob(name("p"), "sha256:00".into())
        );
        assert_eq!(
            Route::parse("../x/manifests/a").unwrap_err().code(),
            ErrorCode::NameInvalid
        );
        assert_eq!(
            Route::parse("P/manifests/a").unwrap_err().code(),
            ErrorCode::NameInvalid
        );
        assert!(Route::parse("p/other").is_err());
        assert!(Route::parse("manifests/a").is_err());
    }
}
