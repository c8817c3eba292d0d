//! `depot.build.v1.RegistryService`: a project's images as the `depot image` commands see
//! them. Served as Connect procedures next to the registry routes.
//!
//! An image's `tag` is relative to its project: `<tag>` for the repository `<project-id>`
//! itself, `<path>:<tag>` for `<project-id>/<path>`.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use depot_control::auth::{Access, Principal};
use depot_control::connect::{decode_unary, unary_response};
use depot_core::connect::ConnectError;
use depot_core::proto::depot::build::v1::{
    DeleteImageRequest, DeleteImageResponse, Image, ListImagesRequest, ListImagesResponse,
};
use serde_json::Value;

use super::Registry;
use crate::reference::{Digest, Name, is_valid_tag};

const DEFAULT_PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: usize = 1000;

pub(super) async fn list_images_endpoint(
    State(registry): State<Registry>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    connect_call(&registry, &headers, body, Registry::list_images).await
}

pub(super) async fn delete_image_endpoint(
    State(registry): State<Registry>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    connect_call(&registry, &headers, body, Registry::delete_image).await
}

/// An authenticated unary Connect call: token, then body, then `handler`.
pub(super) async fn connect_call<'a, Req, Resp, F, Fut>(
    registry: &'a Registry,
    headers: &HeaderMap,
    body: Body,
    handler: F,
) -> Response
where
    Req: prost::Message + Default,
    Resp: prost::Message,
    F: FnOnce(&'a Registry, Principal, Req) -> Fut,
    Fut: std::future::Future<Output = Result<Resp, ConnectError>> + 'a,
{
    let result = async {
        let principal = registry.inner.auth.authenticate(headers).await?;
        let request = decode_unary(headers, body).await?;
        handler(registry, principal, request).await
    };
    unary_response(result.await)
}

impl Registry {
    async fn list_images(
        &self,
        principal: Principal,
        request: ListImagesRequest,
    ) -> Result<ListImagesResponse, ConnectError> {
        let page_size = match request.page_size.unwrap_or(0) {
            0 => DEFAULT_PAGE_SIZE,
            n if (1..=MAX_PAGE_SIZE as i32).contains(&n) => n as usize,
            n => {
                return Err(ConnectError::invalid_argument(format!(
                    "page_size {n} is out of range 1-{MAX_PAGE_SIZE}"
                )));
            }
        };
        let offset = match request.page_token.as_deref().filter(|t| !t.is_empty()) {
            Some(token) => token
                .parse::<usize>()
                .map_err(|_| ConnectError::invalid_argument("invalid page_token"))?,
            None => 0,
        };
        let project = principal
            .authorize_project(&self.inner.store, &request.project_id, Access::Read)
            .await?;
        let mut tagged = self
            .inner
            .metadata
            .tagged_manifests(&project.id)
            .await
            .map_err(internal)?;
        tagged.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then_with(|| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)))
        });
        let total = tagged.len();
        let mut images = Vec::new();
        for entry in tagged.into_iter().skip(offset).take(page_size) {
            images.push(Image {
                tag: relative_tag(&project.id, &entry.repository, &entry.tag),
                size_bytes: self.image_size(&entry.digest).await?,
                digest: entry.digest,
                pushed_at: Some(depot_control::api::timestamp(entry.updated_at)),
            });
        }
        let next = offset + images.len();
        Ok(ListImagesResponse {
            images,
            next_page_token: (next < total).then(|| next.to_string()),
        })
    }

    async fn delete_image(
        &self,
        principal: Principal,
        request: DeleteImageRequest,
    ) -> Result<DeleteImageResponse, ConnectError> {
        let project = principal
            .authorize_project(&self.inner.store, &request.project_id, Access::Write)
            .await?;
        if request.image_tags.is_empty() {
            return Err(ConnectError::invalid_argument(
                "name at least one image tag",
            ));
        }
        let targets = request
            .image_tags
            .iter()
            .map(|t| absolute_tag(&project.id, t))
            .collect::<Result<Vec<_>, _>>()?;
        let mut untagged = Vec::new();
        for (repository, tag) in &targets {
            if let Some(digest) = self
                .inner
                .metadata
                .tag(repository, tag)
                .await
                .map_err(internal)?
            {
                untagged.push((repository.as_str(), digest));
            }
        }
        let missing = self
            .inner
            .metadata
            .delete_tags(&targets)
            .await
            .map_err(internal)?;
        if missing.is_empty() {
            for (repository, digest) in untagged {
                self.prune(repository, vec![digest])
                    .await
                    .map_err(internal)?;
            }
        } else {
            return Err(ConnectError::not_found(format!(
                "no image tagged {} in project {}; nothing was deleted",
                missing
                    .iter()
                    .map(|&i| request.image_tags[i].as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                project.id
            )));
        }
        Ok(DeleteImageResponse {})
    }

    /// The bytes an image occupies: config and layers of a manifest, or of every manifest of
    /// an index (plus the manifests themselves).
    async fn image_size(&self, digest: &str) -> Result<u64, ConnectError> {
        let manifest = self.read_manifest_json(digest).await?;
        if let Some(children) = manifest["manifests"].as_array() {
            let mut total = 0;
            for child in children {
                total += child["size"].as_u64().unwrap_or(0);
                if let Some(d) = child["digest"].as_str() {
                    total += descriptor_sizes(&self.read_manifest_json(d).await?);
                }
            }
            return Ok(total);
        }
        Ok(descriptor_sizes(&manifest))
    }

    async fn read_manifest_json(&self, digest: &str) -> Result<Value, ConnectError> {
        let digest: Digest = digest
            .parse()
            .map_err(|()| ConnectError::internal("a stored digest is invalid"))?;
        let bytes = self
            .inner
            .storage
            .read_small_blob(&digest)
            .await
            .map_err(internal)?;
        serde_json::from_slice(&bytes).map_err(internal)
    }
}

fn descriptor_sizes(manifest: &Value) -> u64 {
    let config = manifest["config"]["size"].as_u64().unwrap_or(0);
    let layers: u64 = manifest["layers"]
        .as_array()
        .map(|l| l.iter().filter_map(|d| d["size"].as_u64()).sum())
        .unwrap_or(0);
    config + layers
}

fn relative_tag(project: &str, repository: &str, tag: &str) -> String {
    match repository
        .strip_prefix(project)
        .and_then(|r| r.strip_prefix('/'))
    {
        Some(path) => format!("{path}:{tag}"),
        None => tag.to_owned(),
    }
}

fn absolute_tag(project: &str, relative: &str) -> Result<(Name, String), ConnectError> {
    let invalid = || {
        ConnectError::invalid_argument(format!(
            "invalid image tag {relative:?}: use <tag> or <path>:<tag>"
        ))
    };
    let (repository, tag) = match relative.rsplit_once(':') {
        Some((path, tag)) => (format!("{project}/{path}"), tag),
        None => (project.to_owned(), relative),
    };
    if !is_valid_tag(tag) {
        return Err(invalid());
    }
    Ok((repository.parse().map_err(|()| invalid())?, tag.to_owned()))
}

pub(super) fn internal(err: impl std::error::Error) -> ConnectError {
    tracing::error!(err = %depot_core::ErrorChain(&err), "a registry procedure failed");
    ConnectError::internal("the registry failed; see the server log")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_relative_to_the_project() {
        assert_eq!(relative_tag("p1", "p1", "v1"), "v1");
        assert_eq!(relative_tag("p1", "p1/web/app", "v1"), "web/app:v1");
        let (name, tag) = absolute_tag("p1", "web/app:v1").unwrap();
        assert_eq!((name.as_str(), tag.as_str()), ("p1/web/app", "v1"));
        assert_eq!(absolute_tag("p1", "v1").unwrap().0.as_str(), "p1");
        assert!(absolute_tag("p1", "../x:v1").is_err());
        assert!(absolute_tag("p1", "bad tag").is_err());
    }
}
