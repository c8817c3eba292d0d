//! A builder acquired on its own: its BuildKit connection details (`depot_build`'s
//! [`Connection`]) for running builds with other BuildKit clients, and its release.

use depot_build::builder::{Builder, BuilderRequest, Connection, Outcome, acquire_builder};
use depot_core::{ErrorKind, ErrorReport};
use napi_derive::napi;
use tokio::sync::Mutex;

use crate::client::NativeClient;
use crate::error::fail;

/// What `acquireBuilder` takes.
#[napi(object)]
#[derive(Default)]
pub struct AcquireOptions {
    /// The project (default: the client's).
    pub project: Option<String>,
    /// The builder's platform: `linux/amd64` or `linux/arm64` (default: this machine's).
    pub platform: Option<String>,
}

/// What `release` takes.
#[napi(object)]
#[derive(Default)]
pub struct ReleaseOptions {
    /// How the build ended: `success`, `error` or `canceled` (default: `error` when `error` is
    /// given, else `success`).
    pub outcome: Option<String>,
    /// The failure's message, for `error`.
    pub error: Option<String>,
}

/// An acquired builder, kept (health reported) until released.
#[napi]
pub struct NativeBuilder {
    connection: Connection,
    builder: Mutex<Option<Builder>>,
}

#[napi]
impl NativeClient {
    /// Registers a build and waits for its builder.
    #[napi]
    pub async fn acquire_builder(
        &self,
        options: Option<AcquireOptions>,
    ) -> napi::Result<NativeBuilder> {
        let options = options.unwrap_or_default();
        let project = options.project.or_else(|| self.project_id());
        let request = BuilderRequest::for_platform(project, options.platform.as_deref())
            .map_err(|message| fail(ErrorReport::new(ErrorKind::InvalidArgument, message)))?;
        let builder = acquire_builder(&self.client, &request)
            .await
            .map_err(fail)?;
        Ok(NativeBuilder {
            connection: builder.connection().map_err(fail)?,
            builder: Mutex::new(Some(builder)),
        })
    }
}

#[napi]
impl NativeBuilder {
    /// The build registered for the builder.
    #[napi(getter)]
    pub fn build_id(&self) -> String {
        self.connection.build_id.clone()
    }

    /// Its project.
    #[napi(getter)]
    pub fn project_id(&self) -> String {
        self.connection.project_id.clone()
    }

    /// BuildKit's address, `tcp://host:port`.
    #[napi(getter)]
    pub fn endpoint(&self) -> String {
        self.connection.endpoint.clone()
    }

    /// The name the builder's certificate carries.
    #[napi(getter)]
    pub fn server_name(&self) -> Option<String> {
        self.connection.server_name.clone()
    }

    /// The CA certificate (PEM) the builder's certificate chains to.
    #[napi(getter)]
    pub fn ca_pem(&self) -> Option<String> {
        self.connection.ca_pem.clone()
    }

    /// The client certificate (PEM).
    #[napi(getter)]
    pub fn cert_pem(&self) -> Option<String> {
        self.connection.cert_pem.clone()
    }

    /// The client key (PEM).
    #[napi(getter)]
    pub fn key_pem(&self) -> Option<String> {
        self.connection.key_pem.clone()
    }

    /// Releases the builder, reporting how its build ended. Releasing twice does nothing.
    #[napi]
    pub async fn release(&self, options: Option<ReleaseOptions>) -> napi::Result<()> {
        let options = options.unwrap_or_default();
        let outcome = Outcome::named(options.outcome.as_deref(), options.error)
            .map_err(|message| fail(ErrorReport::new(ErrorKind::InvalidArgument, message)))?;
        let Some(builder) = self.builder.lock().await.take() else {
            return Ok(());
        };
        builder.finish(outcome).await.map_err(fail)
    }
}
