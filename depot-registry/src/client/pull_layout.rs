//! Pulling an image or index from a registry into an OCI Image Layout directory. Blobs the
//! layout already holds are skipped, so only missing ones travel; the others stream into the
//! layout with bounded concurrency, verified against their digests. Manifests follow, and
//! `index.json` names the image last, so it never refers to missing content.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};

use super::layout::Layout;
use super::manifests::{self, Blob, Manifest, descriptor, registry_error, with_digest};
use super::progress::{BlobTransfer, ProgressEvent, ProgressSink};
use super::{ClientError, DEFAULT_CONCURRENCY, Endpoint, oci_client};
use crate::reference::Digest;

/// One pull into an image layout.
#[derive(Clone, Debug)]
pub struct LayoutPull {
    /// The image or index to pull.
    pub source: Endpoint,
    /// The layout directory; created if missing.
    pub directory: PathBuf,
    /// Names for the image in `index.json` (`org.opencontainers.image.ref.name`); none means the
    /// source's tag. Entries of the same names are replaced, others kept.
    pub ref_names: Vec<String>,
    /// `os/arch[/variant]`: from an index, pull only that platform's manifest and name it
    /// instead of the index. Image manifests are pulled as they are.
    pub platform: Option<String>,
    /// Blobs downloaded at once.
    pub concurrency: usize,
}

impl LayoutPull {
    /// A pull of `source` into `directory`, named by its tag, every platform, with the default
    /// concurrency.
    pub fn new(source: Endpoint, directory: PathBuf) -> Self {
        Self {
            source,
            directory,
            ref_names: Vec::new(),
            platform: None,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// Pulls into the layout, reporting each blob and manifest to `progress` (the target is the
/// layout directory); returns the digest of the manifest or index named in `index.json`.
pub async fn pull_into_layout(
    pull: &LayoutPull,
    progress: &Arc<dyn ProgressSink>,
) -> Result<String, ClientError> {
    let source = &pull.source;
    let client = oci_client(source.reference.resolve_registry());
    let layout = Layout::create(&pull.directory).await?;
    let top = manifests::fetch(&client, source, &source.reference).await?;
    let (root, platform, children) = match &pull.platform {
        Some(wanted) if top.is_index() => {
            let entry = select_platform(&top, wanted, source)?;
            let digest = descriptor(entry, &source.reference)?.digest;
            let reference = with_digest(&source.reference, &digest);
            let manifest = manifests::fetch(&client, source, &reference).await?;
            (manifest, Some(entry["platform"].clone()), Vec::new())
        }
        _ => {
            let children = manifests::fetch_children(&client, source, &top).await?;
            (top, None, children)
        }
    };
    let blobs = manifests::distinct_blobs(children.iter().chain([&root]), &source.reference)?;
    let download = Download {
        client: &client,
        source,
        layout: &layout,
        target: &pull.directory.display().to_string(),
        progress,
    };
    // Owned items keep the future provably `Send` (with borrowed ones, a caller that spawns
    // it, as the language bindings do, hits rust-lang/rust#102211).
    let download = &download;
    stream::iter(blobs.iter().cloned())
        .map(|blob| async move { download.blob(&blob).await })
        .buffer_unordered(pull.concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    for manifest in children.iter().chain([&root]) {
        download.manifest(manifest).await?;
    }
    let mut entry = json!({
        "mediaType": root.media_type,
        "digest": root.digest,
        "size": root.bytes.len(),
    });
    if let Some(platform) = platform.filter(Value::is_object) {
        entry["platform"] = platform;
    }
    let names = if pull.ref_names.is_empty() {
        source
            .reference
            .tag()
            .map(str::to_owned)
            .into_iter()
            .collect()
    } else {
        pull.ref_names.clone()
    };
    layout.name(&entry, &names).await?;
    Ok(root.digest)
}

/// The index entry for `wanted` (`os/arch[/variant]`).
fn select_platform<'a>(
    index: &'a Manifest,
    wanted: &str,
    source: &Endpoint,
) -> Result<&'a Value, ClientError> {
    index
        .entries()
        .iter()
        .find(|entry| matches_platform(&entry["platform"], wanted))
        .ok_or_else(|| {
            let available: Vec<String> = index
                .entries()
                .iter()
                .map(|entry| platform_name(&entry["platform"]))
                .collect();
            ClientError::Manifest {
                reference: source.reference.whole(),
                message: format!(
                    "no manifest for platform {wanted} (the index has {})",
                    available.join(", ")
                ),
            }
        })
}

fn matches_platform(platform: &Value, wanted: &str) -> bool {
    let mut parts = wanted.split('/');
    let (os, architecture, variant) = (parts.next(), parts.next(), parts.next());
    platform["os"].as_str() == os
        && platform["architecture"].as_str() == architecture
        && variant.is_none_or(|v| platform["variant"].as_str() == Some(v))
}

fn platform_name(platform: &Value) -> String {
    ["os", "architecture", "variant"]
        .iter()
        .filter_map(|key| platform[key].as_str())
        .collect::<Vec<_>>()
        .join("/")
}

/// One source and one layout.
struct Download<'a> {
    client: &'a oci_client::Client,
    source: &'a Endpoint,
    layout: &'a Layout,
    target: &'a str,
    progress: &'a Arc<dyn ProgressSink>,
}

impl Download<'_> {
    /// Streams one blob into the layout unless it is there already.
    async fn blob(&self, blob: &Blob) -> Result<(), ClientError> {
        let digest = self.digest(&blob.digest)?;
        let transfer = if self.layout.has_blob(&digest, blob.size).await? {
            BlobTransfer::Present
        } else {
            self.fetch(blob, digest).await?;
            BlobTransfer::Copied
        };
        self.progress.report(ProgressEvent::BlobDone {
            target: self.target,
            digest: &blob.digest,
            size: Some(blob.size),
            transfer,
        });
        Ok(())
    }

    async fn fetch(&self, blob: &Blob, digest: Digest) -> Result<(), ClientError> {
        self.progress.report(ProgressEvent::BlobStarted {
            target: self.target,
            digest: &blob.digest,
            size: Some(blob.size),
        });
        let reference = &self.source.reference;
        let failed = |e| registry_error("downloading a blob of", &reference.whole(), e);
        let mut body = self
            .client
            .pull_blob_stream(reference, blob.digest.as_str())
            .await
            .map_err(failed)?;
        let mut writer = self.layout.blob_writer(digest, blob.size).await?;
        let mut current = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| failed(oci_client::errors::OciDistributionError::IoError(e)))?;
            writer.write(&chunk).await?;
            current += chunk.len() as u64;
            self.progress.report(ProgressEvent::BlobProgress {
                target: self.target,
                digest: &blob.digest,
                current,
                total: Some(blob.size),
            });
        }
        writer.commit().await
    }

    /// Writes a manifest (already in memory) into the layout.
    async fn manifest(&self, manifest: &Manifest) -> Result<(), ClientError> {
        let digest = self.digest(&manifest.digest)?;
        self.layout.put_blob(digest, &manifest.bytes).await?;
        self.progress.report(ProgressEvent::Manifest {
            target: self.target,
            digest: &manifest.digest,
        });
        Ok(())
    }

    /// A validated digest (it becomes a file name).
    fn digest(&self, digest: &str) -> Result<Digest, ClientError> {
        digest.parse().map_err(|()| ClientError::Manifest {
            reference: self.source.reference.whole(),
            message: format!("unsupported digest {digest:?}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_match_by_os_architecture_and_variant() {
        let arm = json!({ "os": "linux", "architecture": "arm64", "variant": "v8" });
        assert!(matches_platform(&arm, "linux/arm64"));
        assert!(matches_platform(&arm, "linux/arm64/v8"));
        assert!(!matches_platform(&arm, "linux/arm64/v7"));
        assert!(!matches_platform(&arm, "linux/amd64"));
        assert!(!matches_platform(&Value::Null, "linux/amd64"));
        assert_eq!(platform_name(&arm), "linux/arm64/v8");
    }
}
