//! The one place Rust errors become Python exceptions.
//!
//! Every error becomes an instance of a class of `depot_rs.errors` chosen by its
//! [`ErrorKind`] (which the Rust crates decide, [`Classify`], so Node and Python classify
//! alike), with the kind's stable string `code`, the error's message, and its `source()` chain
//! as `__cause__` (each cause a `DepotError` with the same code).

use depot_core::{Classify, ErrorKind, FailedStep};
use pyo3::prelude::*;
use pyo3::types::PyDict;

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
}

/// A failure on its way to Python.
#[derive(Clone, Debug)]
pub struct Failure {
    kind: ErrorKind,
    message: String,
    causes: Vec<String>,
    /// The failing step, for [`ErrorKind::BuildFailed`].
    step: Option<Box<FailedStep>>,
}

impl Failure {
    /// A failure of `kind` with only a message.
    pub fn message(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            causes: Vec::new(),
            step: None,
        }
    }

    /// The Python exception.
    pub fn into_pyerr(self, py: Python<'_>) -> PyErr {
        match self.build_exception(py) {
            Ok(err) => err,
            Err(err) => err,
        }
    }

    fn build_exception(self, py: Python<'_>) -> PyResult<PyErr> {
        let module = py.import("depot_rs.errors")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("code", self.kind.code())?;
        if let Some(step) = &self.step {
            kwargs.set_item("step", &step.name)?;
            kwargs.set_item("logs", &step.log)?;
            kwargs.set_item("exit_code", step.exit_code)?;
        }
        let exception = module
            .getattr(Class::of(self.kind).name())?
            .call((self.message.as_str(),), Some(&kwargs))?;
        let err = PyErr::from_value(exception);
        let base = module.getattr(Class::Depot.name())?;
        let mut causes = Vec::new();
        for cause in &self.causes {
            let kwargs = PyDict::new(py);
            kwargs.set_item("code", self.kind.code())?;
            causes.push(PyErr::from_value(
                base.call((cause.as_str(),), Some(&kwargs))?,
            ));
        }
        // Link from the innermost cause outwards.
        let mut inner: Option<PyErr> = None;
        for cause in causes.into_iter().rev() {
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
        Failure {
            kind: error.kind(),
            message: error.to_string(),
            causes: error.causes(),
            step: error.failed_step().map(Box::new),
        }
    }
}
