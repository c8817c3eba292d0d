//! [`DepotClient`]: one handle over every service of Depot's API.

use crate::connect::{Client, ClientOptions};
use crate::proto::depot::build::v1::RegistryServiceClient;
use crate::proto::depot::cli::v1::{BuildServiceClient, PushServiceClient};
use crate::proto::depot::cli::v1beta1::{LoginServiceClient, ProjectsServiceClient};
use crate::proto::depot::core::v1::{OrganizationServiceClient, ProjectServiceClient};
use crate::proto::depotrs::v1::{
    BuilderSettingsServiceClient, CacheServiceClient, RegistryRetentionServiceClient,
    TrustPolicyServiceClient,
};

/// A client of Depot's API (hosted at `api.depot.dev` or served by `depot-server`).
///
/// Cheap to clone; all service clients share one connection pool.
#[derive(Clone, Debug)]
pub struct DepotClient {
    connect: Client,
}

impl DepotClient {
    /// Connects lazily to `options.base_url`.
    pub fn new(options: ClientOptions) -> Result<Self, crate::Error> {
        Ok(Self {
            connect: Client::new(options)?,
        })
    }

    /// The same client with another bearer token (e.g. a build token).
    pub fn with_token(&self, token: impl Into<String>) -> Self {
        Self {
            connect: self.connect.with_token(token),
        }
    }

    /// The underlying Connect client.
    pub fn connect(&self) -> &Client {
        &self.connect
    }

    /// `depot.cli.v1.BuildService`: builds, pull info and pull tokens.
    pub fn builds(&self) -> BuildServiceClient {
        BuildServiceClient::new(self.connect.clone())
    }

    /// `depot.cli.v1.PushService`.
    pub fn pushes(&self) -> PushServiceClient {
        PushServiceClient::new(self.connect.clone())
    }

    /// `depot.cli.v1beta1.ProjectsService`: list projects and reset caches.
    pub fn projects(&self) -> ProjectsServiceClient {
        ProjectsServiceClient::new(self.connect.clone())
    }

    /// `depot.cli.v1beta1.LoginService`: the device login flow.
    pub fn login(&self) -> LoginServiceClient {
        LoginServiceClient::new(self.connect.clone())
    }

    /// `depot.core.v1.OrganizationService`.
    pub fn organizations(&self) -> OrganizationServiceClient {
        OrganizationServiceClient::new(self.connect.clone())
    }

    /// `depot.core.v1.ProjectService`: project management and trust policies.
    pub fn project_admin(&self) -> ProjectServiceClient {
        ProjectServiceClient::new(self.connect.clone())
    }

    /// `depot.build.v1.BuildService` (Depot's public API): builds for clients that drive
    /// BuildKit themselves, and their steps.
    pub fn public_builds(&self) -> crate::proto::depot::build::v1::BuildServiceClient {
        crate::proto::depot::build::v1::BuildServiceClient::new(self.connect.clone())
    }

    /// `depot.buildkit.v1.BuildKitService` (Depot's public API): a build's BuildKit endpoint,
    /// with the build's own token.
    pub fn buildkit(&self) -> crate::proto::depot::buildkit::v1::BuildKitServiceClient {
        crate::proto::depot::buildkit::v1::BuildKitServiceClient::new(self.connect.clone())
    }

    /// `depot.core.v1.BuildService` (Depot's public API): build summaries.
    pub fn build_summaries(&self) -> crate::proto::depot::core::v1::BuildServiceClient {
        crate::proto::depot::core::v1::BuildServiceClient::new(self.connect.clone())
    }

    /// `depot.core.v1.UsageService` (Depot's public API): builds, build minutes and cache.
    pub fn usage(&self) -> crate::proto::depot::core::v1::UsageServiceClient {
        crate::proto::depot::core::v1::UsageServiceClient::new(self.connect.clone())
    }

    /// `depot.build.v1.RegistryService`: registry images.
    pub fn registry(&self) -> RegistryServiceClient {
        RegistryServiceClient::new(self.connect.clone())
    }

    /// `depotrs.v1.RegistryRetentionService`: registry retention policies (depot-server only).
    pub fn retention(&self) -> RegistryRetentionServiceClient {
        RegistryRetentionServiceClient::new(self.connect.clone())
    }

    /// `depotrs.v1.TrustPolicyService`: trust policies of every provider, GitLab included
    /// (depot-server only; Depot's hosted API answers `unimplemented`). Remove policies with
    /// [`project_admin`](Self::project_admin).
    pub fn trust_policies(&self) -> TrustPolicyServiceClient {
        TrustPolicyServiceClient::new(self.connect.clone())
    }

    /// `depotrs.v1.CacheService`: what a project's build cache holds (depot-server only).
    pub fn cache(&self) -> CacheServiceClient {
        CacheServiceClient::new(self.connect.clone())
    }

    /// `depotrs.v1.BuilderSettingsService`: how many builders a project may have, and builds
    /// each runs (depot-server only).
    pub fn builder_settings(&self) -> BuilderSettingsServiceClient {
        BuilderSettingsServiceClient::new(self.connect.clone())
    }
}
