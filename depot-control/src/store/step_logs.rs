//! What build steps printed: lines kept per build, in arrival order, up to a cap per build,
//! and dropped when the build's logs expire.

use std::collections::HashSet;

use super::{Store, StoreError};

/// One line a step printed.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct StepLogLine {
    /// Position in the build's log (1-based, increasing in arrival order).
    pub seq: i64,
    /// The step's vertex digest.
    pub digest: String,
    /// When BuildKit saw it (ms since epoch).
    pub logged_at: i64,
    /// The text, without its line break.
    pub message: String,
}

/// The note that ends a build's log once it reached its cap.
pub const TRUNCATED_NOTE: &str = "[depot-server: this build's log reached its size limit; \
                                  later lines were not kept]";

impl Store {
    /// Appends `lines` (`(digest, logged_at, message)`) to a build's log. The first line that
    /// would take the build's kept lines (counted with their line breaks) past `max_bytes` is
    /// replaced by one [`TRUNCATED_NOTE`], and the rest are dropped.
    /// Returns how many lines were kept.
    pub async fn append_step_logs(
        &self,
        build_id: &str,
        lines: &[(String, i64, String)],
        max_bytes: i64,
    ) -> Result<usize, StoreError> {
        if lines.is_empty() {
            return Ok(0);
        }
        // Writing first takes the build's row lock (PostgreSQL) or the write lock (SQLite),
        // so concurrent reports of one build number their lines without gaps or clashes.
        let mut tx = self.pool.begin().await?;
        let counters: Option<(i64, i64)> = sqlx::query_as(
            "UPDATE builds SET log_lines = log_lines WHERE id = $1 \
             RETURNING log_bytes, log_lines",
        )
        .bind(build_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((mut bytes, mut seq)) = counters else {
            return Ok(0);
        };
        let mut kept = 0;
        for (digest, logged_at, message) in lines {
            // Past the limit (`max_bytes + 1` once the note is written), nothing is kept.
            if bytes > max_bytes {
                break;
            }
            let size = message.len() as i64 + 1;
            let message = if bytes + size > max_bytes {
                bytes = max_bytes + 1;
                TRUNCATED_NOTE
            } else {
                bytes += size;
                message.as_str()
            };
            seq += 1;
            sqlx::query(
                "INSERT INTO build_step_logs (build_id, seq, digest, logged_at, message) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(build_id)
            .bind(seq)
            .bind(digest)
            .bind(*logged_at)
            .bind(message)
            .execute(&mut *tx)
            .await?;
            kept += 1;
        }
        sqlx::query("UPDATE builds SET log_bytes = $1, log_lines = $2 WHERE id = $3")
            .bind(bytes)
            .bind(seq)
            .bind(build_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(kept)
    }

    /// Notes that the server watches the build's solves itself (its logs come from there).
    pub async fn mark_status_observed(&self, build_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE builds SET status_observed = 1 WHERE id = $1 AND status_observed = 0")
            .bind(build_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether the server watches the build's solves itself.
    pub async fn status_observed(&self, build_id: &str) -> Result<bool, StoreError> {
        let observed: Option<i64> =
            sqlx::query_scalar("SELECT status_observed FROM builds WHERE id = $1")
                .bind(build_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(observed == Some(1))
    }

    /// Up to `limit` lines of one step of a build, after position `after`.
    pub async fn step_logs(
        &self,
        build_id: &str,
        digest: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StepLogLine>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT seq, digest, logged_at, message FROM build_step_logs \
             WHERE build_id = $1 AND digest = $2 AND seq > $3 ORDER BY seq LIMIT $4",
        )
        .bind(build_id)
        .bind(digest)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The last `limit` lines of one step of a build, in order.
    pub async fn last_step_logs(
        &self,
        build_id: &str,
        digest: &str,
        limit: i64,
    ) -> Result<Vec<StepLogLine>, StoreError> {
        let mut lines: Vec<StepLogLine> = sqlx::query_as(
            "SELECT seq, digest, logged_at, message FROM build_step_logs \
             WHERE build_id = $1 AND digest = $2 ORDER BY seq DESC LIMIT $3",
        )
        .bind(build_id)
        .bind(digest)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        lines.reverse();
        Ok(lines)
    }

    /// The digests of a build's steps that have kept log lines.
    pub async fn steps_with_logs(&self, build_id: &str) -> Result<HashSet<String>, StoreError> {
        let digests: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT digest FROM build_step_logs WHERE build_id = $1")
                .bind(build_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(digests.into_iter().collect())
    }

    /// Deletes the logs of builds that finished before `before` (ms since epoch). Returns
    /// how many builds lost their logs.
    pub async fn expire_step_logs(&self, before: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let expired = sqlx::query(
            "UPDATE builds SET log_bytes = 0, log_lines = 0 \
             WHERE finished_at < $1 AND log_lines > 0",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if expired > 0 {
            sqlx::query(
                "DELETE FROM build_step_logs WHERE build_id IN \
                 (SELECT id FROM builds WHERE finished_at < $1)",
            )
            .bind(before)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(expired)
    }
}
