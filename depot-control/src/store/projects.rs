//! Projects and their cache settings.

use super::{Store, StoreError, affected, now_ms};
use crate::ids;

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
    /// Builds one of its builders runs at once before another is started; `None`: the
    /// server's default.
    pub builds_per_builder: Option<i64>,
    /// Builders it may have per architecture; `None`: the server's default.
    pub max_builders: Option<i64>,
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

const PROJECT_COLUMNS: &str = "p.id, p.org_id, o.name AS org_name, p.name, p.region_id, p.keep_bytes, p.keep_days, p.cache_reset_at, p.created_at, p.builds_per_builder, p.max_builders FROM projects p JOIN organizations o ON o.id = p.org_id";

impl Store {
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

    /// Sets a project's builder settings: `Some(n)` sets one (`Some(0)` restores the server's
    /// default), `None` keeps it. Returns the updated project.
    pub async fn update_builder_settings(
        &self,
        id: &str,
        builds_per_builder: Option<i64>,
        max_builders: Option<i64>,
    ) -> Result<Option<Project>, StoreError> {
        let mut tx = self.pool.begin().await?;
        for (column, value) in [
            ("builds_per_builder", builds_per_builder),
            ("max_builders", max_builders),
        ] {
            if let Some(value) = value {
                sqlx::query(&format!("UPDATE projects SET {column} = $1 WHERE id = $2"))
                    .bind((value > 0).then_some(value))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        self.get_project(id).await
    }

    /// Records when the project's cache was last reset (its builders emptied it first).
    pub async fn reset_project_cache(&self, id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE projects SET cache_reset_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(affected(&result))
    }
}
