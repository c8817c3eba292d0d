//! The control plane: Depot's Connect services backed by the [`Store`], mounted as an axum
//! router by depot-server.

mod build_lifecycle;
mod build_page;
mod builders;
mod builds;
mod dashboard;
mod login;
mod sharing;
mod solve_status;
mod step_logs;

pub use login::approve_login;
mod oidc_exchange;
mod project_tokens;
mod projects;
mod public_builds;
mod pushes;
mod trust_policies;
mod usage;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use prost::Message;

use super::auth::{Authenticator, Principal};
use super::builders::BuilderProvider;
use super::connect::{decode_unary, error_response, unary_response};
use super::store::Store;
use depot_core::connect::ConnectError;
use depot_core::proto::depot::build::v1::build_service as build_v1;
use depot_core::proto::depot::buildkit::v1::build_kit_service as buildkit;
use depot_core::proto::depot::cli::v1::{build_service, push_service};
use depot_core::proto::depot::cli::v1beta1::{login_service, projects_service};
use depot_core::proto::depot::core::v1::{
    build_service as build_summaries, organization_service, project_service, usage_service,
};
use depot_core::proto::depotrs::v1::{
    builder_settings_service, cache_service, oidc_service, trust_policy_service,
};

/// Settings of the control plane.
#[derive(Clone, Debug)]
pub struct ControlPlaneConfig {
    /// The URL clients reach this server at (approve links are built from it).
    pub public_url: String,
    /// `host[:port]` of the registry builds are saved to and pulled from.
    pub registry_host: String,
    /// Lifetime of pull tokens.
    pub pull_token_ttl: Duration,
    /// Lifetime of build tokens.
    pub build_token_ttl: Duration,
    /// How long a device login waits for approval.
    pub login_ttl: Duration,
    /// A running build whose client has not reported health (or asked for its builder) for
    /// this long is failed and its builder released.
    pub build_health_timeout: Duration,
    /// Bytes of step logs kept per build.
    pub build_log_limit: u64,
    /// How long a build's step logs are kept after it finished.
    pub build_log_retention: Duration,
    /// Longest lifetime of a project token exchanged for a CI token (it never outlives the CI
    /// token either).
    pub oidc_token_ttl: Duration,
    /// Builds one of a project's builders runs at once, for projects that do not say.
    pub builds_per_builder: u32,
    /// Builders a project may have per architecture, for projects that do not say.
    pub max_builders_per_project: u32,
}

impl ControlPlaneConfig {
    /// Bytes of step logs kept per build unless configured: 8 MiB.
    pub const DEFAULT_BUILD_LOG_LIMIT: u64 = 8 << 20;

    /// Defaults for a server reachable at `public_url` with its registry on the same host.
    pub fn new(public_url: &str) -> Self {
        let public_url = public_url.trim_end_matches('/').to_owned();
        let registry_host = public_url
            .split_once("://")
            .map_or(public_url.as_str(), |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        Self {
            public_url,
            registry_host,
            pull_token_ttl: Duration::from_secs(60 * 60),
            build_token_ttl: Duration::from_secs(24 * 60 * 60),
            login_ttl: Duration::from_secs(15 * 60),
            build_health_timeout: Duration::from_secs(60),
            build_log_limit: Self::DEFAULT_BUILD_LOG_LIMIT,
            build_log_retention: Duration::from_secs(30 * 24 * 60 * 60),
            oidc_token_ttl: Duration::from_secs(60 * 60),
            builds_per_builder: 4,
            max_builders_per_project: 2,
        }
    }
}

/// Depot's API served from a [`Store`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ControlPlane {
    store: Store,
    auth: Authenticator,
    config: Arc<ControlPlaneConfig>,
    builders: Option<Arc<dyn BuilderProvider>>,
}

impl ControlPlane {
    /// A control plane over `store`.
    pub fn new(store: Store, config: ControlPlaneConfig) -> Self {
        Self {
            auth: Authenticator::new(store.clone()),
            store,
            config: Arc::new(config),
            builders: None,
        }
    }

    /// Accepts CI jobs' OIDC tokens that `verifier` verifies, wherever API tokens are accepted,
    /// and serves `depotrs.v1.OidcService/ExchangeToken` and `POST /oidc/exchange`.
    pub fn with_oidc(mut self, verifier: Arc<depot_oidc::server::OidcVerifier>) -> Self {
        self.auth = self.auth.with_oidc(verifier);
        self
    }

    /// How this control plane authenticates callers (the registry shares it).
    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// Hands out builders from `builders` (without one, `GetBuildKitConnection` answers
    /// `unavailable`).
    pub fn with_builders(mut self, builders: Arc<dyn BuilderProvider>) -> Self {
        self.builders = Some(builders);
        self
    }

    /// The store behind it.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The settings.
    pub fn config(&self) -> &ControlPlaneConfig {
        &self.config
    }

    /// Routes: every Connect procedure at `POST /<package>.<Service>/<Method>`, the dashboard
    /// (`/`, `/sign-in`, `/projects/<id>/builds`, `/builds/<id>`), shared builds at
    /// `/shared/builds/<secret>`, the login approve page at `/login/<id>`, the JSON token exchange at `POST /oidc/exchange`, and
    /// `GET /healthz`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/builds/{id}", get(dashboard::build_page))
            .merge(dashboard::routes())
            .route("/shared/builds/{secret}", get(sharing::page))
            .route(
                "/login/{id}",
                get(login::approve_page).post(login::approve_submit),
            )
            .route("/oidc/exchange", post(oidc_exchange::exchange_json))
            .route(
                "/{*procedure}",
                post(connect_endpoint)
                    .route_layer(axum::middleware::from_fn(crate::protocols::transcode)),
            )
            .with_state(self.clone())
    }

    async fn dispatch(&self, path: &str, headers: &HeaderMap, body: Body) -> Response {
        use build_service as builds;
        use organization_service as orgs;
        use project_service as admin;
        use projects_service as projects;
        match path {
            projects::LIST_PROJECTS => {
                self.call(headers, body, |p, r| self.cli_list_projects(p, r))
                    .await
            }
            projects::RESET_PROJECT_CACHE => {
                self.call(headers, body, |p, r| self.reset_project_cache(p, r))
                    .await
            }
            admin::LIST_PROJECTS => {
                self.call(headers, body, |p, r| self.list_projects(p, r))
                    .await
            }
            admin::GET_PROJECT => {
                self.call(headers, body, |p, r| self.get_project(p, r))
                    .await
            }
            admin::CREATE_PROJECT => {
                self.call(headers, body, |p, r| self.create_project(p, r))
                    .await
            }
            admin::UPDATE_PROJECT => {
                self.call(headers, body, |p, r| self.update_project(p, r))
                    .await
            }
            admin::DELETE_PROJECT => {
                self.call(headers, body, |p, r| self.delete_project(p, r))
                    .await
            }
            admin::LIST_TRUST_POLICIES => {
                self.call(headers, body, |p, r| self.list_trust_policies(p, r))
                    .await
            }
            admin::ADD_TRUST_POLICY => {
                self.call(headers, body, |p, r| self.add_trust_policy(p, r))
                    .await
            }
            admin::REMOVE_TRUST_POLICY => {
                self.call(headers, body, |p, r| self.remove_trust_policy(p, r))
                    .await
            }
            trust_policy_service::LIST_TRUST_POLICIES => {
                self.call(headers, body, |p, r| self.list_all_trust_policies(p, r))
                    .await
            }
            trust_policy_service::ADD_TRUST_POLICY => {
                self.call(headers, body, |p, r| self.add_any_trust_policy(p, r))
                    .await
            }
            cache_service::GET_CACHE_USAGE => {
                self.call(headers, body, |p, r| self.get_cache_usage(p, r))
                    .await
            }
            builder_settings_service::GET_BUILDER_SETTINGS => {
                self.call(headers, body, |p, r| self.get_builder_settings(p, r))
                    .await
            }
            builder_settings_service::UPDATE_BUILDER_SETTINGS => {
                self.call(headers, body, |p, r| self.update_builder_settings(p, r))
                    .await
            }
            oidc_service::EXCHANGE_TOKEN => {
                let result = async {
                    let request = decode_unary(headers, body).await?;
                    self.exchange_token(headers, request).await
                };
                unary_response(result.await)
            }
            orgs::LIST_ORGANIZATIONS => {
                self.call(headers, body, |p, r| self.list_organizations(p, r))
                    .await
            }
            login_service::START_LOGIN => {
                let result = async {
                    let request = decode_unary(headers, body).await?;
                    self.start_login(request).await
                };
                unary_response(result.await)
            }
            login_service::FINISH_LOGIN => self.finish_login(headers, body).await,
            builds::CREATE_BUILD => {
                self.call(headers, body, |p, r| self.create_build(p, r))
                    .await
            }
            builds::GET_BUILD => self.call(headers, body, |p, r| self.get_build(p, r)).await,
            builds::FINISH_BUILD => {
                self.call(headers, body, |p, r| self.finish_build(p, r))
                    .await
            }
            builds::GET_BUILD_KIT_CONNECTION => {
                self.call(headers, body, |p, r| self.get_build_kit_connection(p, r))
                    .await
            }
            builds::REPORT_BUILD_HEALTH => {
                self.call(headers, body, |p, r| self.report_build_health(p, r))
                    .await
            }
            builds::REPORT_STATUS_STREAM => self.report_status_stream(headers, body).await,
            builds::LIST_BUILDS => {
                self.call(headers, body, |p, r| self.list_builds(p, r))
                    .await
            }
            builds::GET_PULL_TOKEN => {
                self.call(headers, body, |p, r| self.get_pull_token(p, r))
                    .await
            }
            builds::GET_PULL_INFO => {
                self.call(headers, body, |p, r| self.get_pull_info(p, r))
                    .await
            }
            admin::RESET_PROJECT => {
                self.call(headers, body, |p, r| self.reset_project(p, r))
                    .await
            }
            admin::LIST_TOKENS => {
                self.call(headers, body, |p, r| self.list_project_tokens(p, r))
                    .await
            }
            admin::CREATE_TOKEN => {
                self.call(headers, body, |p, r| self.create_project_token(p, r))
                    .await
            }
            admin::UPDATE_TOKEN => {
                self.call(headers, body, |p, r| self.update_project_token(p, r))
                    .await
            }
            admin::DELETE_TOKEN => {
                self.call(headers, body, |p, r| self.delete_project_token(p, r))
                    .await
            }
            usage_service::GET_PROJECT_USAGE => {
                self.call(headers, body, |p, r| self.get_project_usage(p, r))
                    .await
            }
            usage_service::LIST_PROJECT_USAGE => {
                self.call(headers, body, |p, r| self.list_project_usage(p, r))
                    .await
            }
            usage_service::GET_USAGE => self.call(headers, body, |p, r| self.get_usage(p, r)).await,
            build_v1::CREATE_BUILD => {
                self.call(headers, body, |p, r| self.create_public_build(p, r))
                    .await
            }
            build_v1::FINISH_BUILD => {
                self.call(headers, body, |p, r| self.finish_public_build(p, r))
                    .await
            }
            build_v1::GET_BUILD_STEPS => {
                self.call(headers, body, |p, r| self.get_build_steps(p, r))
                    .await
            }
            build_v1::GET_BUILD_STEP_LOGS => {
                self.call(headers, body, |p, r| self.get_build_step_logs(p, r))
                    .await
            }
            buildkit::GET_ENDPOINT => self.get_endpoint(headers, body).await,
            buildkit::REPORT_HEALTH => self.report_health(headers, body).await,
            buildkit::RELEASE_ENDPOINT => {
                self.call(headers, body, |p, r| self.release_endpoint(p, r))
                    .await
            }
            build_summaries::GET_BUILD => {
                self.call(headers, body, |p, r| self.get_build_summary(p, r))
                    .await
            }
            build_summaries::SHARE_BUILD => {
                self.call(headers, body, |p, r| self.share_build(p, r))
                    .await
            }
            build_summaries::STOP_SHARING_BUILD => {
                self.call(headers, body, |p, r| self.stop_sharing_build(p, r))
                    .await
            }
            build_summaries::LIST_BUILDS => {
                self.call(headers, body, |p, r| self.list_build_summaries(p, r))
                    .await
            }
            push_service::START_PUSH => {
                self.call(headers, body, |p, r| self.start_push(p, r)).await
            }
            push_service::FINISH_PUSH => {
                self.call(headers, body, |p, r| self.finish_push(p, r))
                    .await
            }
            _ => error_response(&ConnectError::unimplemented(format!(
                "{path} is not a procedure this depot-server implements"
            ))),
        }
    }

    /// An authenticated unary call: token first (`unauthenticated`), then the body
    /// (`invalid_argument`), then the handler.
    async fn call<Req, Resp, F, Fut>(&self, headers: &HeaderMap, body: Body, handler: F) -> Response
    where
        Req: Message + Default,
        Resp: Message,
        F: FnOnce(Principal, Req) -> Fut,
        Fut: Future<Output = Result<Resp, ConnectError>>,
    {
        let result = async {
            let principal = self.auth.authenticate(headers).await?;
            let request = decode_unary(headers, body).await?;
            handler(principal, request).await
        };
        unary_response(result.await)
    }
}

async fn connect_endpoint(
    State(plane): State<ControlPlane>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    plane.dispatch(uri.path(), &headers, body).await
}

/// A protobuf timestamp from milliseconds since the Unix epoch.
pub fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_host_defaults_to_the_public_host() {
        let c = ControlPlaneConfig::new("http://127.0.0.1:8080/");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.registry_host, "127.0.0.1:8080");
        let c = ControlPlaneConfig::new("https://depot.example.com/api");
        assert_eq!(c.registry_host, "depot.example.com");
        assert_eq!(timestamp(1_500).seconds, 1);
        assert_eq!(timestamp(1_500).nanos, 500_000_000);
    }
}
