//! The native module of the `depot-rs` Python package (`depot_rs._native`): asyncio
//! awaitables over depot-rs's crates. The Python package wraps it with its public API, typed
//! exceptions (`depot_rs.errors`), a synchronous layer and stubs.

mod build;
mod builder;
mod client;
mod convert;
mod errors;
mod oidc;
mod registry;
mod runtime;

use pyo3::prelude::*;

/// `depot_rs._native`.
#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<client::Client>()?;
    module.add_class::<builder::AcquiredBuilder>()?;
    module.add_class::<build::BuildHandle>()?;
    module.add_function(wrap_pyfunction!(oidc::detect_ci_token, module)?)?;
    module.add_function(wrap_pyfunction!(registry_copy, module)?)?;
    module.add_function(wrap_pyfunction!(runtime::shutdown, module)?)?;
    Ok(())
}

/// Copies an image between any registries; returns its manifest digest.
#[pyfunction]
#[pyo3(name = "copy_image", signature = (source, destinations, *, source_credentials=None, destination_credentials=None, progress=None))]
fn registry_copy(
    py: Python<'_>,
    source: String,
    destinations: Vec<String>,
    source_credentials: Option<(String, String)>,
    destination_credentials: Option<(String, String)>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'_, PyAny>> {
    registry::copy(
        py,
        source,
        destinations,
        source_credentials,
        destination_credentials,
        progress,
    )
}
