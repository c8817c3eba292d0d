//! The native module of the `depot-rs` Python package (`depot_rs._native`): asyncio
//! awaitables over depot-rs's crates. The Python package wraps it with its public API, typed
//! exceptions (`depot_rs.errors`), a synchronous layer and stubs.

mod build;
mod builder;
mod client;
mod convert;
mod errors;
mod json_call;
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
    module.add_function(wrap_pyfunction!(registry::copy_image, module)?)?;
    module.add_function(wrap_pyfunction!(runtime::shutdown, module)?)?;
    Ok(())
}
