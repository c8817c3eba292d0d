//! Web dashboard sessions, by the hash of their cookie's secret.

use super::{Store, StoreError, now_ms};

/// A dashboard session.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Session {
    /// The hash of the API token it was opened with.
    pub token_hash: String,
    /// The form token state-changing forms carry.
    pub csrf_token: String,
    /// When it expires (ms since epoch).
    pub expires_at: i64,
}

impl Store {
    /// Opens a session (and drops the expired ones).
    pub async fn create_session(
        &self,
        secret_hash: &str,
        session: &Session,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO dashboard_sessions (secret_hash, token_hash, csrf_token, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(secret_hash)
        .bind(&session.token_hash)
        .bind(&session.csrf_token)
        .bind(now)
        .bind(session.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live session with this secret hash.
    pub async fn find_session(&self, secret_hash: &str) -> Result<Option<Session>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT token_hash, csrf_token, expires_at FROM dashboard_sessions \
             WHERE secret_hash = $1 AND expires_at > $2",
        )
        .bind(secret_hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Ends a session.
    pub async fn delete_session(&self, secret_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM dashboard_sessions WHERE secret_hash = $1")
            .bind(secret_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
