//! The tokio runtime every coroutine of the package runs on, and its glue to asyncio.
//!
//! One multi-threaded runtime serves the whole process. A forked child inherits none of its
//! threads, so the runtime is tied to the process ID that created it: the first call in a child
//! builds a fresh one (the parent's is leaked there, as its threads do not exist to be joined).
//! [`shutdown`] stops it when the interpreter exits (the package registers it with `atexit`):
//! worker threads still running while the process tears itself down would crash it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3_async_runtimes::TaskLocals;
use pyo3_async_runtimes::generic::{ContextExt, Runtime};
use tokio::runtime::{Handle, Runtime as TokioRuntime};

use crate::errors::Failure;

/// How long [`shutdown`] lets running tasks (a build's release, say) finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The runtime and the process it belongs to.
static RUNTIME: Mutex<Option<(u32, TokioRuntime)>> = Mutex::new(None);

tokio::task_local! {
    /// The asyncio event loop and context of the coroutine a Rust future serves.
    static LOCALS: TaskLocals;
}

/// A handle on this process's runtime, created on first use (and again after a fork).
pub fn handle() -> Handle {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((owner, runtime)) = slot.as_ref()
        && *owner == pid
    {
        return runtime.handle().clone();
    }
    if let Some((_, inherited)) = slot.take() {
        // A fork's copy: its threads are the parent's, so it cannot be shut down here.
        std::mem::forget(inherited);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("depot-rs")
        .build()
        .expect("cannot start the tokio runtime");
    let handle = runtime.handle().clone();
    *slot = Some((pid, runtime));
    handle
}

/// A handle on this process's runtime if it is running (not before first use, nor after
/// [`shutdown`]).
pub fn running() -> Option<Handle> {
    let pid = std::process::id();
    let slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    slot.as_ref()
        .filter(|(owner, _)| *owner == pid)
        .map(|(_, runtime)| runtime.handle().clone())
}

/// Stops this process's runtime, giving running tasks a few seconds; the next call to
/// [`handle`] would start a new one.
#[pyfunction]
pub fn shutdown(py: Python<'_>) {
    let pid = std::process::id();
    let taken = RUNTIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    match taken {
        Some((owner, runtime)) if owner == pid => {
            // Tasks finishing may need the GIL (to complete asyncio futures).
            py.detach(|| runtime.shutdown_timeout(SHUTDOWN_GRACE));
        }
        Some((_, inherited)) => std::mem::forget(inherited),
        None => {}
    }
}

/// [`handle`] as a pyo3-async-runtimes runtime.
pub struct DepotRuntime;

impl Runtime for DepotRuntime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle = tokio::task::JoinHandle<()>;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        handle().spawn(fut)
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        handle().spawn_blocking(f)
    }
}

impl ContextExt for DepotRuntime {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        Box::pin(LOCALS.scope(locals, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        LOCALS.try_with(Clone::clone).ok()
    }
}

/// An asyncio awaitable for a Rust future run on the runtime; its error becomes the matching
/// `depot_rs.errors` exception. Cancelling the awaitable drops the future.
pub fn awaitable<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, Failure>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    pyo3_async_runtimes::generic::future_into_py::<DepotRuntime, _, _>(py, async move {
        fut.await.map_err(PyErr::from)
    })
}
