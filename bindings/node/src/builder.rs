//! A builder acquired on its own: its BuildKit connection details for running builds with
//! other BuildKit clients, and its release.

use depot_build::builder::{Builder, BuilderRequest, Outcome, acquire_builder, builder_platform};
use depot_build::buildkit::Endpoint;
use depot_core::ErrorKind;
use napi_derive::napi;
use tokio::sync::Mutex;

use crate::client::NativeClient;
use crate::error::{Failure, fail};

/// What `acquireBuilder` takes.
#[napi(object)]
#[derive(Default)]
pub struct AcquireOptions {
    /// The project (default: the client's).
    pub project: Option<String>,
    /// The builder's platform: `linux/amd64` or `linux/arm64` (default: this machine's).
    pub platform: Option<String>,
}

/// How to reach an acquired builder's BuildKit.
#[napi(object)]
pub struct BuilderConnection {
    /// The build registered for the builder.
    pub build_id: String,
    /// Its project.
    pub project_id: String,
    /// BuildKit's address, `tcp://host:port`.
    pub endpoint: String,
    /// The name the builder's certificate carries.
    pub server_name: Option<String>,
    /// The CA certificate (PEM) the builder's certificate chains to.
    pub ca_pem: Option<String>,
    /// The client certificate (PEM).
    pub cert_pem: Option<String>,
    /// The client key (PEM).
    pub key_pem: Option<String>,
}

/// An acquired builder, kept (health reported) until released.
#[napi]
pub struct NativeBuilder {
    connection: BuilderConnection,
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
        let platform = builder_platform(options.platform.as_deref().unwrap_or("dynamic"), &[])
            .map_err(|message| fail(Failure::message(ErrorKind::InvalidArgument, message)))?;
        let request = BuilderRequest {
            project_id: options.project.or_else(|| self.project_id()),
            platform,
            ..BuilderRequest::default()
        };
        let builder = acquire_builder(&self.client, &request)
            .await
            .map_err(fail)?;
        let info = builder.info();
        let endpoint = builder.buildkit().map_err(fail)?.endpoint().clone();
        let mut connection = BuilderConnection {
            build_id: info.build_id.clone(),
            project_id: info.project_id.clone(),
            endpoint: String::new(),
            server_name: None,
            ca_pem: None,
            cert_pem: None,
            key_pem: None,
        };
        match endpoint {
            Endpoint::Tcp { address, tls } => {
                connection.endpoint = format!("tcp://{address}");
                if let Some(tls) = tls {
                    let text = |pem: Vec<u8>| String::from_utf8_lossy(&pem).into_owned();
                    connection.server_name = tls.server_name;
                    connection.ca_pem = Some(text(tls.ca_pem));
                    connection.cert_pem = Some(text(tls.cert_pem));
                    connection.key_pem = Some(text(tls.key_pem));
                }
            }
            Endpoint::Unix(path) => connection.endpoint = format!("unix://{}", path.display()),
            Endpoint::Docker(path) => connection.endpoint = format!("docker://{}", path.display()),
        }
        Ok(NativeBuilder {
            connection,
            builder: Mutex::new(Some(builder)),
        })
    }
}

#[napi]
impl NativeBuilder {
    /// How to reach the builder's BuildKit.
    #[napi(getter)]
    pub fn connection(&self) -> BuilderConnection {
        BuilderConnection {
            build_id: self.connection.build_id.clone(),
            project_id: self.connection.project_id.clone(),
            endpoint: self.connection.endpoint.clone(),
            server_name: self.connection.server_name.clone(),
            ca_pem: self.connection.ca_pem.clone(),
            cert_pem: self.connection.cert_pem.clone(),
            key_pem: self.connection.key_pem.clone(),
        }
    }

    /// Releases the builder, reporting the build successful, or failed with `error`. Releasing
    /// twice does nothing.
    #[napi]
    pub async fn release(&self, error: Option<String>) -> napi::Result<()> {
        let Some(builder) = self.builder.lock().await.take() else {
            return Ok(());
        };
        let outcome = match error {
            Some(error) => Outcome::Error(error),
            None => Outcome::Success,
        };
        builder.finish(outcome).await.map_err(fail)
    }
}
