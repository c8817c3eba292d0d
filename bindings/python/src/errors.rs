//! The one place Rust errors become Python exceptions.
//!
//! Every error becomes an instance of a class of `depot_rs.errors` chosen by its kind, with a
//! stable string `code`, the error's message, and its `source()` chain as `__cause__`
//! (each cause a `DepotError` with the same code).

use std::error::Error as StdError;

use depot_build::buildkit::BuildFailure;
use depot_core::connect::{Code, ConnectError};
use depot_registry::client::ClientError;
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
    class: Class,
    code: &'static str,
    message: String,
    causes: Vec<String>,
    /// The failing step, for [`Class::BuildFailed`].
    step: Option<Box<FailedStep>>,
}

/// The step a build failed in.
#[derive(Clone, Debug)]
struct FailedStep {
    name: Option<String>,
    logs: Vec<String>,
    exit_code: Option<i32>,
}

impl Failure {
    fn new(class: Class, code: &'static str, error: &(dyn StdError + 'static)) -> Self {
        let mut causes = Vec::new();
        let mut next = error.source();
        while let Some(cause) = next {
            causes.push(cause.to_string());
            next = cause.source();
        }
        Self {
            class,
            code,
            message: error.to_string(),
            causes,
            step: None,
        }
    }

    /// A failure with only a message; its class follows from `code`.
    pub fn message(code: &'static str, message: impl Into<String>) -> Self {
        let class = match code {
            "config" => Class::Config,
            "canceled" => Class::BuildCanceled,
            "registry" => Class::Registry,
            _ => Class::Depot,
        };
        Self {
            class,
            code,
            message: message.into(),
            causes: Vec::new(),
            step: None,
        }
    }

    /// The build was canceled (by the caller or the server).
    pub fn canceled(message: impl Into<String>) -> Self {
        Self::message("canceled", message)
    }

    /// A failed (or canceled) BuildKit build.
    pub fn build(failure: &BuildFailure) -> Self {
        if failure.is_canceled() {
            return Self::canceled(format!("build canceled: {failure}"));
        }
        Self {
            class: Class::BuildFailed,
            code: "build_failed",
            message: format!("build failed: {failure}"),
            causes: Vec::new(),
            step: Some(Box::new(FailedStep {
                name: failure.step.clone(),
                logs: failure.log.clone(),
                exit_code: failure.exit_code,
            })),
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
        kwargs.set_item("code", self.code)?;
        if let Some(step) = &self.step {
            kwargs.set_item("step", &step.name)?;
            kwargs.set_item("logs", &step.logs)?;
            kwargs.set_item("exit_code", step.exit_code)?;
        }
        let exception = module
            .getattr(self.class.name())?
            .call((self.message.as_str(),), Some(&kwargs))?;
        let err = PyErr::from_value(exception);
        let base = module.getattr(Class::Depot.name())?;
        let mut causes = Vec::new();
        for cause in &self.causes {
            let kwargs = PyDict::new(py);
            kwargs.set_item("code", self.code)?;
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

/// The class and code of an API error.
fn connect_class(code: Code) -> (Class, &'static str) {
    match code {
        Code::Unauthenticated | Code::PermissionDenied => (Class::Auth, code.as_str()),
        Code::NotFound => (Class::NotFound, code.as_str()),
        Code::Canceled => (Class::BuildCanceled, code.as_str()),
        _ => (Class::Depot, code.as_str()),
    }
}

impl From<ConnectError> for Failure {
    fn from(err: ConnectError) -> Self {
        let (class, code) = connect_class(err.code());
        Failure::new(class, code, &err)
    }
}

impl From<depot_core::Error> for Failure {
    fn from(err: depot_core::Error) -> Self {
        use depot_core::Error;
        let (class, code) = match &err {
            Error::Api(api) => connect_class(api.code()),
            Error::MissingToken => (Class::Auth, "unauthenticated"),
            Error::MissingProject | Error::ConfigFile { .. } | Error::Io { .. } => {
                (Class::Config, "config")
            }
        };
        Failure::new(class, code, &err)
    }
}

impl From<depot_build::buildkit::Error> for Failure {
    fn from(err: depot_build::buildkit::Error) -> Self {
        use depot_build::buildkit::Error;
        match &err {
            Error::Build(failure) => Failure::build(failure),
            Error::InvalidOptions(_) | Error::Endpoint { .. } => {
                Failure::new(Class::Depot, "invalid_argument", &err)
            }
            Error::Connect { .. } => Failure::new(Class::Depot, "unavailable", &err),
            Error::Unsupported(_) => Failure::new(Class::Depot, "unimplemented", &err),
            Error::Tls { .. } | Error::Call { .. } => Failure::new(Class::Depot, "internal", &err),
        }
    }
}

impl From<depot_build::builder::Error> for Failure {
    fn from(err: depot_build::builder::Error) -> Self {
        use depot_build::builder::Error;
        match err {
            Error::BuildKit(inner) => inner.into(),
            Error::Api { source, .. } if source.code() == Code::Canceled => {
                Failure::new(Class::BuildCanceled, "canceled", &source)
            }
            Error::Api { ref source, .. } => {
                let (class, code) = connect_class(source.code());
                Failure::new(class, code, &err)
            }
            Error::NotReady { .. } => Failure::new(Class::Depot, "unavailable", &err),
            Error::Unsupported(_) => Failure::new(Class::Depot, "unimplemented", &err),
            Error::Protocol(_) => Failure::new(Class::Depot, "internal", &err),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(err: ClientError) -> Self {
        let code = match &err {
            ClientError::Reference { .. } => "invalid_argument",
            _ => "registry",
        };
        Failure::new(Class::Registry, code, &err)
    }
}

impl From<depot_build::run::Error> for Failure {
    fn from(err: depot_build::run::Error) -> Self {
        use depot_build::run::Error;
        match err {
            Error::Invalid(_) => Failure::new(Class::Depot, "invalid_argument", &err),
            Error::Register(inner) | Error::Connect(inner) | Error::Plan(inner) => inner.into(),
            Error::Build(inner) => inner.into(),
            Error::Canceled { .. } => Failure::new(Class::BuildCanceled, "canceled", &err),
            Error::Task(_) => Failure::new(Class::Depot, "internal", &err),
        }
    }
}
