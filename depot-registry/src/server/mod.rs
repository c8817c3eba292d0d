//! The registry server: the OCI Distribution Spec v1.1 API as an axum router, over the
//! blob store (filesystem or S3) and the control plane's database.

mod auth;
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
pub use storage::{BlobBackend, BlobStore, BlobStream};

use metadata::Metadata;
use routes::Route;

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
}

impl Registry {
    /// Opens the registry over the control plane's store (its own tables live there too),
    /// authenticating callers as `auth` does.
    pub async fn open(auth: Authenticator, config: RegistryConfig) -> Result<Self, OpenError> {
        let store = auth.store().clone();
        let storage = BlobStore::open(&config.storage_dir, &config.blob_backend)
            .await
            .map_err(|source| OpenError::Storage {
                backend: config.blob_backend.clone(),
                path: config.storage_dir.clone(),
                source,
            })?;
        let metadata = Metadata::open(store.pool().clone()).await?;
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
            .with_state(self.clone())
    }
}

/// `GET /v2/`: 200 for valid credentials, else 401 with the challenge `docker login` follows.
async fn base(State(registry): State<Registry>, headers: HeaderMap) -> Response {
    let inner = &registry.inner;
    match auth::login(&inner.auth, &headers, &inner.challenge).await {
        Ok(_) => (
            StatusCode::OK,
            [("Docker-Distribution-API-Version", "registry/2.0")],
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

/// `GET /auth/token`: the Docker token flow. The bearer token handed back is the presented
/// depot-rs token itself; every request is authorized against it.
async fn token(State(registry): State<Registry>, headers: HeaderMap) -> Response {
    let inner = &registry.inner;
    match auth::login(&inner.auth, &headers, &inner.challenge).await {
        Ok(_) => {
            let token = auth::presented_token(&headers).expect("authenticated requests carry one");
            axum::Json(TokenResponse {
                access_token: token.clone(),
                token,
                expires_in: 300,
            })
            .into_response()
        }
        Err(err) => err.into_response(),
    }
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
