//! Retention: which images a repository keeps, and removing the others.
//!
//! An image is a tag. A repository keeps tags pushed within a number of days (1, 7 — the
//! default —, 14 or 30) or its most recently pushed tags (5, 10, 25, 50 or 100). Each garbage
//! collection first expires the tags that fall outside their repository's policy, then prunes
//! what they leave behind: a manifest that lost its last tag is deleted unless an index of the
//! repository still lists it, and so are, in turn, the untagged children of a deleted index and
//! the referrers (signatures, SBOMs) of a deleted manifest. Garbage collection then reclaims
//! their blobs. Deleting tags through `RegistryService.DeleteImage` prunes the same way.

use std::collections::HashSet;

use serde_json::Value;

use super::Registry;
use super::error::Result;
use crate::reference::{Digest, Name};

/// Allowed values of [`Retention::MaxAgeDays`].
pub const AGE_DAYS: [u32; 4] = [1, 7, 14, 30];
/// Allowed values of [`Retention::KeepTags`].
pub const TAG_COUNTS: [u32; 5] = [5, 10, 25, 50, 100];

/// Media types of manifests that list other manifests.
const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// A repository's retention policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// Keep tags pushed within this many days.
    MaxAgeDays(u32),
    /// Keep this many most recently pushed tags.
    KeepTags(u32),
}

impl Retention {
    /// The policy of a repository that has none of its own: seven days.
    pub const DEFAULT: Retention = Retention::MaxAgeDays(7);

    /// Checks the value is one the registry offers.
    pub fn validate(self) -> std::result::Result<Self, String> {
        let (value, allowed, what) = match self {
            Retention::MaxAgeDays(days) => (days, &AGE_DAYS[..], "days"),
            Retention::KeepTags(count) => (count, &TAG_COUNTS[..], "tags"),
        };
        if allowed.contains(&value) {
            Ok(self)
        } else {
            let choices: Vec<String> = allowed.iter().map(u32::to_string).collect();
            Err(format!(
                "retention by {what} must be one of {}, not {value}",
                choices.join(", ")
            ))
        }
    }

    fn from_row(row: (Option<i32>, Option<i32>)) -> Option<Self> {
        match row {
            (Some(days), _) => Some(Retention::MaxAgeDays(days as u32)),
            (None, Some(count)) => Some(Retention::KeepTags(count as u32)),
            (None, None) => None,
        }
    }

    fn to_row(self) -> (Option<i32>, Option<i32>) {
        match self {
            Retention::MaxAgeDays(days) => (Some(days as i32), None),
            Retention::KeepTags(count) => (None, Some(count as i32)),
        }
    }
}

/// What applying retention removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Tags expired.
    pub tags: usize,
    /// Manifests deleted.
    pub manifests: usize,
}

impl Registry {
    /// The policy set on `repository`, if any.
    pub async fn retention(&self, repository: &Name) -> Result<Option<Retention>> {
        let row = self.inner.metadata.retention(repository.as_str()).await?;
        Ok(row.and_then(Retention::from_row))
    }

    /// Sets `repository`'s policy; `None` restores the default.
    pub async fn set_retention(&self, repository: &Name, policy: Option<Retention>) -> Result<()> {
        self.inner
            .metadata
            .set_retention(repository.as_str(), policy.map(Retention::to_row))
            .await
    }

    /// Expires, in every repository, the tags its policy no longer keeps as of `now_ms`, and
    /// prunes what they leave behind.
    pub async fn apply_retention(&self, now_ms: i64) -> Result<Pruned> {
        let metadata = &self.inner.metadata;
        let mut total = Pruned::default();
        for repository in metadata.tagged_repositories().await? {
            let policy = metadata
                .retention(&repository)
                .await?
                .and_then(Retention::from_row)
                .unwrap_or(Retention::DEFAULT);
            let tags = metadata.tags_by_age(&repository).await?;
            let expired: Vec<&(String, String, i64)> = match policy {
                Retention::MaxAgeDays(days) => {
                    let cutoff = now_ms - i64::from(days) * 24 * 60 * 60 * 1000;
                    tags.iter().filter(|(_, _, at)| *at < cutoff).collect()
                }
                Retention::KeepTags(count) => tags.iter().skip(count as usize).collect(),
            };
            let mut untagged = Vec::new();
            for (tag, digest, updated_at) in expired {
                if metadata.expire_tag(&repository, tag, *updated_at).await? {
                    total.tags += 1;
                    untagged.push(digest.clone());
                }
            }
            if !untagged.is_empty() {
                total.manifests += self.prune(&repository, untagged).await?;
            }
        }
        Ok(total)
    }

    /// Deletes the manifests among `candidates` (digests whose tags were just removed) that
    /// nothing in `repository` needs any more, then their untagged children and referrers.
    /// Returns how many manifests were deleted.
    pub(super) async fn prune(&self, repository: &str, candidates: Vec<String>) -> Result<usize> {
        let metadata = &self.inner.metadata;
        let name: Name = repository
            .parse()
            .map_err(|()| super::RegistryError::internal("a stored repository name is invalid"))?;
        let mut queue = candidates;
        let mut deleted = 0;
        let mut seen = HashSet::new();
        while let Some(digest) = queue.pop() {
            if !seen.insert(digest.clone()) {
                continue;
            }
            let Ok(parsed) = digest.parse::<Digest>() else {
                continue;
            };
            let _exclusive = self.inner.gc_lock.write().await;
            if metadata.is_tagged(repository, &digest).await?
                || self.listed_by_an_index(repository, &digest).await?
            {
                continue;
            }
            let children = match self.inner.storage.read_small_blob(&parsed).await {
                Ok(content) => listed_manifests(&content),
                Err(_) => Vec::new(),
            };
            if metadata.delete_manifest(&name, &parsed).await? {
                deleted += 1;
                queue.extend(children);
                queue.extend(metadata.referrer_digests(repository, &digest).await?);
            }
        }
        Ok(deleted)
    }

    /// Whether an index of `repository` lists `digest`.
    async fn listed_by_an_index(&self, repository: &str, digest: &str) -> Result<bool> {
        for index in self
            .inner
            .metadata
            .manifests_of_type(repository, &INDEX_TYPES)
            .await?
        {
            let Ok(parsed) = index.parse::<Digest>() else {
                continue;
            };
            let Ok(content) = self.inner.storage.read_small_blob(&parsed).await else {
                continue;
            };
            if listed_manifests(&content).iter().any(|d| d == digest) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The digests an index lists (none for anything else).
fn listed_manifests(content: &[u8]) -> Vec<String> {
    let Ok(manifest) = serde_json::from_slice::<Value>(content) else {
        return Vec::new();
    };
    manifest["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["digest"].as_str().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Retention;

    #[test]
    fn only_offered_values_validate() {
        for days in [1, 7, 14, 30] {
            assert!(Retention::MaxAgeDays(days).validate().is_ok());
        }
        for count in [5, 10, 25, 50, 100] {
            assert!(Retention::KeepTags(count).validate().is_ok());
        }
        let err = Retention::MaxAgeDays(3).validate().unwrap_err();
        assert!(err.contains("1, 7, 14, 30"), "{err}");
        assert!(Retention::KeepTags(0).validate().is_err());
        for policy in [Retention::MaxAgeDays(14), Retention::KeepTags(25)] {
            assert_eq!(Retention::from_row(policy.to_row()), Some(policy));
        }
    }
}
