//! `Client.build()` and `Client.bake()`: a whole build (or bake) through `depot_build::run`
//! (register, connect, build with streamed events, release), as a handle Python iterates for
//! events and awaits for the result. A bake's events carry their `target`.
//!
//! The build runs in a task of its own; its outcome is kept, so `result()` may be awaited
//! (again) at any time. Cancelling a coroutine that awaits the result or the next event
//! cancels the build.

use std::sync::Arc;

use depot_build::flags::{BuildFlags, StandardOutput};
use depot_build::run::{
    BakeOptions, BakeSource, BuildOutput, Canceller, Events, LoadAfter, RunningBuild,
    start_definition,
};
use depot_core::{DepotClient, ErrorKind};
use futures_util::StreamExt;
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use serde_json::{Value, json};
use tokio::sync::{Mutex, watch};

use crate::convert::Json;
use crate::errors::Failure;
use crate::runtime::awaitable;

/// How a build ended, once it has.
type Outcome = Option<Result<Value, Failure>>;

/// A running build: its events (`async for`), its result and its cancellation.
#[pyclass(frozen, module = "depot_rs._native")]
pub struct BuildHandle {
    /// The build's ID.
    #[pyo3(get)]
    build_id: String,
    /// The build's project.
    #[pyo3(get)]
    project_id: String,
    /// The build's page on the server; empty when it has none.
    #[pyo3(get)]
    build_url: String,
    events: Arc<Mutex<Events>>,
    canceller: Canceller,
    outcome: watch::Receiver<Outcome>,
}

/// Registers the build `flags` describe and starts it.
pub fn start<'py>(
    py: Python<'py>,
    api: &DepotClient,
    flags: BuildFlags,
) -> PyResult<Bound<'py, PyAny>> {
    let api = api.clone();
    let load = flags.load.then(|| LoadAfter::Image(flags.tags.clone()));
    awaitable(py, async move {
        let spec = flags.into_spec(StandardOutput::Refused)?;
        let running = depot_build::run::start(&api, spec).await?;
        follow(api, running, load)
    })
}

/// Evaluates the bake `source` describes (files relative to `dir`) and starts the bake.
pub fn start_bake<'py>(
    py: Python<'py>,
    api: &DepotClient,
    source: BakeSource,
    options: BakeOptions,
) -> PyResult<Bound<'py, PyAny>> {
    let api = api.clone();
    awaitable(py, async move {
        let definition = source.read(options.dir.as_deref())?;
        let running =
            start_definition(&api, &definition, &options, StandardOutput::Refused, false).await?;
        let load = options.load.then_some(LoadAfter::Targets(definition));
        follow(api, running, load)
    })
}

/// The handle of a started build, whose outcome a task of its own waits for (then loads
/// `load`).
fn follow(
    api: DepotClient,
    mut running: RunningBuild,
    load: Option<LoadAfter>,
) -> Result<BuildHandle, Failure> {
    {
        let info = running.info().clone();
        let events = running
            .take_events()
            .ok_or_else(|| Failure::message(ErrorKind::Internal, "the build's events are gone"))?;
        let canceller = running.canceller();
        let (done, outcome) = watch::channel(None);
        let build_id = info.build_id.clone();
        crate::runtime::handle().spawn(async move {
            let result = match running.result().await {
                Ok(output) => finish(&api, output, load).await,
                Err(err) => Err(err.into()),
            };
            let result = result.map_err(|failure: Failure| failure.for_build(&build_id));
            let _ = done.send(Some(result));
        });
        Ok(BuildHandle {
            build_id: info.build_id,
            project_id: info.project_id,
            build_url: info.build_url,
            events: Arc::new(Mutex::new(events)),
            canceller,
            outcome,
        })
    }
}

/// The result of a successful build, after loading it into the Docker Engine if asked.
async fn finish(
    api: &DepotClient,
    output: BuildOutput,
    load: Option<LoadAfter>,
) -> Result<Value, Failure> {
    if let Some(load) = load {
        crate::registry::load(api, &output.info.build_id, &load).await?;
    }
    let targets: Vec<&str> = output
        .targets
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    Ok(json!({
        "targets": targets,
        "build_id": output.info.build_id,
        "project_id": output.info.project_id,
        "image_digest": output.image_digest(),
        "saved_tags": output.saved_tags,
        "metadata": output.metadata,
    }))
}

/// Cancels the build when dropped armed: a coroutine awaiting the build was cancelled.
struct CancelOnDrop(Option<Canceller>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(canceller) = self.0.take() {
            canceller.cancel();
        }
    }
}

/// Waits for the outcome.
async fn outcome(mut receiver: watch::Receiver<Outcome>) -> Result<Value, Failure> {
    let outcome = receiver.wait_for(Option::is_some).await.map_err(|_| {
        Failure::message(
            ErrorKind::Internal,
            "the build task ended without an outcome",
        )
    })?;
    outcome
        .clone()
        .unwrap_or_else(|| Err(Failure::message(ErrorKind::Internal, "no outcome")))
}

#[pymethods]
impl BuildHandle {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// The next event (a dict tagged by `type`, with `target` for a bake target's); the
    /// iteration ends with the build.
    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let events = self.events.clone();
        let guard = CancelOnDrop(Some(self.canceller.clone()));
        pyo3_async_runtimes::generic::future_into_py::<crate::runtime::DepotRuntime, _, _>(
            py,
            async move {
                let mut events = events.lock().await;
                let next = events.next().await;
                guard.disarm();
                match next {
                    Some(event) => Ok(Json(events.to_json(&event))),
                    None => Err(PyStopAsyncIteration::new_err(())),
                }
            },
        )
    }

    /// Waits for the build to end: `{"build_id", "project_id", "image_digest", "saved_tags",
    /// "metadata", "targets"}`, or the build's error.
    fn result<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let receiver = self.outcome.clone();
        let guard = CancelOnDrop(Some(self.canceller.clone()));
        awaitable(py, async move {
            let outcome = outcome(receiver).await;
            guard.disarm();
            outcome.map(Json)
        })
    }

    /// Cancels the build and waits until it has ended (reported canceled to the server, its
    /// builder released). Does nothing to a build that has ended.
    fn cancel<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.canceller.cancel();
        let receiver = self.outcome.clone();
        awaitable(py, async move {
            let _ = outcome(receiver).await;
            Ok(())
        })
    }
}
