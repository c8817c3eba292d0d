//! The low-level builder API: register a build, wait for its BuildKit, hand its connection
//! details to the caller (for any BuildKit client), and release it.

use depot_core::ErrorKind;
use std::sync::Arc;

use depot_build::builder::{Builder, BuilderRequest, Outcome, acquire_builder, platform_for_arch};
use depot_build::buildkit::Endpoint;
use depot_core::DepotClient;
use pyo3::prelude::*;
use tokio::sync::Mutex;

use crate::errors::Failure;
use crate::runtime::awaitable;

/// A builder held for one build. Its health is reported while it is held; `release()` frees it
/// (garbage-collecting it unreleased reports the build canceled).
#[pyclass(frozen, module = "depot_rs._native")]
pub struct AcquiredBuilder {
    builder: Arc<Mutex<Option<Builder>>>,
    /// The build's ID.
    #[pyo3(get)]
    build_id: String,
    /// The build's project.
    #[pyo3(get)]
    project_id: String,
    /// The BuildKit endpoint, `tcp://host:port`.
    #[pyo3(get)]
    endpoint: String,
    /// The TLS server name of the builder's certificate.
    #[pyo3(get)]
    server_name: Option<String>,
    /// The CA the builder's certificate chains to (PEM).
    #[pyo3(get)]
    ca_pem: Option<String>,
    /// The client certificate for this build (PEM).
    #[pyo3(get)]
    cert_pem: Option<String>,
    /// The client certificate's private key (PEM).
    #[pyo3(get)]
    key_pem: Option<String>,
}

fn pem(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Acquires a builder of `platform`'s architecture (`amd64`, `arm64`; default: this machine's).
pub fn acquire<'py>(
    py: Python<'py>,
    api: &DepotClient,
    project_id: String,
    platform: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let api = api.clone();
    awaitable(py, async move {
        let mut request = BuilderRequest {
            project_id: Some(project_id),
            ..BuilderRequest::default()
        };
        if let Some(platform) = platform {
            let arch = platform.rsplit('/').next().unwrap_or(&platform).to_owned();
            request.platform = platform_for_arch(&arch);
        }
        let builder = acquire_builder(&api, &request).await?;
        let info = builder.info().clone();
        let (endpoint, tls) = match builder.buildkit()?.endpoint() {
            Endpoint::Tcp { address, tls } => (format!("tcp://{address}"), tls.clone()),
            other => (format!("{other:?}"), None),
        };
        Ok(AcquiredBuilder {
            builder: Arc::new(Mutex::new(Some(builder))),
            build_id: info.build_id,
            project_id: info.project_id,
            endpoint,
            server_name: tls.as_ref().and_then(|t| t.server_name.clone()),
            ca_pem: tls.as_ref().map(|t| pem(&t.ca_pem)),
            cert_pem: tls.as_ref().map(|t| pem(&t.cert_pem)),
            key_pem: tls.as_ref().map(|t| pem(&t.key_pem)),
        })
    })
}

impl Drop for AcquiredBuilder {
    /// A builder never released is reported canceled, which needs the runtime: Python drops
    /// objects on its own threads.
    fn drop(&mut self) {
        let Some(runtime) = crate::runtime::running() else {
            return;
        };
        let _entered = runtime.enter();
        if let Ok(mut slot) = self.builder.try_lock() {
            drop(slot.take());
        }
    }
}

#[pymethods]
impl AcquiredBuilder {
    /// Releases the builder, reporting the build's outcome: `success`, `error` (with `error`,
    /// its message) or `canceled`. Releasing twice does nothing.
    #[pyo3(signature = (outcome="success", error=None))]
    fn release<'py>(
        &self,
        py: Python<'py>,
        outcome: &str,
        error: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let outcome = match outcome {
            "success" => Outcome::Success,
            "canceled" => Outcome::Canceled,
            "error" => Outcome::Error(error.unwrap_or_else(|| "build failed".into())),
            other => {
                return Err(Failure::message(
                    ErrorKind::InvalidArgument,
                    format!("unknown outcome {other:?}: use success, error or canceled"),
                )
                .into());
            }
        };
        let builder = self.builder.clone();
        awaitable(py, async move {
            if let Some(builder) = builder.lock().await.take() {
                builder.finish(outcome).await?;
            }
            Ok(())
        })
    }
}
