//! Manifests (`GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`) and content
//! discovery: tags list, catalog and the referrers API.

use axum::body::Body;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, LINK, LOCATION};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Limited};
use serde_json::{Value, json};

use super::Registry;
use super::auth;
use super::blobs::parse_digest;
use super::error::{ErrorCode, RegistryError, Result};
use super::metadata::NewManifest;
use super::routes::Request;
use crate::reference::{Digest, Name, Reference};

/// Largest manifest accepted (the spec's suggested limit).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

impl Registry {
    pub(super) async fn get_manifest(
        &self,
        name: &Name,
        reference: &str,
        request: &Request,
    ) -> Result<Response> {
        let digest = self.resolve(name, reference).await?;
        let row = self
            .inner
            .metadata
            .manifest(name, &digest)
            .await?
            .ok_or_else(|| unknown_manifest(name, reference))?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, header(&row.media_type)?);
        headers.insert("Docker-Content-Digest", header(&row.digest)?);
        headers.insert(CONTENT_LENGTH, header(&row.size.to_string())?);
        if request.method == Method::HEAD {
            return Ok((StatusCode::OK, headers).into_response());
        }
        let body = self.inner.storage.read_small_blob(&digest).await?;
        Ok((StatusCode::OK, headers, body).into_response())
    }

    async fn resolve(&self, name: &Name, reference: &str) -> Result<Digest> {
        match reference.parse::<Reference>() {
            Ok(Reference::Digest(digest)) => Ok(digest),
            Ok(Reference::Tag(tag)) => {
                let digest = self
                    .inner
                    .metadata
                    .tag(name, &tag)
                    .await?
                    .ok_or_else(|| unknown_manifest(name, reference))?;
                parse_digest(&digest)
            }
            Err(()) => Err(RegistryError::new(
                ErrorCode::ManifestInvalid,
                format!("invalid reference {reference:?}: a tag or a digest"),
            )),
        }
    }

    pub(super) async fn put_manifest(
        &self,
        name: &Name,
        reference: &str,
        request: &Request,
        body: Body,
    ) -> Result<Response> {
        let reference: Reference = reference.parse().map_err(|()| {
            RegistryError::new(
                ErrorCode::ManifestInvalid,
                format!("invalid reference {reference:?}"),
            )
        })?;
        let header_type = request
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
        let body = Limited::new(body, MAX_MANIFEST_BYTES)
            .collect()
            .await
            .map_err(|_| {
                RegistryError::new(
                    ErrorCode::ManifestInvalid,
                    format!("manifests are limited to {MAX_MANIFEST_BYTES} bytes"),
                )
                .with_status(StatusCode::PAYLOAD_TOO_LARGE)
            })?
            .to_bytes();
        let parsed = ParsedManifest::parse(&body, header_type.as_deref())?;
        // Garbage collection must not run between checking the references and recording the
        // manifest.
        let _in_use = self.inner.gc_lock.read().await;
        self.check_references(name, &parsed).await?;

        let algorithm = match &reference {
            Reference::Digest(d) => d.algorithm(),
            Reference::Tag(_) => crate::reference::Algorithm::Sha256,
        };
        let digest = self
            .inner
            .storage
            .write_small_blob(&body, algorithm)
            .await?;
        if let Reference::Digest(expected) = &reference
            && *expected != digest
        {
            return Err(RegistryError::new(
                ErrorCode::DigestInvalid,
                format!("the manifest's digest is {digest}, not {expected}"),
            ));
        }
        let tag = match &reference {
            Reference::Tag(tag) => Some(tag.as_str()),
            Reference::Digest(_) => None,
        };
        self.inner
            .metadata
            .put_manifest(
                name,
                &NewManifest {
                    digest: &digest,
                    media_type: &parsed.media_type,
                    artifact_type: parsed.artifact_type.as_deref(),
                    subject: parsed.subject.as_ref().map(|s| s.to_string()).as_deref(),
                    annotations: parsed.annotations.clone(),
                    size: body.len() as u64,
                    blobs: &parsed
                        .blobs
                        .iter()
                        .map(|blob| blob.digest.clone())
                        .collect::<Vec<_>>(),
                },
                tag,
            )
            .await?;
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, header(&format!("/v2/{name}/manifests/{digest}"))?);
        headers.insert("Docker-Content-Digest", header(&digest.to_string())?);
        if let Some(subject) = &parsed.subject {
            headers.insert("OCI-Subject", header(&subject.to_string())?);
        }
        Ok((StatusCode::CREATED, headers).into_response())
    }

    /// Refuses manifests whose blobs (image manifests) or child manifests (indexes) the
    /// repository does not hold, or whose descriptors give them another size than they have.
    /// The subject may be absent (the spec allows pushing referrers first).
    async fn check_references(&self, name: &Name, manifest: &ParsedManifest) -> Result<()> {
        let metadata = &self.inner.metadata;
        for blob in &manifest.blobs {
            let Some(size) = metadata.blob_link(name, &blob.digest).await? else {
                return Err(RegistryError::new(
                    ErrorCode::ManifestBlobUnknown,
                    format!(
                        "blob {} is not in {name}: push it before the manifest",
                        blob.digest
                    ),
                ));
            };
            blob.check_size("blob", size)?;
        }
        for child in &manifest.children {
            let Some(row) = metadata.manifest(name, &child.digest).await? else {
                return Err(RegistryError::new(
                    ErrorCode::ManifestBlobUnknown,
                    format!(
                        "manifest {} is not in {name}: push it before the index",
                        child.digest
                    ),
                ));
            };
            child.check_size("manifest", row.size as u64)?;
        }
        Ok(())
    }

    pub(super) async fn delete_manifest(&self, name: &Name, reference: &str) -> Result<Response> {
        let metadata = &self.inner.metadata;
        let deleted = match reference.parse::<Reference>() {
            Ok(Reference::Tag(tag)) => metadata.delete_tag(name, &tag).await?,
            Ok(Reference::Digest(digest)) => metadata.delete_manifest(name, &digest).await?,
            Err(()) => false,
        };
        if !deleted {
            return Err(unknown_manifest(name, reference));
        }
        Ok(StatusCode::ACCEPTED.into_response())
    }

    pub(super) async fn tags(&self, name: &Name, request: &Request) -> Result<Response> {
        let metadata = &self.inner.metadata;
        let tags = metadata.tags(name).await?;
        if tags.is_empty() && !metadata.repository_exists(name).await? {
            return Err(RegistryError::new(
                ErrorCode::NameUnknown,
                format!("repository {name} is unknown"),
            ));
        }
        let page = Page::of(tags, request)?;
        let link = page.link(&format!("/v2/{name}/tags/list"));
        let mut response =
            axum::Json(json!({"name": name.as_str(), "tags": page.items})).into_response();
        if let Some(link) = link {
            response.headers_mut().insert(LINK, header(&link)?);
        }
        Ok(response)
    }

    pub(super) async fn catalog(
        &self,
        caller: &auth::Caller,
        request: &Request,
    ) -> Result<Response> {
        let visible = caller
            .catalog_projects(&self.inner.store, &self.inner.challenge)
            .await?;
        let repositories: Vec<String> = self
            .inner
            .metadata
            .repositories()
            .await?
            .into_iter()
            .filter(|r| {
                visible
                    .iter()
                    .any(|p| r.split('/').next() == Some(p.as_str()))
            })
            .collect();
        let page = Page::of(repositories, request)?;
        let link = page.link("/v2/_catalog");
        let mut response = axum::Json(json!({"repositories": page.items})).into_response();
        if let Some(link) = link {
            response.headers_mut().insert(LINK, header(&link)?);
        }
        Ok(response)
    }

    pub(super) async fn referrers(
        &self,
        name: &Name,
        subject: &str,
        request: &Request,
    ) -> Result<Response> {
        let subject = parse_digest(subject)?;
        let filter = request.param("artifactType");
        let manifests: Vec<Value> = self
            .inner
            .metadata
            .referrers(name, &subject)
            .await?
            .into_iter()
            .filter(|m| filter.is_none_or(|f| m.artifact_type.as_deref() == Some(f)))
            .map(|m| {
                let mut descriptor = json!({
                    "mediaType": m.media_type,
                    "digest": m.digest,
                    "size": m.size,
                });
                if let Some(t) = m.artifact_type {
                    descriptor["artifactType"] = Value::String(t);
                }
                if let Some(a) = m
                    .annotations
                    .and_then(|a| serde_json::from_str::<Value>(&a).ok())
                {
                    descriptor["annotations"] = a;
                }
                descriptor
            })
            .collect();
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(OCI_INDEX));
        if filter.is_some() {
            headers.insert(
                "OCI-Filters-Applied",
                HeaderValue::from_static("artifactType"),
            );
        }
        Ok((StatusCode::OK, headers, Body::from(index.to_string())).into_response())
    }
}

/// What the registry needs from a manifest.
struct ParsedManifest {
    media_type: String,
    artifact_type: Option<String>,
    subject: Option<Digest>,
    annotations: Option<String>,
    /// Config and layers of an image manifest.
    blobs: Vec<Descriptor>,
    /// Manifests of an index.
    children: Vec<Descriptor>,
}

/// What a manifest says of content it references.
struct Descriptor {
    digest: Digest,
    size: u64,
}

impl Descriptor {
    /// Refuses a descriptor whose size is not that of the `what` it names (`MANIFEST_INVALID`,
    /// as the spec asks).
    fn check_size(&self, what: &str, actual: u64) -> Result<()> {
        if self.size == actual {
            return Ok(());
        }
        Err(RegistryError::new(
            ErrorCode::ManifestInvalid,
            format!(
                "the descriptor of {what} {} gives {} bytes, but it has {actual}",
                self.digest, self.size
            ),
        ))
    }
}

impl ParsedManifest {
    fn parse(body: &[u8], header_type: Option<&str>) -> Result<Self> {
        let invalid = |why: String| RegistryError::new(ErrorCode::ManifestInvalid, why);
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| invalid(format!("the manifest is not JSON: {e}")))?;
        if value["schemaVersion"] != json!(2) {
            return Err(invalid("schemaVersion must be 2".into()));
        }
        let body_type = value["mediaType"].as_str();
        if let (Some(h), Some(b)) = (header_type, body_type)
            && h != b
        {
            return Err(invalid(format!(
                "Content-Type {h} does not match the manifest's mediaType {b}"
            )));
        }
        let is_index = value.get("manifests").is_some();
        let media_type = body_type
            .or(header_type)
            .map(str::to_owned)
            .unwrap_or_else(|| if is_index { OCI_INDEX } else { OCI_MANIFEST }.to_owned());
        let descriptor_digest = |d: &Value| -> Result<Digest> {
            d["digest"]
                .as_str()
                .ok_or_else(|| invalid("a descriptor has no digest".into()))?
                .parse()
                .map_err(|()| invalid("a descriptor has an invalid digest".into()))
        };
        let descriptor = |d: &Value| -> Result<Descriptor> {
            let size = d["size"].as_u64().ok_or_else(|| {
                invalid(format!(
                    "a descriptor has no size, or one that is not a non-negative integer: {}",
                    d["size"]
                ))
            })?;
            Ok(Descriptor {
                digest: descriptor_digest(d)?,
                size,
            })
        };
        let descriptors = |key: &str| -> Result<Vec<Descriptor>> {
            match &value[key] {
                Value::Null => Ok(Vec::new()),
                Value::Array(items) => items.iter().map(descriptor).collect(),
                _ => Err(invalid(format!("{key} must be an array"))),
            }
        };
        let (blobs, children) = match media_type.as_str() {
            OCI_MANIFEST | DOCKER_MANIFEST => {
                if !value["config"].is_object() {
                    return Err(invalid(
                        "an image manifest needs a config descriptor".into(),
                    ));
                }
                let mut blobs = vec![descriptor(&value["config"])?];
                blobs.extend(descriptors("layers")?);
                (blobs, Vec::new())
            }
            OCI_INDEX | DOCKER_LIST => (Vec::new(), descriptors("manifests")?),
            other => {
                return Err(invalid(format!(
                    "unsupported manifest media type {other}: use an OCI or Docker schema 2 manifest or index"
                )));
            }
        };
        let subject = match &value["subject"] {
            Value::Null => None,
            s => Some(descriptor_digest(s)?),
        };
        let artifact_type = value["artifactType"]
            .as_str()
            .or_else(|| value["config"]["mediaType"].as_str())
            .map(str::to_owned);
        let annotations = value
            .get("annotations")
            .filter(|a| a.is_object())
            .map(Value::to_string);
        Ok(Self {
            media_type,
            artifact_type,
            subject,
            annotations,
            blobs,
            children,
        })
    }
}

/// Parses a manifest as a `PUT` does (fuzzing entry point).
#[cfg(feature = "fuzzing")]
pub(super) fn parse_manifest(body: &[u8], content_type: Option<&str>) -> Result<()> {
    ParsedManifest::parse(body, content_type).map(drop)
}

fn unknown_manifest(name: &Name, reference: &str) -> RegistryError {
    RegistryError::new(
        ErrorCode::ManifestUnknown,
        format!("manifest {reference} is not in {name}"),
    )
}

fn header(value: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(value).map_err(RegistryError::internal)
}

/// One page of a sorted listing.
struct Page {
    items: Vec<String>,
    /// `n` and `last` of the next page, if more follow.
    next: Option<(usize, String)>,
}

impl Page {
    /// Applies the request's `n`/`last` to a sorted list.
    fn of(items: Vec<String>, request: &Request) -> Result<Page> {
        let n = match request.param("n") {
            Some(n) => Some(n.parse::<usize>().map_err(|_| {
                RegistryError::new(ErrorCode::Unsupported, format!("invalid n={n}"))
                    .with_status(StatusCode::BAD_REQUEST)
            })?),
            None => None,
        };
        let start = match request.param("last") {
            Some(last) => items.partition_point(|item| item.as_str() <= last),
            None => 0,
        };
        let mut items = items;
        let mut rest = items.split_off(start);
        let next = match n {
            Some(n) if n < rest.len() => {
                rest.truncate(n);
                rest.last().cloned().map(|last| (n, last))
            }
            _ => None,
        };
        Ok(Page { items: rest, next })
    }

    /// The `Link` header value for the next page of `path`.
    fn link(&self, path: &str) -> Option<String> {
        self.next
            .as_ref()
            .map(|(n, last)| format!("<{path}?n={n}&last={last}>; rel=\"next\""))
    }
}
