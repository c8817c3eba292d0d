//! Users and their organization memberships.

use super::{Store, StoreError, now_ms};
use crate::ids;

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

impl Store {
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
}
