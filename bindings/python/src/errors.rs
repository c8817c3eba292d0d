//! The one place Rust errors become Python exceptions.
//!
//! Every failure is a [`depot_core::ErrorReport`] (the fields the Node package throws too),
//! raised as an instance of a class of `depot_rs.errors` chosen by its [`ErrorKind`] (which the
//! Rust crates decide, [`Classify`]), with the kind's stable string `code`, the error's message,
//! `build_id`, for failed builds `step`, `logs` and `exit_code`, and its causes as `__cause__`
//! (each a `DepotError` with the same code). The classes are imported once and kept.

use depot_core::{Classify, ErrorKind, ErrorReport};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

/// The exception class an error maps to (the names of `depot_rs.errors`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Depot,
    Auth,
    NotFound,
    BuildFailed,
    BuildCanceled,
    Registry,
    Config,
}

/// `depot_rs.errors`' classes, in [`Class`] order, imported on first use.
static CLASSES: [PyOnceLock<Py<PyType>>; 7] = [const { PyOnceLock::new() }; 7];

impl Class {
    fn of(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Unauthenticated | ErrorKind::PermissionDenied => Class::Auth,
            ErrorKind::NotFound => Class::NotFound,
            ErrorKind::BuildFailed => Class::BuildFailed,
            ErrorKind::Canceled => Class::BuildCanceled,
            ErrorKind::Registry => Class::Registry,
            ErrorKind::Config => Class::Config,
            _ => Class::Depot,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Class::Depot => "DepotError",
            Class::Auth => "AuthError",
            Class::NotFound => "NotFoundError",
            Class::BuildFailed => "BuildFailed",
            Class::BuildCanceled => "BuildCanceled",
            Class::Registry => "RegistryError",
            Class::Config => "ConfigError",
        }
    }

    /// The class, imported from `depot_rs.errors` the first time.
    fn get(self, py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
        CLASSES[self as usize].import(py, "depot_rs.errors", self.name())
    }
}

/// A failure on its way to Python.
#[derive(Clone, Debug)]
pub struct Failure(Box<ErrorReport>);

impl Failure {
    /// A failure of `kind` with only a message.
    pub fn message(kind: ErrorKind, message: impl Into<String>) -> Self {
        Failure(Box::new(ErrorReport::new(kind, message)))
    }

    /// Names the build the failure belongs to.
    pub fn for_build(self, build_id: &str) -> Self {
        Failure(Box::new(self.0.for_build(build_id)))
    }

    /// The Python exception. Should `depot_rs.errors` be unusable, a `RuntimeError` with the
    /// failure's code and message, caused by why the class could not be made: the original
    /// error is never lost.
    pub fn into_pyerr(self, py: Python<'_>) -> PyErr {
        match self.exception(py) {
            Ok(err) => err,
            Err(why) => {
                let report = &self.0;
                let err = PyRuntimeError::new_err(format!("{}: {report}", report.code.code()));
                err.set_cause(py, Some(why));
                err
            }
        }
    }

    fn exception(&self, py: Python<'_>) -> PyResult<PyErr> {
        let report = &self.0;
        let kwargs = PyDict::new(py);
        kwargs.set_item("code", report.code.code())?;
        kwargs.set_item("build_id", &report.build_id)?;
        let class = Class::of(report.code);
        if class == Class::BuildFailed {
            kwargs.set_item("step", &report.step)?;
            kwargs.set_item("logs", &report.logs)?;
            kwargs.set_item("exit_code", report.exit_code)?;
        }
        let err = PyErr::from_value(
            class
                .get(py)?
                .call((report.message.as_str(),), Some(&kwargs))?,
        );
        // Each cause a DepotError with the same code, linked from the innermost outwards.
        let base = Class::Depot.get(py)?;
        let mut inner: Option<PyErr> = None;
        for cause in report.causes.iter().rev() {
            let kwargs = PyDict::new(py);
            kwargs.set_item("code", report.code.code())?;
            let cause = PyErr::from_value(base.call((cause.as_str(),), Some(&kwargs))?);
            cause.set_cause(py, inner.take());
            inner = Some(cause);
        }
        err.set_cause(py, inner);
        Ok(err)
    }
}

impl From<Failure> for PyErr {
    fn from(failure: Failure) -> Self {
        Python::attach(|py| failure.into_pyerr(py))
    }
}

impl<E: Classify> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure(Box::new(ErrorReport::from(error)))
    }
}
