//! Online garbage collection: reclaims blobs no manifest references while the registry keeps
//! serving pushes and pulls.
//!
//! 0. **Retention** expires tags outside their repository's policy and deletes the manifests
//!    nothing needs any more (see [`super::retention`]).
//! 1. **Mark**: every manifest, and the config, layers and child manifests its content names.
//! 2. **Unlink**: repository links to unmarked blobs that are older than the grace period go
//!    (pushing a manifest refreshes the links it references, so a blob pushed long ago and
//!    referenced just now is kept).
//! 3. **Sweep**: stored blobs that are unmarked, older than the grace period, and — checked
//!    again under the collector's lock — neither linked nor a manifest anywhere are deleted.
//!    Publishing an upload with its link, mounting, and pushing a manifest hold the other side
//!    of that lock, so none of them can interleave with a deletion.
//! 4. Upload sessions untouched for the upload TTL are removed.
//!
//! The grace period is what protects blobs uploaded for a manifest that has not arrived yet.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::Registry;
use super::error::Result;
use crate::reference::Digest;

/// When and how garbage is collected.
#[derive(Clone, Copy, Debug)]
pub struct GcSettings {
    /// Time between collections.
    pub interval: Duration,
    /// Unreferenced blobs younger than this are kept (in-flight pushes).
    pub grace: Duration,
    /// Upload sessions untouched for this long are removed.
    pub upload_ttl: Duration,
}

/// What one collection did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Tags expired by retention policies.
    pub tags_expired: usize,
    /// Manifests deleted because retention left nothing that needs them.
    pub manifests_deleted: usize,
    /// Repository links removed.
    pub links_removed: usize,
    /// Blobs deleted.
    pub blobs_deleted: usize,
    /// Bytes reclaimed.
    pub bytes_freed: u64,
    /// Upload sessions removed.
    pub uploads_removed: usize,
}

impl Registry {
    /// Runs one collection.
    pub async fn collect_garbage(&self, grace: Duration, upload_ttl: Duration) -> Result<GcReport> {
        let inner = &self.inner;
        let now = SystemTime::now();
        let cutoff = now - grace;
        let now_ms = depot_control::store::now_ms();
        let cutoff_ms = now_ms - grace.as_millis() as i64;
        let pruned = self.apply_retention(now_ms).await?;
        let mut report = GcReport {
            tags_expired: pruned.tags,
            manifests_deleted: pruned.manifests,
            ..GcReport::default()
        };
        let marked = self.mark().await?;

        for (repository, digest) in inner.metadata.links_older_than(cutoff_ms).await? {
            if marked.contains(&digest) {
                continue;
            }
            let _exclusive = inner.gc_lock.write().await;
            if inner
                .metadata
                .unlink_if_older(&repository, &digest, cutoff_ms)
                .await?
            {
                report.links_removed += 1;
            }
        }
        for (digest, modified) in inner.storage.list_blobs().await? {
            if modified >= cutoff || marked.contains(&digest.to_string()) {
                continue;
            }
            let _exclusive = inner.gc_lock.write().await;
            if !inner.metadata.digest_in_use(&digest).await? {
                report.bytes_freed += inner.storage.delete_blob(&digest).await?;
                report.blobs_deleted += 1;
            }
        }
        report.uploads_removed = inner.storage.remove_stale_uploads(upload_ttl).await?;
        Ok(report)
    }

    /// Every digest a manifest is or names.
    async fn mark(&self) -> Result<HashSet<String>> {
        let mut marked = HashSet::new();
        for digest in self.inner.metadata.all_manifest_digests().await? {
            let Ok(parsed) = digest.parse::<Digest>() else {
                continue;
            };
            match self.inner.storage.read_small_blob(&parsed).await {
                Ok(content) => {
                    if let Ok(manifest) = serde_json::from_slice::<Value>(&content) {
                        marked.extend(named_digests(&manifest));
                    }
                }
                Err(err) => tracing::warn!(%digest, %err, "a manifest's content is missing"),
            }
            marked.insert(digest);
        }
        Ok(marked)
    }

    /// Collects garbage every `settings.interval`, and removes idle upload sessions every
    /// quarter of the upload TTL (at least every 15 minutes), logging what each run reclaimed,
    /// until the returned task is aborted.
    pub fn spawn_gc(&self, settings: GcSettings) -> tokio::task::JoinHandle<()> {
        let registry = self.clone();
        tokio::spawn(async move {
            tokio::join!(registry.reap_uploads(settings), registry.collect(settings));
        })
    }

    async fn collect(&self, settings: GcSettings) {
        let mut ticks = tokio::time::interval(settings.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            match self
                .collect_garbage(settings.grace, settings.upload_ttl)
                .await
            {
                Ok(report) if report != GcReport::default() => {
                    tracing::info!(?report, "registry garbage collected");
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(%err, "registry garbage collection failed"),
            }
        }
    }

    async fn reap_uploads(&self, settings: GcSettings) {
        let every =
            (settings.upload_ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(15 * 60));
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            let storage = &self.inner.storage;
            match storage.remove_stale_uploads(settings.upload_ttl).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "idle registry uploads removed"),
                Err(err) => tracing::warn!(%err, "removing idle registry uploads failed"),
            }
        }
    }
}

fn named_digests(manifest: &Value) -> impl Iterator<Item = String> + '_ {
    let config = manifest["config"]["digest"].as_str();
    let listed = ["layers", "manifests"]
        .into_iter()
        .flat_map(|key| manifest[key].as_array().into_iter().flatten())
        .filter_map(|d| d["digest"].as_str());
    config.into_iter().chain(listed).map(str::to_owned)
}
