//! Registry metadata in the control plane's database (SQLite or PostgreSQL): blob links per
//! repository, manifests and tags.

use sqlx::AnyPool;

use super::error::Result;
use crate::reference::{Digest, Name};

/// A stored manifest's metadata.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ManifestRow {
    /// Digest (`sha256:…`).
    pub digest: String,
    /// Media type it was pushed with.
    pub media_type: String,
    /// Artifact type (the `artifactType` field, else the config media type).
    pub artifact_type: Option<String>,
    /// Annotations as JSON text.
    pub annotations: Option<String>,
    /// Size in bytes.
    pub size: i64,
}

/// A tag of one of a project's repositories, with what it points at.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TaggedManifest {
    /// Repository.
    pub repository: String,
    /// Tag.
    pub tag: String,
    /// Manifest digest.
    pub digest: String,
    /// When the tag was last pushed (ms since epoch).
    pub updated_at: i64,
}

/// A manifest about to be recorded.
pub struct NewManifest<'a> {
    /// Digest.
    pub digest: &'a Digest,
    /// Media type.
    pub media_type: &'a str,
    /// Artifact type for the referrers API.
    pub artifact_type: Option<&'a str>,
    /// Subject digest, if the manifest refers to another.
    pub subject: Option<&'a str>,
    /// Annotations as JSON text.
    pub annotations: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// The blobs it references (config and layers), whose links are refreshed so garbage
    /// collection sees them in use.
    pub blobs: &'a [Digest],
}

/// Queries over the registry tables.
#[derive(Clone, Debug)]
pub struct Metadata {
    pool: AnyPool,
}

impl Metadata {
    /// Applies the registry's migrations to `pool` and wraps it.
    pub async fn open(pool: AnyPool) -> std::result::Result<Self, sqlx::migrate::MigrateError> {
        let mut migrator = sqlx::migrate!("./migrations");
        // depot-core's migrations live in the same table.
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The secret named `name`: `candidate` if none was kept yet (the first replica to ask
    /// keeps its own; the others read it back).
    pub async fn signing_secret(&self, name: &str, candidate: &str) -> Result<String> {
        sqlx::query(
            "INSERT INTO registry_signing_keys (name, secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(depot_control::store::now_ms())
        .execute(&self.pool)
        .await?;
        let (secret,): (String,) =
            sqlx::query_as("SELECT secret FROM registry_signing_keys WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?;
        Ok(secret)
    }

    /// Records that `repository` holds blob `digest`.
    pub async fn link_blob(&self, repository: &Name, digest: &Digest, size: u64) -> Result<()> {
        sqlx::query(
            "INSERT INTO registry_blob_links (repository, digest, size, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (repository, digest) DO NOTHING",
        )
        .bind(repository.as_str())
        .bind(digest.to_string())
        .bind(size as i64)
        .bind(depot_control::store::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The size of blob `digest` if `repository` holds it.
    pub async fn blob_link(&self, repository: &Name, digest: &Digest) -> Result<Option<u64>> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT size FROM registry_blob_links WHERE repository = $1 AND digest = $2",
        )
        .bind(repository.as_str())
        .bind(digest.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(size,)| size as u64))
    }

    /// Repositories that hold blob `digest`.
    pub async fn repositories_with_blob(&self, digest: &Digest) -> Result<Vec<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT repository FROM registry_blob_links WHERE digest = $1")
                .bind(digest.to_string())
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(r,)| r).collect())
    }

    /// Removes `repository`'s link to a blob. Returns whether it had one.
    pub async fn unlink_blob(&self, repository: &Name, digest: &Digest) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM registry_blob_links WHERE repository = $1 AND digest = $2")
                .bind(repository.as_str())
                .bind(digest.to_string())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a manifest and, if given, points `tag` at it, in one transaction.
    pub async fn put_manifest(
        &self,
        repository: &Name,
        manifest: &NewManifest<'_>,
        tag: Option<&str>,
    ) -> Result<()> {
        let now = depot_control::store::now_ms();
        let digest = manifest.digest.to_string();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO registry_manifests (repository, digest, media_type, artifact_type, subject, \
             annotations, size, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (repository, digest) DO NOTHING",
        )
        .bind(repository.as_str())
        .bind(&digest)
        .bind(manifest.media_type)
        .bind(manifest.artifact_type.map(str::to_owned))
        .bind(manifest.subject.map(str::to_owned))
        .bind(manifest.annotations.clone())
        .bind(manifest.size as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for blob in manifest.blobs {
            sqlx::query(
                "UPDATE registry_blob_links SET created_at = $1 WHERE repository = $2 AND digest = $3",
            )
            .bind(now)
            .bind(repository.as_str())
            .bind(blob.to_string())
            .execute(&mut *tx)
            .await?;
        }
        if let Some(tag) = tag {
            sqlx::query(
                "INSERT INTO registry_tags (repository, tag, digest, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (repository, tag) DO UPDATE SET digest = $3, updated_at = $4",
            )
            .bind(repository.as_str())
            .bind(tag)
            .bind(&digest)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A manifest of `repository` by digest.
    pub async fn manifest(
        &self,
        repository: &Name,
        digest: &Digest,
    ) -> Result<Option<ManifestRow>> {
        Ok(sqlx::query_as(
            "SELECT digest, media_type, artifact_type, annotations, size FROM registry_manifests \
             WHERE repository = $1 AND digest = $2",
        )
        .bind(repository.as_str())
        .bind(digest.to_string())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The digest `tag` points at.
    pub async fn tag(&self, repository: &Name, tag: &str) -> Result<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT digest FROM registry_tags WHERE repository = $1 AND tag = $2")
                .bind(repository.as_str())
                .bind(tag)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(d,)| d))
    }

    /// Every tag of `repository`, sorted bytewise (the spec's lexical order, independent of the
    /// database's collation).
    pub async fn tags(&self, repository: &Name) -> Result<Vec<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT tag FROM registry_tags WHERE repository = $1")
                .bind(repository.as_str())
                .fetch_all(&self.pool)
                .await?;
        let mut tags: Vec<String> = rows.into_iter().map(|(t,)| t).collect();
        tags.sort();
        Ok(tags)
    }

    /// Whether `repository` has any manifest.
    pub async fn repository_exists(&self, repository: &Name) -> Result<bool> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT digest FROM registry_manifests WHERE repository = $1 LIMIT 1")
                .bind(repository.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    /// Every repository with a manifest, sorted bytewise.
    pub async fn repositories(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT repository FROM registry_manifests")
                .fetch_all(&self.pool)
                .await?;
        let mut repos: Vec<String> = rows.into_iter().map(|(r,)| r).collect();
        repos.sort();
        Ok(repos)
    }

    /// Removes a tag. Returns whether it existed.
    pub async fn delete_tag(&self, repository: &Name, tag: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM registry_tags WHERE repository = $1 AND tag = $2")
            .bind(repository.as_str())
            .bind(tag)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes a manifest and the tags pointing at it. Returns whether it existed.
    pub async fn delete_manifest(&self, repository: &Name, digest: &Digest) -> Result<bool> {
        let digest = digest.to_string();
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM registry_tags WHERE repository = $1 AND digest = $2")
            .bind(repository.as_str())
            .bind(&digest)
            .execute(&mut *tx)
            .await?;
        let done =
            sqlx::query("DELETE FROM registry_manifests WHERE repository = $1 AND digest = $2")
                .bind(repository.as_str())
                .bind(&digest)
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every manifest digest in any repository (the roots of garbage collection).
    pub async fn all_manifest_digests(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT digest FROM registry_manifests")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|(d,)| d).collect())
    }

    /// Blob links created (or last referenced) before `cutoff` (ms since epoch).
    pub async fn links_older_than(&self, cutoff: i64) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT repository, digest FROM registry_blob_links WHERE created_at < $1",
        )
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Removes a link if it is still older than `cutoff`. Returns whether it did.
    pub async fn unlink_if_older(
        &self,
        repository: &str,
        digest: &str,
        cutoff: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM registry_blob_links WHERE repository = $1 AND digest = $2 AND created_at < $3",
        )
        .bind(repository)
        .bind(digest)
        .bind(cutoff)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether any repository links `digest` or has it as a manifest.
    pub async fn digest_in_use(&self, digest: &Digest) -> Result<bool> {
        let digest = digest.to_string();
        let linked: Option<(String,)> =
            sqlx::query_as("SELECT repository FROM registry_blob_links WHERE digest = $1 LIMIT 1")
                .bind(&digest)
                .fetch_optional(&self.pool)
                .await?;
        if linked.is_some() {
            return Ok(true);
        }
        let manifest: Option<(String,)> =
            sqlx::query_as("SELECT repository FROM registry_manifests WHERE digest = $1 LIMIT 1")
                .bind(&digest)
                .fetch_optional(&self.pool)
                .await?;
        Ok(manifest.is_some())
    }

    /// Every tag in the repositories of `project` (`<project>` and `<project>/…`).
    pub async fn tagged_manifests(&self, project: &str) -> Result<Vec<TaggedManifest>> {
        Ok(sqlx::query_as(
            "SELECT repository, tag, digest, updated_at FROM registry_tags \
             WHERE repository = $1 OR repository LIKE $2",
        )
        .bind(project)
        .bind(format!("{project}/%"))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes every `(repository, tag)` in one transaction, or none of them if any is
    /// missing. Returns the positions of the missing ones in `targets`.
    pub async fn delete_tags(&self, targets: &[(Name, String)]) -> Result<Vec<usize>> {
        let mut tx = self.pool.begin().await?;
        let mut missing = Vec::new();
        for (i, (repository, tag)) in targets.iter().enumerate() {
            let done = sqlx::query("DELETE FROM registry_tags WHERE repository = $1 AND tag = $2")
                .bind(repository.as_str())
                .bind(tag)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                missing.push(i);
            }
        }
        if missing.is_empty() {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(missing)
    }

    /// Manifests of `repository` whose subject is `subject`.
    pub async fn referrers(&self, repository: &Name, subject: &Digest) -> Result<Vec<ManifestRow>> {
        Ok(sqlx::query_as(
            "SELECT digest, media_type, artifact_type, annotations, size FROM registry_manifests \
             WHERE repository = $1 AND subject = $2 ORDER BY created_at, digest",
        )
        .bind(repository.as_str())
        .bind(subject.to_string())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every repository with a tag.
    pub async fn tagged_repositories(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT repository FROM registry_tags")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|(r,)| r).collect())
    }

    /// Tags of `repository` with their digests and push times, newest first.
    pub async fn tags_by_age(&self, repository: &str) -> Result<Vec<(String, String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT tag, digest, updated_at FROM registry_tags WHERE repository = $1 \
             ORDER BY updated_at DESC, tag",
        )
        .bind(repository)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Removes a tag if it was not pushed again since `updated_at`. Returns whether it did.
    pub async fn expire_tag(&self, repository: &str, tag: &str, updated_at: i64) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM registry_tags WHERE repository = $1 AND tag = $2 AND updated_at = $3",
        )
        .bind(repository)
        .bind(tag)
        .bind(updated_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether a tag of `repository` points at `digest`.
    pub async fn is_tagged(&self, repository: &str, digest: &str) -> Result<bool> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT tag FROM registry_tags WHERE repository = $1 AND digest = $2 LIMIT 1",
        )
        .bind(repository)
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Manifests of `repository` with the given media types (digests).
    pub async fn manifests_of_type(
        &self,
        repository: &str,
        media_types: &[&str],
    ) -> Result<Vec<String>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT digest, media_type FROM registry_manifests WHERE repository = $1",
        )
        .bind(repository)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter(|(_, media_type)| media_types.contains(&media_type.as_str()))
            .map(|(digest, _)| digest)
            .collect())
    }

    /// Digests of the manifests of `repository` whose subject is `subject`.
    pub async fn referrer_digests(&self, repository: &str, subject: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT digest FROM registry_manifests WHERE repository = $1 AND subject = $2",
        )
        .bind(repository)
        .bind(subject)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(d,)| d).collect())
    }

    /// The retention policy set on `repository`, as `(max_age_days, keep_tags)`.
    pub async fn retention(&self, repository: &str) -> Result<Option<(Option<i32>, Option<i32>)>> {
        Ok(sqlx::query_as(
            "SELECT max_age_days, keep_tags FROM registry_retention WHERE repository = $1",
        )
        .bind(repository)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Sets (or with `None`, removes) the retention policy of `repository`.
    pub async fn set_retention(
        &self,
        repository: &str,
        policy: Option<(Option<i32>, Option<i32>)>,
    ) -> Result<()> {
        match policy {
            Some((max_age_days, keep_tags)) => {
                sqlx::query(
                    "INSERT INTO registry_retention (repository, max_age_days, keep_tags, updated_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (repository) DO UPDATE \
                     SET max_age_days = $2, keep_tags = $3, updated_at = $4",
                )
                .bind(repository)
                .bind(max_age_days)
                .bind(keep_tags)
                .bind(depot_control::store::now_ms())
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM registry_retention WHERE repository = $1")
                    .bind(repository)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }
}
