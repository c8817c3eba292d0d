//! What a project's recent builds add up to: per build, its duration and cache hits; per step
//! name, how long it takes when it runs. Aggregated in the database, one query each.

use super::{Store, StoreError};

/// One build of the trend, with its steps counted.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct BuildPoint {
    /// The build.
    pub id: String,
    /// `depot.cli.v1.BuildStatus` value.
    pub status: i64,
    /// Creation time (ms since epoch).
    pub created_at: i64,
    /// Finish time (ms since epoch).
    pub finished_at: Option<i64>,
    /// Steps it reported.
    pub steps: i64,
    /// Of which cached.
    pub cached: i64,
}

/// A step (by name) as it runs across a project's recent builds.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SlowStep {
    /// The step's name.
    pub name: String,
    /// How many times it ran (not cached).
    pub runs: i64,
    /// Its average time (ms).
    pub average_ms: i64,
    /// Its longest time (ms).
    pub longest_ms: i64,
}

impl Store {
    /// The project's last `limit` builds, newest first, with their steps counted.
    pub async fn build_trend(
        &self,
        project_id: &str,
        limit: i64,
    ) -> Result<Vec<BuildPoint>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT b.id, b.status, b.created_at, b.finished_at, \
             CAST(COUNT(s.digest) AS BIGINT) AS steps, \
             CAST(COALESCE(SUM(CASE WHEN s.cached = 1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS cached \
             FROM (SELECT id, status, created_at, finished_at FROM builds WHERE project_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2) b \
             LEFT JOIN build_steps s ON s.build_id = b.id \
             GROUP BY b.id, b.status, b.created_at, b.finished_at \
             ORDER BY b.created_at DESC, b.id DESC",
        )
        .bind(project_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The `limit` steps that take longest on average when they run, over the project's builds
    /// created since `since` (ms since epoch).
    pub async fn slowest_steps(
        &self,
        project_id: &str,
        since: i64,
        limit: i64,
    ) -> Result<Vec<SlowStep>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT s.name, CAST(COUNT(*) AS BIGINT) AS runs, \
             CAST(AVG(s.completed_at - s.started_at) AS BIGINT) AS average_ms, \
             CAST(MAX(s.completed_at - s.started_at) AS BIGINT) AS longest_ms \
             FROM build_steps s JOIN builds b ON b.id = s.build_id \
             WHERE b.project_id = $1 AND b.created_at >= $2 AND s.cached = 0 \
             AND s.started_at IS NOT NULL AND s.completed_at IS NOT NULL \
             GROUP BY s.name ORDER BY average_ms DESC, s.name LIMIT $3",
        )
        .bind(project_id)
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
