//! `depot.cli.v1.PushService`: the record of `depot push` runs of a build.

use super::ControlPlane;
use crate::auth::{Access, Principal};
use depot_core::connect::ConnectError;
use depot_core::proto::depot::cli::v1 as api;

impl ControlPlane {
    pub(super) async fn start_push(
        &self,
        principal: Principal,
        request: api::StartPushRequest,
    ) -> Result<api::StartPushResponse, ConnectError> {
        if request.tag.trim().is_empty() {
            return Err(ConnectError::invalid_argument(
                "StartPush needs the destination tag",
            ));
        }
        let build = self
            .authorize_build(&principal, &request.build_id, Access::Read)
            .await?;
        let push_id = self.store.start_push(&build.id, request.tag.trim()).await?;
        Ok(api::StartPushResponse { push_id })
    }

    pub(super) async fn finish_push(
        &self,
        principal: Principal,
        request: api::FinishPushRequest,
    ) -> Result<api::FinishPushResponse, ConnectError> {
        let build = self
            .authorize_build(&principal, &request.build_id, Access::Read)
            .await?;
        let finished = self
            .store
            .finish_push(&request.push_id, &build.id, request.error.as_deref())
            .await?;
        if !finished {
            return Err(ConnectError::not_found(format!(
                "no unfinished push {} of build {}",
                request.push_id, build.id
            )));
        }
        Ok(api::FinishPushResponse {})
    }
}
