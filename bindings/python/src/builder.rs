//! The low-level builder API: register a build, wait for its BuildKit, hand its connection
//! details (`depot_build`'s [`Connection`]) to the caller for any BuildKit client, and release
//! it.

use std::sync::Arc;

use depot_build::builder::{Builder, BuilderRequest, Connection, Outcome, acquire_builder};
use depot_core::{DepotClient, ErrorKind};
use pyo3::prelude::*;
use tokio::sync::Mutex;

use crate::errors::Failure;
use crate::runtime::awaitable;

/// A builder held for one build. Its health is reported while it is held; `release()` frees it
/// (garbage-collecting it unreleased reports the build canceled).
#[pyclass(frozen, module = "depot_rs._native")]
pub struct AcquiredBuilder {
    builder: Arc<Mutex<Option<Builder>>>,
    connection: Connection,
}

/// Acquires a builder of `platform` (`linux/amd64`, `linux/arm64`; default: this machine's).
pub fn acquire<'py>(
    py: Python<'py>,
    api: &DepotClient,
    project_id: String,
    platform: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let api = api.clone();
    let request = BuilderRequest::for_platform(Some(project_id), platform.as_deref())
        .map_err(|message| Failure::message(ErrorKind::InvalidArgument, message))?;
    awaitable(py, async move {
        let builder = acquire_builder(&api, &request).await?;
        Ok(AcquiredBuilder {
            connection: builder.connection()?,
            builder: Arc::new(Mutex::new(Some(builder))),
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
    /// The build registered for the builder.
    #[getter]
    fn build_id(&self) -> &str {
        &self.connection.build_id
    }

    /// The build's project.
    #[getter]
    fn project_id(&self) -> &str {
        &self.connection.project_id
    }

    /// The BuildKit endpoint, `tcp://host:port`.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.connection.endpoint
    }

    /// The TLS server name of the builder's certificate.
    #[getter]
    fn server_name(&self) -> Option<&str> {
        self.connection.server_name.as_deref()
    }

    /// The CA the builder's certificate chains to (PEM).
    #[getter]
    fn ca_pem(&self) -> Option<&str> {
        self.connection.ca_pem.as_deref()
    }

    /// The client certificate for this build (PEM).
    #[getter]
    fn cert_pem(&self) -> Option<&str> {
        self.connection.cert_pem.as_deref()
    }

    /// The client certificate's private key (PEM).
    #[getter]
    fn key_pem(&self) -> Option<&str> {
        self.connection.key_pem.as_deref()
    }

    /// Releases the builder, reporting the build's outcome: `success`, `error` (with `error`,
    /// its message) or `canceled`; by default `error` when `error` is given, else `success`.
    /// Releasing twice does nothing.
    #[pyo3(signature = (outcome=None, error=None))]
    fn release<'py>(
        &self,
        py: Python<'py>,
        outcome: Option<&str>,
        error: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let outcome = Outcome::named(outcome, error)
            .map_err(|message| Failure::message(ErrorKind::InvalidArgument, message))?;
        let builder = self.builder.clone();
        awaitable(py, async move {
            if let Some(builder) = builder.lock().await.take() {
                builder.finish(outcome).await?;
            }
            Ok(())
        })
    }
}
