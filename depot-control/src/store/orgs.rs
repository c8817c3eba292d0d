//! Organizations.

use super::{Store, StoreError, now_ms};
use crate::ids;

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

impl Store {
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
}
