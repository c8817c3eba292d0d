//! OIDC trust policies: which CI identities may act on a project.

use super::{Store, StoreError, affected, now_ms};
use crate::ids;

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

impl Store {
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
}
