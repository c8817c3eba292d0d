//! Device logins (`depot login`): created, approved by a user, delivered once.

use std::time::Duration;

use super::{Store, StoreError, affected, now_ms};
use crate::ids;
use crate::tokens::{TokenKind, TokenSecret};

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

impl Store {
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
