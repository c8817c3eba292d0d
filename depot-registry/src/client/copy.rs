//! Copying an image or index from one registry to others: blobs first, in parallel with
//! bounded concurrency (skipped when the destination has them, mounted when source and
//! destination share a registry, otherwise streamed from one to the other without being held in
//! memory), then child manifests, then the tagged manifest.

use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt, stream};
use oci_client::secrets::RegistryAuth;
use oci_client::{Reference, RegistryOperation};

use super::manifests::{self, Blob, Manifest, registry_error, with_digest};
use super::mount_token::mount_bearer;
use super::progress::{BlobTransfer, ProgressEvent, ProgressSink};
use super::{ClientError, DEFAULT_CONCURRENCY, Endpoint, oci_client};

/// How a copy runs.
#[derive(Clone, Debug)]
pub struct CopyOptions {
    /// Blobs transferred at once per destination.
    pub concurrency: usize,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// Copies `source` to every destination, reporting each blob and manifest to `progress`;
/// returns the digest of the copied manifest, which is the same everywhere (manifests are
/// copied byte for byte).
pub async fn copy_image(
    source: &Endpoint,
    destinations: &[Endpoint],
    options: &CopyOptions,
    progress: &Arc<dyn ProgressSink>,
) -> Result<String, ClientError> {
    let src = oci_client(source.reference.resolve_registry());
    let top = manifests::fetch(&src, source, &source.reference).await?;
    let children = manifests::fetch_children(&src, source, &top).await?;
    let blobs = manifests::distinct_blobs(children.iter().chain([&top]), &source.reference)?;
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
        let mounter = mounter(source, destination).await;
        let copy = Copy {
            src: &src,
            source,
            dst: &dst,
            mounter: mounter.as_ref(),
            destination,
            target: &target,
            progress,
        };
        // The futures are made before streaming them so that the returned future holds no
        // closure over borrowed blobs: that keeps it `Send` for callers that spawn it.
        let transfers: Vec<_> = blobs.iter().map(|blob| copy.blob(blob)).collect();
        stream::iter(transfers)
            .buffer_unordered(options.concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        for manifest in &children {
            let by_digest = with_digest(&destination.reference, &manifest.digest);
            push_manifest(&dst, &by_digest, manifest).await?;
            progress.report(ProgressEvent::Manifest {
                target: &target,
                digest: &manifest.digest,
            });
        }
        push_manifest(&dst, &destination.reference, &top).await?;
        progress.report(ProgressEvent::Manifest {
            target: &target,
            digest: &top.digest,
        });
    }
    Ok(top.digest)
}

/// A client that may mount `source`'s blobs into `destination` (same registry): one holding
/// a bearer for both repositories where the registry hands those out. `None` across
/// registries, or where the registry does not use the token flow (its `dst` client mounts).
async fn mounter(source: &Endpoint, destination: &Endpoint) -> Option<oci_client::Client> {
    let registry = destination.reference.resolve_registry();
    if source.reference.resolve_registry() != registry {
        return None;
    }
    let token = mount_bearer(&source.reference, &destination.reference, &destination.auth).await?;
    let client = oci_client(registry);
    client
        .auth(
            &destination.reference,
            &RegistryAuth::Bearer(token),
            RegistryOperation::Push,
        )
        .await
        .ok()?;
    Some(client)
}

/// One source and one destination.
struct Copy<'a> {
    src: &'a oci_client::Client,
    source: &'a Endpoint,
    dst: &'a oci_client::Client,
    /// Mounts blobs from the source (else `dst` does); the bearer it holds is not renewed, so
    /// a mount tried after it expires fails and the blob is uploaded instead.
    mounter: Option<&'a oci_client::Client>,
    destination: &'a Endpoint,
    target: &'a str,
    progress: &'a Arc<dyn ProgressSink>,
}

impl Copy<'_> {
    /// Copies one blob unless the destination has it, and reports how it got there.
    async fn blob(&self, blob: &Blob) -> Result<(), ClientError> {
        let transfer = self.transfer(blob).await?;
        self.progress.report(ProgressEvent::BlobDone {
            target: self.target,
            digest: &blob.digest,
            size: Some(blob.size),
            transfer,
        });
        Ok(())
    }

    async fn transfer(&self, blob: &Blob) -> Result<BlobTransfer, ClientError> {
        let (dst, destination) = (self.dst, &self.destination.reference);
        if dst
            .blob_exists(destination, &blob.digest)
            .await
            .map_err(|e| registry_error("checking a blob of", self.target, e))?
        {
            return Ok(BlobTransfer::Present);
        }
        if self.source.reference.resolve_registry() == destination.resolve_registry()
            && self
                .mounter
                .unwrap_or(dst)
                .mount_blob(destination, &self.source.reference, &blob.digest)
                .await
                .is_ok()
            && dst
                .blob_exists(destination, &blob.digest)
                .await
                .unwrap_or(false)
        {
            return Ok(BlobTransfer::Mounted);
        }
        self.progress.report(ProgressEvent::BlobStarted {
            target: self.target,
            digest: &blob.digest,
            size: Some(blob.size),
        });
        let download = self
            .src
            .pull_blob_stream(&self.source.reference, blob.digest.as_str())
            .await
            .map_err(|e| {
                registry_error("downloading a blob of", &self.source.reference.whole(), e)
            })?;
        // The upload wants a stream that owns everything it uses.
        let (progress, target, digest) = (
            Arc::clone(self.progress),
            self.target.to_owned(),
            blob.digest.clone(),
        );
        let total = blob.size;
        let mut current = 0u64;
        let body = download
            .stream
            .inspect_ok(move |chunk| {
                current += chunk.len() as u64;
                progress.report(ProgressEvent::BlobProgress {
                    target: &target,
                    digest: &digest,
                    current,
                    total: Some(total),
                });
            })
            .map_err(oci_client::errors::OciDistributionError::IoError);
        dst.push_blob_stream(destination, body, &blob.digest, Some(blob.size))
            .await
            .map_err(|e| registry_error("uploading a blob to", self.target, e))?;
        Ok(BlobTransfer::Copied)
    }
}

pub(crate) async fn push_manifest(
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
