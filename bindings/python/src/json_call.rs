//! Library calls answered as Python objects through JSON: how the client exposes
//! [`depot_core::insights`] (build summaries, steps and logs, sharing, usage, project tokens;
//! times in milliseconds, which `depot_rs.client` makes `datetime`s).

use depot_core::DepotClient;
use pyo3::prelude::*;
use serde::Serialize;

use crate::convert::Json;
use crate::errors::Failure;
use crate::runtime::awaitable;

/// `f` called with a clone of `api`, its answer as a Python object (through JSON).
pub fn call<'py, T, F, Fut>(py: Python<'py>, api: &DepotClient, f: F) -> PyResult<Bound<'py, PyAny>>
where
    T: Serialize,
    F: FnOnce(DepotClient) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, depot_core::Error>> + Send + 'static,
{
    let api = api.clone();
    awaitable(py, async move {
        let answer = f(api).await?;
        serde_json::to_value(answer)
            .map(Json)
            .map_err(|err| Failure::message(depot_core::ErrorKind::Internal, format!("{err}")))
    })
}
