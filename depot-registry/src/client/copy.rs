//! Copying an image or index from one registry to others: blobs first, in parallel with
//! bounded concurrency (skipped when the destination has them, mounted when source and
//! destination share a registry, otherwise streamed from one to the other without being held in
//! memory), then child manifests, then the tagged manifest.

use futures_util::{StreamExt, TryStreamExt, stream};
use oci_client::{Reference, RegistryOperation};
use serde_json::Value;

use super::{ClientError, Endpoint, oci_client};

const ACCEPTED: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// How a copy runs.
#[derive(Clone, Debug)]
pub struct CopyOptions {
    /// Blobs transferred at once per destination.
    pub concurrency: usize,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self { concurrency: 4 }
    }
}

/// How a blob reached a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobTransfer {
    /// The destination already had it.
    Present,
    /// Mounted from the source repository on the same registry.
    Mounted,
    /// Streamed from the source.
    Copied,
}

/// Progress of a copy.
#[derive(Clone, Debug)]
pub enum CopyEvent {
    /// A blob is at a destination.
    Blob {
        /// The destination image.
        destination: String,
        /// The blob.
        digest: String,
        /// Its size.
        size: u64,
        /// How it got there.
        transfer: BlobTransfer,
    },
    /// A manifest was pushed.
    Manifest {
        /// The destination image.
        destination: String,
        /// The manifest's digest.
        digest: String,
    },
}

struct Manifest {
    digest: String,
    media_type: String,
    bytes: bytes::Bytes,
}

struct Blob {
    digest: String,
    size: u64,
}

/// Copies `source` to every destination; returns the digest of the copied manifest, which is
/// the same everywhere (manifests are copied byte for byte).
pub async fn copy_image(
    source: &Endpoint,
    destinations: &[Endpoint],
    options: &CopyOptions,
    on_event: &(dyn Fn(CopyEvent) + Send + Sync),
) -> Result<String, ClientError> {
    let src = oci_client(source.reference.resolve_registry());
    let (top, children) = fetch_manifests(&src, source).await?;
    let mut blobs: Vec<Blob> = Vec::new();
    for manifest in children.iter().chain(std::iter::once(&top)) {
        for blob in blobs_of(manifest, &source.reference)? {
            if !blobs.iter().any(|b| b.digest == blob.digest) {
                blobs.push(blob);
            }
        }
    }
    for destination in destinations {
        let dst = oci_client(destination.reference.resolve_registry());
        let target = destination.reference.whole();
        dst.auth(
            &destination.reference,
            &destination.auth,
            RegistryOperation::Push,
        )
        .await
        .map_err(|source| registry_error("authenticating to", &target, source))?;
        stream::iter(blobs.iter())
            .map(|blob| {
                let (src, dst, target) = (&src, &dst, &target);
                async move {
                    let transfer = copy_blob(src, source, dst, destination, blob).await?;
                    on_event(CopyEvent::Blob {
                        destination: target.clone(),
                        digest: blob.digest.clone(),
                        size: blob.size,
                        transfer,
                    });
                    Ok::<_, ClientError>(())
                }
            })
            .buffer_unordered(options.concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        for manifest in &children {
            let by_digest = with_digest(&destination.reference, &manifest.digest);
            push_manifest(&dst, &by_digest, manifest).await?;
            on_event(CopyEvent::Manifest {
                destination: target.clone(),
                digest: manifest.digest.clone(),
            });
        }
        push_manifest(&dst, &destination.reference, &top).await?;
        on_event(CopyEvent::Manifest {
            destination: target.clone(),
            digest: top.digest.clone(),
        });
    }
    Ok(top.digest)
}

async fn fetch_manifests(
    client: &oci_client::Client,
    source: &Endpoint,
) -> Result<(Manifest, Vec<Manifest>), ClientError> {
    let top = fetch_manifest(client, source, &source.reference).await?;
    let mut children = Vec::new();
    if let Some(entries) = parse(&top, &source.reference)?["manifests"].as_array() {
        for entry in entries {
            let digest = entry["digest"]
                .as_str()
                .ok_or_else(|| ClientError::Manifest {
                    reference: source.reference.whole(),
                    message: "an index entry has no digest".into(),
                })?;
            let child =
                fetch_manifest(client, source, &with_digest(&source.reference, digest)).await?;
            children.push(child);
        }
    }
    Ok((top, children))
}

async fn fetch_manifest(
    client: &oci_client::Client,
    source: &Endpoint,
    reference: &Reference,
) -> Result<Manifest, ClientError> {
    let (bytes, digest) = client
        .pull_manifest_raw(reference, &source.auth, &ACCEPTED)
        .await
        .map_err(|e| registry_error("fetching the manifest of", &reference.whole(), e))?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| ClientError::Manifest {
        reference: reference.whole(),
        message: format!("the manifest is not JSON: {e}"),
    })?;
    let media_type = value["mediaType"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| {
            if value.get("manifests").is_some() {
                ACCEPTED[0]
            } else {
                ACCEPTED[2]
            }
            .to_owned()
        });
    Ok(Manifest {
        digest,
        media_type,
        bytes,
    })
}

fn parse(manifest: &Manifest, reference: &Reference) -> Result<Value, ClientError> {
    serde_json::from_slice(&manifest.bytes).map_err(|e| ClientError::Manifest {
        reference: reference.whole(),
        message: e.to_string(),
    })
}

fn blobs_of(manifest: &Manifest, reference: &Reference) -> Result<Vec<Blob>, ClientError> {
    let value = parse(manifest, reference)?;
    let descriptors = value["config"]
        .is_object()
        .then_some(&value["config"])
        .into_iter()
        .chain(value["layers"].as_array().into_iter().flatten());
    descriptors
        .map(|d| {
            let digest = d["digest"].as_str();
            let size = d["size"].as_u64();
            match (digest, size) {
                (Some(digest), Some(size)) => Ok(Blob {
                    digest: digest.to_owned(),
                    size,
                }),
                _ => Err(ClientError::Manifest {
                    reference: reference.whole(),
                    message: "a descriptor lacks its digest or size".into(),
                }),
            }
        })
        .collect()
}

async fn copy_blob(
    src: &oci_client::Client,
    source: &Endpoint,
    dst: &oci_client::Client,
    destination: &Endpoint,
    blob: &Blob,
) -> Result<BlobTransfer, ClientError> {
    let target = destination.reference.whole();
    if dst
        .blob_exists(&destination.reference, &blob.digest)
        .await
        .map_err(|e| registry_error("checking a blob of", &target, e))?
    {
        return Ok(BlobTransfer::Present);
    }
    if source.reference.resolve_registry() == destination.reference.resolve_registry()
        && dst
            .mount_blob(&destination.reference, &source.reference, &blob.digest)
            .await
            .is_ok()
        && dst
            .blob_exists(&destination.reference, &blob.digest)
            .await
            .unwrap_or(false)
    {
        return Ok(BlobTransfer::Mounted);
    }
    let download = src
        .pull_blob_stream(&source.reference, blob.digest.as_str())
        .await
        .map_err(|e| registry_error("downloading a blob of", &source.reference.whole(), e))?;
    let body = download
        .stream
        .map_err(oci_client::errors::OciDistributionError::IoError);
    dst.push_blob_stream(&destination.reference, body, &blob.digest, Some(blob.size))
        .await
        .map_err(|e| registry_error("uploading a blob to", &target, e))?;
    Ok(BlobTransfer::Copied)
}

async fn push_manifest(
    client: &oci_client::Client,
    reference: &Reference,
    manifest: &Manifest,
) -> Result<(), ClientError> {
    let content_type = manifest
        .media_type
        .parse()
        .map_err(|_| ClientError::Manifest {
            reference: reference.whole(),
            message: format!("invalid media type {}", manifest.media_type),
        })?;
    client
        .push_manifest_raw(reference, manifest.bytes.clone(), content_type)
        .await
        .map_err(|e| registry_error("pushing the manifest to", &reference.whole(), e))?;
    Ok(())
}

fn with_digest(reference: &Reference, digest: &str) -> Reference {
    Reference::with_digest(
        reference.registry().to_owned(),
        reference.repository().to_owned(),
        digest.to_owned(),
    )
}

fn registry_error(
    operation: &'static str,
    reference: &str,
    source: oci_client::errors::OciDistributionError,
) -> ClientError {
    ClientError::Registry {
        operation,
        reference: reference.to_owned(),
        source,
    }
}
