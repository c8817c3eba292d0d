//! A project's API tokens and its reset, in Depot's public API (`depot.core.v1.ProjectService`):
//! management RPCs, for user and organization tokens (a project token or a CI job cannot manage
//! tokens, nor reset the project).

use super::ControlPlane;
use crate::auth::{Access, Principal};
use crate::store::{self, NewToken};
use crate::tokens::TokenKind;
use depot_core::connect::ConnectError;
use depot_core::proto::depot::core::v1 as core;

/// Longest token description kept.
const MAX_DESCRIPTION: usize = 1024;

impl ControlPlane {
    /// `ResetProject`: the project's builders stop and its build cache is deleted, as
    /// `depot cache reset` does; the next build starts cold.
    pub(super) async fn reset_project(
        &self,
        principal: Principal,
        request: core::ResetProjectRequest,
    ) -> Result<core::ResetProjectResponse, ConnectError> {
        let project = principal
            .authorize_project(&self.store, &request.project_id, Access::Admin)
            .await?;
        if let Some(builders) = &self.builders {
            builders.reset_cache(&project.id).await?;
        }
        self.store.reset_project_cache(&project.id).await?;
        Ok(core::ResetProjectResponse {})
    }

    /// `ListTokens`: the project's tokens people made (not those of CI exchanges).
    pub(super) async fn list_project_tokens(
        &self,
        principal: Principal,
        request: core::ListTokensRequest,
    ) -> Result<core::ListTokensResponse, ConnectError> {
        let project = principal
            .authorize_project(&self.store, &request.project_id, Access::Admin)
            .await?;
        let tokens = self.store.list_project_tokens(&project.id).await?;
        Ok(core::ListTokensResponse {
            tokens: tokens
                .into_iter()
                .map(|token| core::list_tokens_response::Token {
                    token_id: token.id,
                    description: token.description,
                })
                .collect(),
        })
    }

    /// `CreateToken`: a project token; its secret is in this answer only.
    pub(super) async fn create_project_token(
        &self,
        principal: Principal,
        request: core::CreateTokenRequest,
    ) -> Result<core::CreateTokenResponse, ConnectError> {
        check_description(&request.description)?;
        let project = principal
            .authorize_project(&self.store, &request.project_id, Access::Admin)
            .await?;
        let (token, secret) = self
            .store
            .create_token(&NewToken {
                kind: TokenKind::Project,
                description: request.description,
                user_id: None,
                org_id: Some(project.org_id),
                project_id: Some(project.id),
                build_id: None,
                ttl: None,
            })
            .await?;
        Ok(core::CreateTokenResponse {
            token_id: token.id,
            secret: secret.expose().to_owned(),
        })
    }

    /// `UpdateToken`: a project token's description.
    pub(super) async fn update_project_token(
        &self,
        principal: Principal,
        request: core::UpdateTokenRequest,
    ) -> Result<core::UpdateTokenResponse, ConnectError> {
        check_description(&request.description)?;
        let token = self.project_token(&principal, &request.token_id).await?;
        if !self
            .store
            .describe_token(&token.id, &request.description)
            .await?
        {
            return Err(not_found(&request.token_id));
        }
        Ok(core::UpdateTokenResponse {})
    }

    /// `DeleteToken`: the project token is revoked; its secret stops working at once.
    pub(super) async fn delete_project_token(
        &self,
        principal: Principal,
        request: core::DeleteTokenRequest,
    ) -> Result<core::DeleteTokenResponse, ConnectError> {
        let token = self.project_token(&principal, &request.token_id).await?;
        if !self.store.revoke_token(&token.id).await? {
            return Err(not_found(&request.token_id));
        }
        Ok(core::DeleteTokenResponse {})
    }

    /// A live project token `principal` may manage (admin of its project).
    async fn project_token(
        &self,
        principal: &Principal,
        token_id: &str,
    ) -> Result<store::Token, ConnectError> {
        if token_id.is_empty() {
            return Err(ConnectError::invalid_argument("token_id is required"));
        }
        let token = self
            .store
            .get_token(token_id)
            .await?
            .filter(|t| t.kind == TokenKind::Project.as_str() && t.revoked_at.is_none())
            .ok_or_else(|| not_found(token_id))?;
        let project_id = token
            .project_id
            .clone()
            .ok_or_else(|| not_found(token_id))?;
        principal
            .authorize_project(&self.store, &project_id, Access::Admin)
            .await?;
        Ok(token)
    }
}

fn not_found(token_id: &str) -> ConnectError {
    ConnectError::not_found(format!("project token {token_id} not found"))
}

fn check_description(description: &str) -> Result<(), ConnectError> {
    if description.len() > MAX_DESCRIPTION {
        return Err(ConnectError::invalid_argument(format!(
            "description is longer than {MAX_DESCRIPTION} bytes"
        )));
    }
    Ok(())
}
