//! Durable control-plane state through sqlx: a SQLite file (the embedded default, created on
//! first start) or PostgreSQL (`postgres://…`), with the same SQL and embedded migrations.
//!
//! Every write is one statement or one transaction, so a failed request leaves no partial row.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, AnyQueryResult};
use sqlx::{AnyPool, Executor};

use super::ids;
use super::tokens::{TokenKind, TokenSecret};

/// A storage failure. Details are for logs; clients only learn that storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or migrated.
    #[error("cannot open database {url}: {source}")]
    Open {
        /// The database URL, without credentials.
        url: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// An organization.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Organization {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Creation time (ms since epoch).
    pub created_at: i64,
}

/// A user.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct User {
    /// Id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Creation time (ms since epoch).
    pub created_at: i64,
}

/// A project, with its organization's name.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Project {
    /// Id.
    pub id: String,
    /// Owning organization.
    pub org_id: String,
    /// The organization's name.
    pub org_name: String,
    /// Display name.
    pub name: String,
    /// Region label.
    pub region_id: String,
    /// Cache size to keep, in bytes.
    pub keep_bytes: i64,
    /// Cache age to keep, in days.
    pub keep_days: i64,
    /// When the cache was last reset (ms since epoch).
    pub cache_reset_at: Option<i64>,
    /// Creation time (ms since epoch).
    pub created_at: i64,
}

/// Fields of a new project.
#[derive(Clone, Debug)]
pub struct NewProject {
    /// Owning organization.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// Region label.
    pub region_id: String,
    /// Cache size to keep, in bytes.
    pub keep_bytes: i64,
    /// Cache age to keep, in days.
    pub keep_days: i64,
}

impl NewProject {
    /// Region recorded when a project is created without one.
    pub const DEFAULT_REGION: &str = "us-east-1";
    /// Cache size kept when a project is created without a cache policy (50 GiB).
    pub const DEFAULT_KEEP_BYTES: i64 = 50 * 1024 * 1024 * 1024;
    /// Cache age kept when a project is created without a cache policy.
    pub const DEFAULT_KEEP_DAYS: i64 = 14;

    /// A project in `org_id` with the default region and cache policy.
    pub fn with_defaults(org_id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            org_id: org_id.into(),
            name: name.into(),
            region_id: Self::DEFAULT_REGION.to_owned(),
            keep_bytes: Self::DEFAULT_KEEP_BYTES,
            keep_days: Self::DEFAULT_KEEP_DAYS,
        }
    }
}

/// Changes to a project; `None` keeps a field.
#[derive(Clone, Debug, Default)]
pub struct ProjectChanges {
    /// New name.
    pub name: Option<String>,
    /// New region.
    pub region_id: Option<String>,
    /// New cache policy (bytes, days).
    pub cache_policy: Option<(i64, i64)>,
}

/// A stored token (never its secret, only the secret's hash).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Token {
    /// Id (not secret; used to revoke).
    pub id: String,
    /// `user`, `organization`, `project`, `pull` or `build`.
    pub kind: String,
    /// Free text.
    pub description: String,
    /// For user tokens.
    pub user_id: Option<String>,
    /// For organization tokens, and the project's organization for project-scoped tokens.
    pub org_id: Option<String>,
    /// For project, pull and build tokens.
    pub project_id: Option<String>,
    /// For build tokens and build-scoped pull tokens.
    pub build_id: Option<String>,
    /// Creation time (ms since epoch).
    pub created_at: i64,
    /// Expiry (ms since epoch), if any.
    pub expires_at: Option<i64>,
    /// Revocation time (ms since epoch), if revoked.
    pub revoked_at: Option<i64>,
}

/// What a new token is scoped to.
#[derive(Clone, Debug)]
pub struct NewToken {
    /// Kind (decides the secret's prefix and the scope rules).
    pub kind: TokenKind,
    /// Free text shown in listings.
    pub description: String,
    /// Owner for user tokens.
    pub user_id: Option<String>,
    /// Organization for organization tokens.
    pub org_id: Option<String>,
    /// Project for project, pull and build tokens.
    pub project_id: Option<String>,
    /// Build for build tokens (and optionally pull tokens).
    pub build_id: Option<String>,
    /// Lifetime; `None` never expires.
    pub ttl: Option<Duration>,
}

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

/// An OIDC trust policy: which CI identity may act on a project.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TrustPolicy {
    /// Id.
    pub id: String,
    /// Project.
    pub project_id: String,
    /// `github`, `circleci` or `buildkite`.
    pub provider: String,
    /// GitHub owner, CircleCI organization UUID or Buildkite organization slug.
    pub claim_a: String,
    /// GitHub repository, CircleCI project UUID or Buildkite pipeline slug.
    pub claim_b: String,
    /// Creation time (ms since epoch).
    pub created_at: i64,
}

/// A pending device login.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Login {
    /// Id (a secret shared by the CLI and the approve page).
    pub id: String,
    /// Creation time (ms since epoch).
    pub created_at: i64,
    /// Expiry (ms since epoch).
    pub expires_at: i64,
    /// The approving user, once approved.
    pub approved_user_id: Option<String>,
    /// When the token was handed out.
    pub delivered_at: Option<i64>,
}

/// The control-plane database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
}

const PROJECT_COLUMNS: &str = "p.id, p.org_id, o.name AS org_name, p.name, p.region_id, p.keep_bytes, p.keep_days, p.cache_reset_at, p.created_at FROM projects p JOIN organizations o ON o.id = p.org_id";
const TOKEN_COLUMNS: &str = "id, kind, description, user_id, org_id, project_id, build_id, created_at, expires_at, revoked_at FROM tokens";

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the database at `url`: a
    /// `postgres://`/`postgresql://` URL, a `sqlite:` URL, or a plain file path for SQLite.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (url, sqlite) = normalize_url(url);
        let shown = redact(&url);
        let open_err = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            url: shown.clone(),
            source,
        };
        let mut options = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(10));
        if sqlite {
            if let Some(dir) = sqlite_path(&url).and_then(|p| p.parent().map(Path::to_path_buf))
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(&dir).map_err(|e| open_err(Box::new(e)))?;
            }
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                    )
                    .await?;
                    Ok(())
                })
            });
        }
        let pool = options
            .connect(&url)
            .await
            .map_err(|e| open_err(Box::new(e)))?;
        let mut migrator = sqlx::migrate!("./migrations");
        // Other crates (depot-registry) keep their own migrations in the same table.
        migrator.set_ignore_missing(true);
        migrator
            .run(&pool)
            .await
            .map_err(|e| open_err(Box::new(e)))?;
        Ok(Self { pool })
    }

    /// The connection pool, for crates that keep their own tables in the same database
    /// (depot-registry). Their migrations must use versions above 1000.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- organizations and users ----

    /// Creates an organization.
    pub async fn create_org(&self, name: &str) -> Result<Organization, StoreError> {
        let org = Organization {
            id: ids::new_id(),
            name: name.to_owned(),
            created_at: now_ms(),
        };
        sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&org.id)
            .bind(&org.name)
            .bind(org.created_at)
            .execute(&self.pool)
            .await?;
        Ok(org)
    }

    /// An organization by id.
    pub async fn get_org(&self, id: &str) -> Result<Option<Organization>, StoreError> {
        Ok(
            sqlx::query_as("SELECT id, name, created_at FROM organizations WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Every organization, oldest first.
    pub async fn list_orgs(&self) -> Result<Vec<Organization>, StoreError> {
        Ok(
            sqlx::query_as(
                "SELECT id, name, created_at FROM organizations ORDER BY created_at, id",
            )
            .fetch_all(&self.pool)
            .await?,
        )
    }

    /// The organizations `user_id` belongs to.
    pub async fn orgs_of_user(&self, user_id: &str) -> Result<Vec<Organization>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT o.id, o.name, o.created_at FROM organizations o \
             JOIN memberships m ON m.org_id = o.id WHERE m.user_id = $1 ORDER BY o.created_at, o.id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Creates a user.
    pub async fn create_user(&self, name: &str) -> Result<User, StoreError> {
        let user = User {
            id: ids::new_id(),
            name: name.to_owned(),
            created_at: now_ms(),
        };
        sqlx::query("INSERT INTO users (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&user.id)
            .bind(&user.name)
            .bind(user.created_at)
            .execute(&self.pool)
            .await?;
        Ok(user)
    }

    /// A user by id or unique name.
    pub async fn find_user(&self, id_or_name: &str) -> Result<Option<User>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, name, created_at FROM users WHERE id = $1 OR name = $1 ORDER BY created_at LIMIT 1",
        )
        .bind(id_or_name)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Every user, oldest first.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        Ok(
            sqlx::query_as("SELECT id, name, created_at FROM users ORDER BY created_at, id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Makes `user_id` a member of `org_id` (no-op if it already is).
    pub async fn add_member(&self, org_id: &str, user_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (org_id, user_id) DO NOTHING",
        )
        .bind(org_id)
        .bind(user_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether `user_id` belongs to `org_id`.
    pub async fn is_member(&self, org_id: &str, user_id: &str) -> Result<bool, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT org_id FROM memberships WHERE org_id = $1 AND user_id = $2")
                .bind(org_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    // ---- projects ----

    /// Creates a project.
    pub async fn create_project(&self, new: &NewProject) -> Result<Project, StoreError> {
        let id = ids::new_id();
        sqlx::query(
            "INSERT INTO projects (id, org_id, name, region_id, keep_bytes, keep_days, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(&new.org_id)
        .bind(&new.name)
        .bind(&new.region_id)
        .bind(new.keep_bytes)
        .bind(new.keep_days)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(self
            .get_project(&id)
            .await?
            .expect("a project just inserted exists"))
    }

    /// A project by id.
    pub async fn get_project(&self, id: &str) -> Result<Option<Project>, StoreError> {
        Ok(
            sqlx::query_as(&format!("SELECT {PROJECT_COLUMNS} WHERE p.id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The projects of one organization, by name.
    pub async fn projects_of_org(&self, org_id: &str) -> Result<Vec<Project>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {PROJECT_COLUMNS} WHERE p.org_id = $1 ORDER BY p.name, p.id"
        ))
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The projects of every organization `user_id` belongs to, by organization then name.
    pub async fn projects_of_user(&self, user_id: &str) -> Result<Vec<Project>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {PROJECT_COLUMNS} JOIN memberships m ON m.org_id = p.org_id \
             WHERE m.user_id = $1 ORDER BY o.name, p.name, p.id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every project.
    pub async fn list_projects(&self) -> Result<Vec<Project>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {PROJECT_COLUMNS} ORDER BY o.name, p.name, p.id"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Applies `changes` to a project in one statement; returns the updated project.
    pub async fn update_project(
        &self,
        id: &str,
        changes: &ProjectChanges,
    ) -> Result<Option<Project>, StoreError> {
        let (keep_bytes, keep_days) = changes.cache_policy.unzip();
        sqlx::query(
            "UPDATE projects SET name = COALESCE($1, name), region_id = COALESCE($2, region_id), \
             keep_bytes = COALESCE($3, keep_bytes), keep_days = COALESCE($4, keep_days) WHERE id = $5",
        )
        .bind(changes.name.clone())
        .bind(changes.region_id.clone())
        .bind(keep_bytes)
        .bind(keep_days)
        .bind(id)
        .execute(&self.pool)
        .await?;
        self.get_project(id).await
    }

    /// Deletes a project with its builds, tokens and trust policies. Returns whether it existed.
    pub async fn delete_project(&self, id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM projects WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(affected(&result))
    }

    /// Records a cache reset; builders drop cache older than this.
    pub async fn reset_project_cache(&self, id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE projects SET cache_reset_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(affected(&result))
    }

    // ---- tokens ----

    /// Mints a token: stores its hash and returns the row with the secret, which is never
    /// stored and cannot be shown again.
    pub async fn create_token(&self, new: &NewToken) -> Result<(Token, TokenSecret), StoreError> {
        insert_token(&self.pool, new, None, None).await
    }

    /// Exchanges a CI token for a project token minted from `new`, in one transaction: records
    /// the CI token (`issuer` and `token_key`, its `jti` or hash) until `ci_expires_at` (ms since
    /// epoch), and remembers `trust_policy_id` on the new token so removing the policy revokes
    /// it. The new token expires with the CI token at the latest. `None` when this CI token was
    /// exchanged before (a replay); nothing is written then.
    pub async fn exchange_ci_token(
        &self,
        issuer: &str,
        token_key: &str,
        ci_expires_at: i64,
        trust_policy_id: &str,
        new: &NewToken,
    ) -> Result<Option<(Token, TokenSecret)>, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM oidc_exchanges WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let recorded = sqlx::query(
            "INSERT INTO oidc_exchanges (issuer, token_key, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(issuer)
        .bind(token_key)
        .bind(ci_expires_at.max(now))
        .execute(&mut *tx)
        .await?;
        if !affected(&recorded) {
            return Ok(None);
        }
        let minted =
            insert_token(&mut *tx, new, Some(trust_policy_id), Some(ci_expires_at)).await?;
        tx.commit().await?;
        Ok(Some(minted))
    }

    /// The live (unrevoked, unexpired) token whose secret hashes to `hash`.
    pub async fn find_live_token(&self, hash: &str) -> Result<Option<Token>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} WHERE secret_hash = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)"
        ))
        .bind(hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Every token, newest first (without secrets).
    pub async fn list_tokens(&self) -> Result<Vec<Token>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} ORDER BY created_at DESC, id"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Revokes a token by id. Returns whether a live token was revoked.
    pub async fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let result =
            sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(affected(&result))
    }

    // ---- builds ----

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
        let mut tx = self.pool.begin().await?;
        let known: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM build_steps WHERE build_id = $1")
            .bind(build_id)
            .fetch_one(&mut *tx)
            .await?;
        let mut room = max_steps - known;
        for step in steps {
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
            .execute(&mut *tx)
            .await?;
            if affected(&result) || room <= 0 {
                continue;
            }
            sqlx::query(
                "INSERT INTO build_steps (build_id, digest, name, started_at, completed_at, \
                 cached, error) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(build_id)
            .bind(&step.digest)
            .bind(&step.name)
            .bind(step.started_at)
            .bind(step.completed_at)
            .bind(step.cached)
            .bind(step.error.clone())
            .execute(&mut *tx)
            .await?;
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

    // ---- trust policies ----

    /// Adds a trust policy.
    pub async fn add_trust_policy(
        &self,
        project_id: &str,
        provider: &str,
        claim_a: &str,
        claim_b: &str,
    ) -> Result<TrustPolicy, StoreError> {
        let policy = TrustPolicy {
            id: ids::new_id(),
            project_id: project_id.to_owned(),
            provider: provider.to_owned(),
            claim_a: claim_a.to_owned(),
            claim_b: claim_b.to_owned(),
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO trust_policies (id, project_id, provider, claim_a, claim_b, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&policy.id)
        .bind(&policy.project_id)
        .bind(&policy.provider)
        .bind(&policy.claim_a)
        .bind(&policy.claim_b)
        .bind(policy.created_at)
        .execute(&self.pool)
        .await?;
        Ok(policy)
    }

    /// A project's trust policies, oldest first.
    pub async fn trust_policies(&self, project_id: &str) -> Result<Vec<TrustPolicy>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, project_id, provider, claim_a, claim_b, created_at FROM trust_policies \
             WHERE project_id = $1 ORDER BY created_at, id",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The trust policies of `provider` across all projects.
    pub async fn trust_policies_of_provider(
        &self,
        provider: &str,
    ) -> Result<Vec<TrustPolicy>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, project_id, provider, claim_a, claim_b, created_at FROM trust_policies \
             WHERE provider = $1 ORDER BY created_at, id",
        )
        .bind(provider)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Removes a project's trust policy and revokes the tokens minted through it. Returns
    /// whether it existed.
    pub async fn remove_trust_policy(
        &self,
        project_id: &str,
        policy_id: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let result = sqlx::query("DELETE FROM trust_policies WHERE id = $1 AND project_id = $2")
            .bind(policy_id)
            .bind(project_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE tokens SET revoked_at = $1 WHERE trust_policy_id = $2 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(policy_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(affected(&result))
    }

    // ---- device logins ----

    /// Starts a device login valid for `ttl`.
    pub async fn create_login(&self, ttl: Duration) -> Result<Login, StoreError> {
        let now = now_ms();
        let login = Login {
            id: ids::new_secret_id(),
            created_at: now,
            expires_at: now + ttl.as_millis() as i64,
            approved_user_id: None,
            delivered_at: None,
        };
        sqlx::query("INSERT INTO logins (id, created_at, expires_at) VALUES ($1, $2, $3)")
            .bind(&login.id)
            .bind(login.created_at)
            .bind(login.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(login)
    }

    /// A login by id.
    pub async fn get_login(&self, id: &str) -> Result<Option<Login>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, created_at, expires_at, approved_user_id, delivered_at FROM logins WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Approves a pending, unexpired login for `user_id`. Returns whether it was approved now.
    pub async fn approve_login(&self, id: &str, user_id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE logins SET approved_user_id = $1 WHERE id = $2 AND approved_user_id IS NULL \
             AND expires_at > $3",
        )
        .bind(user_id)
        .bind(id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(affected(&result))
    }

    /// Claims an approved, undelivered login for delivery and mints the user's token in the
    /// same transaction, so each approval yields exactly one token.
    pub async fn deliver_login(&self, id: &str) -> Result<Option<TokenSecret>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let now = now_ms();
        let claimed = sqlx::query(
            "UPDATE logins SET delivered_at = $1 WHERE id = $2 AND approved_user_id IS NOT NULL \
             AND delivered_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if !affected(&claimed) {
            return Ok(None);
        }
        let (user_id,): (String,) =
            sqlx::query_as("SELECT approved_user_id FROM logins WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        let secret = TokenSecret::generate(TokenKind::User);
        sqlx::query(
            "INSERT INTO tokens (id, secret_hash, kind, description, user_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(ids::new_id())
        .bind(secret.hash())
        .bind(TokenKind::User.as_str())
        .bind("depot login")
        .bind(&user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(secret))
    }
}

/// Stores a new token (see [`Store::create_token`]), remembering the trust policy it was minted
/// through, if any; it expires at `not_after` (ms since epoch) at the latest.
async fn insert_token<'e>(
    executor: impl Executor<'e, Database = sqlx::Any>,
    new: &NewToken,
    trust_policy_id: Option<&str>,
    not_after: Option<i64>,
) -> Result<(Token, TokenSecret), StoreError> {
    let secret = TokenSecret::generate(new.kind);
    let now = now_ms();
    let token = Token {
        id: ids::new_id(),
        kind: new.kind.as_str().to_owned(),
        description: new.description.clone(),
        user_id: new.user_id.clone(),
        org_id: new.org_id.clone(),
        project_id: new.project_id.clone(),
        build_id: new.build_id.clone(),
        created_at: now,
        expires_at: match (new.ttl.map(|ttl| now + ttl.as_millis() as i64), not_after) {
            (Some(expires_at), Some(not_after)) => Some(expires_at.min(not_after)),
            (expires_at, not_after) => expires_at.or(not_after),
        },
        revoked_at: None,
    };
    sqlx::query(
        "INSERT INTO tokens (id, secret_hash, kind, description, user_id, org_id, project_id, \
         build_id, created_at, expires_at, trust_policy_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&token.id)
    .bind(secret.hash())
    .bind(&token.kind)
    .bind(&token.description)
    .bind(token.user_id.clone())
    .bind(token.org_id.clone())
    .bind(token.project_id.clone())
    .bind(token.build_id.clone())
    .bind(token.created_at)
    .bind(token.expires_at)
    .bind(trust_policy_id.map(str::to_owned))
    .execute(executor)
    .await?;
    Ok((token, secret))
}

fn affected(result: &AnyQueryResult) -> bool {
    result.rows_affected() > 0
}

/// Returns the URL sqlx understands and whether it is SQLite.
fn normalize_url(url: &str) -> (String, bool) {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        (url.to_owned(), false)
    } else if url.starts_with("sqlite:") {
        let url = if url.contains("mode=") {
            url.to_owned()
        } else if url.contains('?') {
            format!("{url}&mode=rwc")
        } else {
            format!("{url}?mode=rwc")
        };
        (url, true)
    } else {
        (format!("sqlite://{url}?mode=rwc"), true)
    }
}

fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// `url` with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized_and_redacted() {
        assert_eq!(
            normalize_url("/data/depot.db"),
            ("sqlite:///data/depot.db?mode=rwc".to_owned(), true)
        );
        assert_eq!(
            sqlite_path("sqlite:///data/depot.db?mode=rwc"),
            Some(Path::new("/data/depot.db"))
        );
        assert!(!normalize_url("postgres://u:p@h/db").1);
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("sqlite:///x.db"), "sqlite:///x.db");
    }
}
