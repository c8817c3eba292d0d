//! Builds, their steps, and the pushes recorded against them.

use std::time::Duration;

use super::Project;
use super::{Store, StoreError, affected, now_ms};
use crate::ids;
use crate::tokens::{TokenKind, TokenSecret};

/// A build record.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Build {
    /// Id.
    pub id: String,
    /// Project.
    pub project_id: String,
    /// `depot.cli.v1.BuildStatus` value.
    pub status: i64,
    /// Failure message.
    pub error: Option<String>,
    /// Creation time (ms since epoch).
    pub created_at: i64,
    /// Finish time (ms since epoch).
    pub finished_at: Option<i64>,
    /// The `CreateBuildRequest` that started it (protobuf, base64).
    pub request: Option<String>,
    /// When its client last reported health or asked for its builder (ms since epoch).
    pub last_seen_at: Option<i64>,
    /// When an operator asked for it to be canceled (ms since epoch).
    pub cancel_requested_at: Option<i64>,
    /// 1 if the build is isolated (a fork's pull request: a throwaway-cache builder, no
    /// registry access), else 0.
    pub isolated: i64,
}

impl Build {
    /// The status in lower case, as the official CLI prints it (`running`, `finished`,
    /// `failed`, `canceled`).
    pub fn status_name(&self) -> String {
        depot_core::proto::depot::cli::v1::BuildStatus::try_from(self.status as i32)
            .map(|s| {
                s.as_str_name()
                    .trim_start_matches("BUILD_STATUS_")
                    .to_lowercase()
            })
            .unwrap_or_else(|_| "unknown".into())
    }
}

/// One step of a build (a BuildKit vertex), as reported by its client.
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct BuildStep {
    /// The vertex digest.
    pub digest: String,
    /// Its name (`[stage 2/3] RUN make`).
    pub name: String,
    /// Start time (ms since epoch).
    pub started_at: Option<i64>,
    /// Completion time (ms since epoch).
    pub completed_at: Option<i64>,
    /// Whether it came from the cache (1) or ran (0).
    pub cached: i64,
    /// Why it failed.
    pub error: Option<String>,
}

/// The start of a query summing the time cached steps saved, in project `$1`: for each cached
/// step (`s`, filtered by what follows), what the same step took when it last ran uncached in
/// the project. Steps are matched by name (`[2/3] RUN make`): vertex digests change from build
/// to build when a local context is involved (its session is part of the digest).
/// Callers add the filter and close the subquery.
const SAVED_BY_CACHED_STEPS: &str = "SELECT CAST(SUM(took) AS BIGINT) FROM (SELECT \
     (SELECT p.completed_at - p.started_at FROM build_steps p JOIN builds b ON b.id = p.build_id \
     WHERE p.name = s.name AND b.project_id = $1 AND p.cached = 0 \
     AND p.started_at IS NOT NULL AND p.completed_at IS NOT NULL \
     ORDER BY p.completed_at DESC LIMIT 1) AS took FROM build_steps s";

impl Store {
    /// Records a new running build (with the request that started it, protobuf as base64)
    /// and mints its build token, in one transaction.
    pub async fn create_build(
        &self,
        project: &Project,
        request: String,
        token_ttl: Duration,
        isolated: bool,
    ) -> Result<(Build, TokenSecret), StoreError> {
        let build = Build {
            id: ids::new_id(),
            project_id: project.id.clone(),
            status: 1,
            error: None,
            created_at: now_ms(),
            finished_at: None,
            request: Some(request),
            last_seen_at: None,
            cancel_requested_at: None,
            isolated: i64::from(isolated),
        };
        let kind = if isolated {
            TokenKind::IsolatedBuild
        } else {
            TokenKind::Build
        };
        let secret = TokenSecret::generate(kind);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO builds (id, project_id, status, created_at, request, isolated) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&build.id)
        .bind(&build.project_id)
        .bind(build.status)
        .bind(build.created_at)
        .bind(build.request.clone())
        .bind(build.isolated)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO tokens (id, secret_hash, kind, description, org_id, project_id, build_id, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(ids::new_id())
        .bind(secret.hash())
        .bind(kind.as_str())
        .bind(format!("build {}", build.id))
        .bind(&project.org_id)
        .bind(&project.id)
        .bind(&build.id)
        .bind(build.created_at)
        .bind(build.created_at + token_ttl.as_millis() as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((build, secret))
    }

    /// A build by id.
    pub async fn get_build(&self, id: &str) -> Result<Option<Build>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, project_id, status, error, created_at, finished_at, request, last_seen_at, \
             cancel_requested_at, isolated FROM builds WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Sets a running build's final status. Returns false if it had already finished.
    pub async fn finish_build(
        &self,
        id: &str,
        status: i64,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE builds SET status = $1, error = $2, finished_at = $3 WHERE id = $4 AND status = 1",
        )
        .bind(status)
        .bind(error.map(str::to_owned))
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(affected(&result))
    }

    /// Shares a build: its share token (the one it has, or a new one); `None` if there is no
    /// such build.
    pub async fn share_build(&self, id: &str) -> Result<Option<String>, StoreError> {
        let token = ids::new_secret_id();
        sqlx::query("UPDATE builds SET share_token = COALESCE(share_token, $1) WHERE id = $2")
            .bind(&token)
            .bind(id)
            .execute(&self.pool)
            .await?;
        let shared: Option<Option<String>> =
            sqlx::query_scalar("SELECT share_token FROM builds WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(shared.flatten())
    }

    /// Stops sharing a build: its share link stops working.
    pub async fn stop_sharing_build(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE builds SET share_token = NULL WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The build shared under `token`, if one is.
    pub async fn shared_build(&self, token: &str) -> Result<Option<Build>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, project_id, status, error, created_at, finished_at, request, last_seen_at, \
             cancel_requested_at, isolated FROM builds WHERE share_token = $1",
        )
        .bind(token)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Time (ms) a build's cached steps saved (see [`SAVED_BY_CACHED_STEPS`]).
    pub async fn build_time_saved(&self, build: &Build) -> Result<i64, StoreError> {
        let saved: Option<i64> = sqlx::query_scalar(&format!(
            "{SAVED_BY_CACHED_STEPS} WHERE s.build_id = $2 AND s.cached = 1) AS cached_steps"
        ))
        .bind(&build.project_id)
        .bind(&build.id)
        .fetch_one(&self.pool)
        .await?;
        Ok(saved.unwrap_or(0).max(0))
    }

    /// Time (ms) the cached steps of a project's builds created in `[start, end)` saved.
    pub async fn project_time_saved(
        &self,
        project_id: &str,
        start: i64,
        end: i64,
    ) -> Result<i64, StoreError> {
        let saved: Option<i64> = sqlx::query_scalar(&format!(
            "{SAVED_BY_CACHED_STEPS} JOIN builds sb ON sb.id = s.build_id \
             WHERE sb.project_id = $1 AND sb.created_at >= $2 AND sb.created_at < $3 \
             AND s.cached = 1) AS cached_steps"
        ))
        .bind(project_id)
        .bind(start)
        .bind(end)
        .fetch_one(&self.pool)
        .await?;
        Ok(saved.unwrap_or(0).max(0))
    }

    /// A project's builds, newest first, starting after the cursor `(created_at, id)`.
    pub async fn list_builds(
        &self,
        project_id: &str,
        limit: i64,
        after: Option<(i64, &str)>,
    ) -> Result<Vec<Build>, StoreError> {
        let (created_at, id) = after.unwrap_or((i64::MAX, ""));
        Ok(sqlx::query_as(
            "SELECT id, project_id, status, error, created_at, finished_at, request, last_seen_at, \
             cancel_requested_at, isolated FROM builds \
             WHERE project_id = $1 AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
             ORDER BY created_at DESC, id DESC LIMIT $4",
        )
        .bind(project_id)
        .bind(created_at)
        .bind(id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many of `project_id`'s builds were created in `[start, end)` (ms since epoch), and
    /// how long those that ended took, in ms.
    pub async fn build_usage(
        &self,
        project_id: &str,
        start: i64,
        end: i64,
    ) -> Result<(i64, i64), StoreError> {
        Ok(sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN finished_at IS NULL THEN 0 \
             ELSE finished_at - created_at END), 0) AS BIGINT) FROM builds \
             WHERE project_id = $1 AND created_at >= $2 AND created_at < $3",
        )
        .bind(project_id)
        .bind(start)
        .bind(end)
        .fetch_one(&self.pool)
        .await?)
    }

    /// How many of `project_id`'s builds are running.
    pub async fn running_builds(&self, project_id: &str) -> Result<i64, StoreError> {
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM builds WHERE project_id = $1 AND status = 1")
                .bind(project_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(count)
    }

    /// Notes that a running build's client is alive. Returns false if the build is not running.
    pub async fn touch_build(&self, id: &str) -> Result<bool, StoreError> {
        let result =
            sqlx::query("UPDATE builds SET last_seen_at = $1 WHERE id = $2 AND status = 1")
                .bind(now_ms())
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(affected(&result))
    }

    /// Asks for a running build to be canceled (its client learns it from its next health
    /// report). Returns false if the build is not running.
    pub async fn request_build_cancel(&self, id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE builds SET cancel_requested_at = COALESCE(cancel_requested_at, $1) \
             WHERE id = $2 AND status = 1",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(affected(&result))
    }

    /// Running builds whose client was last seen (or which were created, if never seen), or
    /// whose cancellation was asked for, before `before` (ms since epoch).
    pub async fn stale_builds(&self, before: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM builds WHERE status = 1 \
             AND (COALESCE(last_seen_at, created_at) < $1 OR cancel_requested_at < $1) \
             ORDER BY created_at",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Merges reported steps into a build's record: names and errors are replaced, times and
    /// cache hits kept once known. Steps beyond `max_steps` per build are dropped.
    pub async fn record_build_steps(
        &self,
        build_id: &str,
        steps: &[BuildStep],
        max_steps: i64,
    ) -> Result<(), StoreError> {
        // Writing first takes SQLite's write lock at the start: a transaction that read first
        // fails with "database is locked" (a stale snapshot) when another report committed in
        // between, which two platforms' reports of one build do.
        let mut tx = self.pool.begin().await?;
        let mut new_steps = Vec::new();
        for step in steps {
            if !update_step(&mut tx, build_id, step).await? {
                new_steps.push(step);
            }
        }
        let known: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM build_steps WHERE build_id = $1")
            .bind(build_id)
            .fetch_one(&mut *tx)
            .await?;
        let mut room = max_steps - known;
        for step in new_steps {
            // A step reported twice in one batch is inserted once, then updated.
            if room <= 0 || update_step(&mut tx, build_id, step).await? {
                continue;
            }
            // Another report of the build may insert the step first (PostgreSQL's
            // transactions do not see each other's new rows): then it is merged into.
            let inserted = sqlx::query(
                "INSERT INTO build_steps (build_id, digest, name, started_at, completed_at, \
                 cached, error) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (build_id, digest) DO NOTHING",
            )
            .bind(build_id)
            .bind(&step.digest)
            .bind(&step.name)
            .bind(step.started_at)
            .bind(step.completed_at)
            .bind(step.cached)
            .bind(step.error.clone())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                update_step(&mut tx, build_id, step).await?;
                continue;
            }
            room -= 1;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A build's steps in the order they started.
    pub async fn build_steps(&self, build_id: &str) -> Result<Vec<BuildStep>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT digest, name, started_at, completed_at, cached, error FROM build_steps \
             WHERE build_id = $1 ORDER BY COALESCE(started_at, completed_at, 0), digest",
        )
        .bind(build_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records that `build_id`'s platform of `arch` runs on the builder at `endpoint` (the
    /// latest hand-out of that architecture wins).
    pub async fn record_build_builder(
        &self,
        build_id: &str,
        arch: &str,
        endpoint: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO build_builders (build_id, arch, endpoint, acquired_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (build_id, arch) \
             DO UPDATE SET endpoint = excluded.endpoint, acquired_at = excluded.acquired_at",
        )
        .bind(build_id)
        .bind(arch)
        .bind(endpoint)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The builders a build ran on: `(architecture, endpoint)`, by architecture.
    pub async fn build_builders(
        &self,
        build_id: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT arch, endpoint FROM build_builders WHERE build_id = $1 ORDER BY arch",
        )
        .bind(build_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records the start of a `depot push` of `build_id` to `tag`; returns the push id.
    pub async fn start_push(&self, build_id: &str, tag: &str) -> Result<String, StoreError> {
        let id = ids::new_id();
        sqlx::query("INSERT INTO pushes (id, build_id, tag, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&id)
            .bind(build_id)
            .bind(tag)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(id)
    }

    /// Records the end of a push of `build_id`. Returns false if no such unfinished push exists.
    pub async fn finish_push(
        &self,
        push_id: &str,
        build_id: &str,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE pushes SET finished_at = $1, error = $2 WHERE id = $3 AND build_id = $4 \
             AND finished_at IS NULL",
        )
        .bind(now_ms())
        .bind(error.map(str::to_owned))
        .bind(push_id)
        .bind(build_id)
        .execute(&self.pool)
        .await?;
        Ok(affected(&result))
    }
}

/// Merges `step` into its row, if the build has one for it (names and errors replaced, times
/// and cache hits kept once known); whether it had.
async fn update_step(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    build_id: &str,
    step: &BuildStep,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE build_steps SET name = $1, started_at = COALESCE(started_at, $2), \
         completed_at = COALESCE($3, completed_at), \
         cached = CASE WHEN $4 = 1 THEN 1 ELSE cached END, \
         error = COALESCE($5, error) WHERE build_id = $6 AND digest = $7",
    )
    .bind(&step.name)
    .bind(step.started_at)
    .bind(step.completed_at)
    .bind(step.cached)
    .bind(step.error.clone())
    .bind(build_id)
    .bind(&step.digest)
    .execute(&mut **tx)
    .await?;
    Ok(affected(&result))
}
