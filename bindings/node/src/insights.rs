//! Builds, usage and project tokens from Depot's public API: [`depot_core::insights`]'s calls,
//! their answers as JSON with camelCase keys (times in milliseconds; the TypeScript layer makes
//! them `Date`s).

use depot_core::insights::{self, Period};
use depot_core::naming::camel_case_keys;
use napi_derive::napi;
use serde::Serialize;

use crate::client::NativeClient;
use crate::error::fail;
use crate::registry::ProjectOptions;

/// What `listBuilds` takes.
#[napi(object)]
#[derive(Default)]
pub struct ListBuildsOptions {
    /// The project (default: the client's).
    pub project: Option<String>,
    /// Most builds returned, newest first (default 100).
    pub limit: Option<u32>,
}

/// A period for usage; either end defaults to the server's current month.
#[napi(object)]
#[derive(Default)]
pub struct UsageOptions {
    /// The project, for `projectUsage` (default: the client's).
    pub project: Option<String>,
    /// Its start, in milliseconds since the Unix epoch.
    pub start: Option<f64>,
    /// Its end, in milliseconds since the Unix epoch.
    pub end: Option<f64>,
}

impl UsageOptions {
    fn period(&self) -> Period {
        Period {
            start: self.start.map(|ms| ms as i64),
            end: self.end.map(|ms| ms as i64),
        }
    }
}

fn json(value: impl Serialize) -> napi::Result<serde_json::Value> {
    serde_json::to_value(value)
        .map(camel_case_keys)
        .map_err(|err| napi::Error::from_reason(err.to_string()))
}

#[napi]
impl NativeClient {
    /// A build's summary (`BuildSummary`).
    #[napi(ts_return_type = "Promise<any>")]
    pub async fn get_build(&self, build_id: String) -> napi::Result<serde_json::Value> {
        json(
            insights::get_build(&self.client, &build_id)
                .await
                .map_err(fail)?,
        )
    }

    /// The project's builds, newest first (`BuildSummary[]`).
    #[napi(ts_return_type = "Promise<any[]>")]
    pub async fn list_builds(
        &self,
        options: Option<ListBuildsOptions>,
    ) -> napi::Result<serde_json::Value> {
        let options = options.unwrap_or_default();
        let project_id = self.require_project(options.project)?;
        let limit = options.limit.map(|n| n as usize);
        json(
            insights::list_builds(&self.client, &project_id, limit)
                .await
                .map_err(fail)?,
        )
    }

    /// Every step of a build (`BuildStep[]`).
    #[napi(ts_return_type = "Promise<any[]>")]
    pub async fn build_steps(&self, build_id: String) -> napi::Result<serde_json::Value> {
        json(
            insights::build_steps(&self.client, &build_id)
                .await
                .map_err(fail)?,
        )
    }

    /// Every kept line of one step of a build (`LogLine[]`).
    #[napi(ts_return_type = "Promise<any[]>")]
    pub async fn build_step_logs(
        &self,
        build_id: String,
        digest: String,
    ) -> napi::Result<serde_json::Value> {
        json(
            insights::build_step_logs(&self.client, &build_id, &digest)
                .await
                .map_err(fail)?,
        )
    }

    /// Shares a build; its link.
    #[napi]
    pub async fn share_build(&self, build_id: String) -> napi::Result<String> {
        insights::share_build(&self.client, &build_id)
            .await
            .map_err(fail)
    }

    /// Stops sharing a build.
    #[napi]
    pub async fn stop_sharing_build(&self, build_id: String) -> napi::Result<()> {
        insights::stop_sharing_build(&self.client, &build_id)
            .await
            .map_err(fail)
    }

    /// Usage of every project the token administers (`Usage`).
    #[napi(ts_return_type = "Promise<any>")]
    pub async fn usage(&self, options: Option<UsageOptions>) -> napi::Result<serde_json::Value> {
        let options = options.unwrap_or_default();
        json(
            insights::usage(&self.client, options.period())
                .await
                .map_err(fail)?,
        )
    }

    /// One project's builds in a period (`ProjectUsage`).
    #[napi(ts_return_type = "Promise<any>")]
    pub async fn project_usage(
        &self,
        options: Option<UsageOptions>,
    ) -> napi::Result<serde_json::Value> {
        let options = options.unwrap_or_default();
        let period = options.period();
        let project_id = self.require_project(options.project)?;
        json(
            insights::project_usage(&self.client, &project_id, period)
                .await
                .map_err(fail)?,
        )
    }

    /// The project's tokens (`ProjectToken[]`).
    #[napi(ts_return_type = "Promise<any[]>")]
    pub async fn list_tokens(
        &self,
        options: Option<ProjectOptions>,
    ) -> napi::Result<serde_json::Value> {
        let project_id = self.require_project(options.unwrap_or_default().project)?;
        json(
            insights::list_tokens(&self.client, &project_id)
                .await
                .map_err(fail)?,
        )
    }

    /// Creates a project token (`CreatedToken`: its secret is shown only now).
    #[napi(ts_return_type = "Promise<any>")]
    pub async fn create_token(
        &self,
        description: String,
        options: Option<ProjectOptions>,
    ) -> napi::Result<serde_json::Value> {
        let project_id = self.require_project(options.unwrap_or_default().project)?;
        json(
            insights::create_token(&self.client, &project_id, &description)
                .await
                .map_err(fail)?,
        )
    }

    /// Changes a project token's description.
    #[napi]
    pub async fn update_token(&self, token_id: String, description: String) -> napi::Result<()> {
        insights::update_token(&self.client, &token_id, &description)
            .await
            .map_err(fail)
    }

    /// Deletes a project token.
    #[napi]
    pub async fn delete_token(&self, token_id: String) -> napi::Result<()> {
        insights::delete_token(&self.client, &token_id)
            .await
            .map_err(fail)
    }
}
