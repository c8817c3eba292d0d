//! API tokens: minted (a secret shown once, stored hashed), looked up by hash, listed and
//! revoked; and the exchange of a CI token for a short-lived project token.

use std::time::Duration;

use sqlx::Executor;

use super::{Store, StoreError, affected, now_ms};
use crate::ids;
use crate::tokens::{TokenKind, TokenSecret};

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

const TOKEN_COLUMNS: &str = "id, kind, description, user_id, org_id, project_id, build_id, created_at, expires_at, revoked_at FROM tokens";

impl Store {
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

    /// A token by id (live or not).
    pub async fn get_token(&self, id: &str) -> Result<Option<Token>, StoreError> {
        Ok(
            sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The live project tokens of `project_id` that people made (not those CI jobs got by
    /// exchange), oldest first.
    pub async fn list_project_tokens(&self, project_id: &str) -> Result<Vec<Token>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} WHERE kind = 'project' AND project_id = $1 \
             AND trust_policy_id IS NULL AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at, id"
        ))
        .bind(project_id)
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Sets a live token's description. Returns whether there was one.
    pub async fn describe_token(&self, id: &str, description: &str) -> Result<bool, StoreError> {
        let result =
            sqlx::query("UPDATE tokens SET description = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(description)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(affected(&result))
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
