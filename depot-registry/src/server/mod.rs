//! The registry server: the OCI Distribution Spec v1.1 API as an axum router, over the
//! blob store (filesystem or S3) and the control plane's database.

mod auth;
mod bearer;
mod blobs;
mod error;
mod gc;
mod images;
mod manifests;
mod metadata;
mod retention;
mod retention_service;
mod routes;
mod storage;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use depot_control::Store;
use depot_control::auth::Authenticator;
use depot_core::proto::depot::build::v1::registry_service;
use depot_core::proto::depotrs::v1::registry_retention_service;

pub use auth::{Action, Challenge};
pub use error::{ErrorCode, RegistryError};
pub use gc::{GcReport, GcSettings};
pub use retention::{AGE_DAYS, Pruned, Retention, TAG_COUNTS};
pub use storage::{BlobBackend, BlobStore, BlobStream, StagingLimits};

use metadata::Metadata;
use routes::Route;

/// Checks a manifest as a `PUT` does before looking at the repository (fuzzing entry point).
#[cfg(feature = "fuzzing")]
pub fn fuzz_manifest(body: &[u8], content_type: Option<&str>) -> Result<(), RegistryError> {
    manifests::parse_manifest(body, content_type)
}

/// Registry settings.
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    /// Local directory for upload staging, and for blobs with the filesystem backend.
    pub storage_dir: PathBuf,
    /// Where complete blobs are kept.
    pub blob_backend: BlobBackend,
    /// URL clients reach the Distribution API at; the token endpoint is
    /// `<public_url>/auth/token`.
    pub public_url: String,
    /// The registry's host (`host[:port]`), named as the token service.
    pub service: String,
    /// The largest blob accepted; an upload request declaring more is refused before its body
    /// is read.
    pub max_blob_bytes: u64,
    /// How long a bearer minted by the token endpoint lives (depot-server: 5 minutes, what
    /// Docker's token servers hand out; clients ask for a new one when it runs out).
    pub bearer_ttl: std::time::Duration,
    /// What one project may hold in unfinished uploads.
    pub staging: StagingLimits,
}

impl RegistryConfig {
    /// The largest blob accepted unless configured otherwise (100 GiB).
    pub const DEFAULT_MAX_BLOB_BYTES: u64 = 100 << 30;
}

/// Failure to open the registry.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The blob store could not be prepared.
    #[error("cannot prepare registry storage (blobs: {backend}, uploads staged in {})", path.display())]
    Storage {
        /// The blob backend.
        backend: BlobBackend,
        /// The local storage directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The registry tables could not be migrated.
    #[error("cannot migrate the registry tables")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The key signing bearer tokens could not be loaded.
    #[error("cannot load the key that signs registry bearer tokens")]
    SigningKey(#[source] RegistryError),
}

/// The registry. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    auth: Authenticator,
    metadata: Metadata,
    storage: BlobStore,
    challenge: Challenge,
    /// Held shared by anything that makes content referenced (publishing an upload with its
    /// link, mounting, pushing a manifest) and exclusively by garbage collection while it
    /// decides to delete something.
    gc_lock: tokio::sync::RwLock<()>,
    /// See [`RegistryConfig::max_blob_bytes`].
    max_blob_bytes: u64,
    /// Mints and verifies the token endpoint's bearers.
    bearers: bearer::Bearers,
}

impl Registry {
    /// Opens the registry over the control plane's store (its own tables live there too),
    /// authenticating callers as `auth` does.
    pub async fn open(auth: Authenticator, config: RegistryConfig) -> Result<Self, OpenError> {
        let store = auth.store().clone();
        let storage = BlobStore::open(&config.storage_dir, &config.blob_backend, config.staging)
            .await
            .map_err(|source| OpenError::Storage {
                backend: config.blob_backend.clone(),
                path: config.storage_dir.clone(),
                source,
            })?;
        let metadata = Metadata::open(store.pool().clone()).await?;
        let bearers = bearer::Bearers::open(&metadata, config.service.clone(), config.bearer_ttl)
            .await
            .map_err(OpenError::SigningKey)?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                auth,
                metadata,
                storage,
                challenge: Challenge {
                    realm: format!("{}/auth/token", config.public_url.trim_end_matches('/')),
                    service: config.service,
                },
                gc_lock: tokio::sync::RwLock::new(()),
                max_blob_bytes: config.max_blob_bytes,
                bearers,
            }),
        })
    }

    /// The Distribution API: `/v2/…` and `GET /auth/token` (the token endpoint). Serve it at
    /// the root of a host (clients require `/v2/` there): on the API's port or its own.
    pub fn distribution_router(&self) -> Router {
        Router::new()
            .route("/v2", get(base))
            .route("/v2/", get(base))
            .route("/v2/{*rest}", any(dispatch))
            .route("/auth/token", get(token))
            .with_state(self.clone())
    }

    /// The Connect procedures of `depot.build.v1.RegistryService` and
    /// `depotrs.v1.RegistryRetentionService`, served next to the rest of the API.
    pub fn api_router(&self) -> Router {
        Router::new()
            .route(
                registry_service::LIST_IMAGES,
                post(images::list_images_endpoint),
            )
            .route(
                registry_service::DELETE_IMAGE,
                post(images::delete_image_endpoint),
            )
            .route(
                registry_retention_service::GET_RETENTION_POLICY,
                post(retention_service::get_endpoint),
            )
            .route(
                registry_retention_service::SET_RETENTION_POLICY,
                post(retention_service::set_endpoint),
            )
            .route_layer(axum::middleware::from_fn(
                depot_control::protocols::transcode,
            ))
            .with_state(self.clone())
    }
}

/// `GET /v2/`: 200 for valid credentials (a depot-rs token or a minted bearer), else 401 with
/// the challenge `docker login` follows.
async fn base(State(registry): State<Registry>, headers: HeaderMap) -> Response {
    let inner = &registry.inner;
    let presented = auth::presented_token(&headers);
    let result = match presented.as_deref() {
        Some(token) if bearer::looks_like_bearer(token) => {
            inner.bearers.verify(token).map(drop).map_err(|err| {
                RegistryError::unauthorized(err.to_string(), inner.challenge.header(None))
            })
        }
        _ => auth::login(&inner.auth, &headers, &inner.challenge)
            .await
            .map(drop),
    };
    match result {
        Ok(()) => (
            StatusCode::OK,
            [
                ("Docker-Distribution-API-Version", "registry/2.0"),
                ("Content-Type", "application/json"),
            ],
            "{}",
        )
            .into_response(),
        Err(err) => err.into_response(),
    }
}

#[derive(serde::Serialize)]
struct TokenResponse {
    token: String,
    access_token: String,
    expires_in: u64,
}

/// `GET /auth/token`: the Docker token flow. Authenticates the depot-rs token presented (Basic,
/// as `docker login` stores it) and mints a bearer granting, of the scopes asked for, what that
/// token allows; a scope it does not allow is left out (a request using the bearer there is
/// refused), as Docker's token servers do. The depot-rs token itself is never handed back.
async fn token(
    State(registry): State<Registry>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    mint(&registry, &query, &headers)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn mint(
    registry: &Registry,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, RegistryError> {
    let inner = &registry.inner;
    if auth::presented_token(headers).is_some_and(|t| bearer::looks_like_bearer(&t)) {
        return Err(RegistryError::unauthorized(
            "the token endpoint takes a depot token (docker login -u x-token -p <depot token>), \
             not a bearer it minted",
            inner.challenge.header(None),
        ));
    }
    let principal = auth::login(&inner.auth, headers, &inner.challenge).await?;
    let requested = query
        .iter()
        .filter(|(key, _)| key == "scope")
        .map(|(_, value)| value.as_str());
    let scopes = bearer::Scope::all(requested).map_err(|count| {
        RegistryError::new(
            ErrorCode::Unsupported,
            format!(
                "{count} scopes asked for; at most {} per token",
                bearer::MAX_SCOPES
            ),
        )
        .with_status(StatusCode::BAD_REQUEST)
    })?;
    let caller = auth::Caller::Token(principal.clone());
    let mut access: Vec<bearer::Grant> = Vec::new();
    let mut catalog = None;
    for scope in scopes {
        match scope.kind.as_str() {
            "repository" => {
                let Ok(name) = scope.name.parse::<crate::reference::Name>() else {
                    continue;
                };
                let mut actions = Vec::new();
                for action in scope.repository_actions() {
                    if caller.may(&inner.store, &name, action).await {
                        actions.push(action.as_str().to_owned());
                    }
                }
                if actions.is_empty() {
                    continue;
                }
                match access
                    .iter_mut()
                    .find(|g| g.kind == "repository" && g.name == scope.name)
                {
                    Some(grant) => {
                        for action in actions {
                            if !grant.actions.contains(&action) {
                                grant.actions.push(action);
                            }
                        }
                    }
                    None => access.push(bearer::Grant {
                        kind: scope.kind,
                        name: scope.name,
                        actions,
                    }),
                }
            }
            "registry" if scope.name == "catalog" && catalog.is_none() => {
                catalog = Some(
                    caller
                        .catalog_projects(&inner.store, &inner.challenge)
                        .await?,
                );
                access.push(bearer::Grant {
                    kind: scope.kind,
                    name: scope.name,
                    actions: vec!["*".to_owned()],
                });
            }
            _ => {}
        }
    }
    let (token, expires_in) = inner.bearers.mint(&principal, access, catalog);
    Ok(axum::Json(TokenResponse {
        access_token: token.clone(),
        token,
        expires_in,
    })
    .into_response())
}

async fn dispatch(
    State(registry): State<Registry>,
    method: Method,
    uri: Uri,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request = routes::Request {
        method,
        query,
        headers,
    };
    let rest = uri.path().strip_prefix("/v2/").unwrap_or_default();
    let result = match Route::parse(rest) {
        Ok(route) => registry.handle(route, &request, body).await,
        Err(err) => Err(err),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}
