//! Which [`ErrorKind`] depot-build's errors are, for the SDKs to report alike in every language.

use depot_core::{Classify, ErrorKind, FailedStep};

use crate::buildkit;
use crate::{builder, run};

impl Classify for buildkit::Error {
    fn kind(&self) -> ErrorKind {
        use buildkit::Error;
        match self {
            Error::Endpoint { .. } | Error::InvalidOptions(_) => ErrorKind::InvalidArgument,
            Error::Connect { .. } => ErrorKind::Unavailable,
            Error::Tls { .. } => ErrorKind::Internal,
            Error::Call { status, .. } => grpc_kind(status.code()),
            Error::Unsupported(_) => ErrorKind::Unimplemented,
            Error::Build(failure) if failure.is_canceled() => ErrorKind::Canceled,
            Error::Build(_) => ErrorKind::BuildFailed,
        }
    }

    fn failed_step(&self) -> Option<FailedStep> {
        match self {
            buildkit::Error::Build(failure) if !failure.is_canceled() => Some(FailedStep {
                name: failure.step.clone(),
                log: failure.log.clone(),
                exit_code: failure.exit_code,
            }),
            _ => None,
        }
    }
}

impl Classify for builder::Error {
    fn kind(&self) -> ErrorKind {
        use builder::Error;
        match self {
            Error::Api { source, .. } => source.kind(),
            Error::Protocol(_) => ErrorKind::Internal,
            Error::NotReady { .. } => ErrorKind::Unavailable,
            Error::BuildKit(inner) => inner.kind(),
            Error::Unsupported(_) => ErrorKind::Unimplemented,
        }
    }

    fn failed_step(&self) -> Option<FailedStep> {
        match self {
            builder::Error::BuildKit(inner) => inner.failed_step(),
            _ => None,
        }
    }
}

impl Classify for run::Error {
    fn kind(&self) -> ErrorKind {
        use run::Error;
        match self {
            Error::Invalid(_) | Error::Bake(_) => ErrorKind::InvalidArgument,
            Error::Register(inner) | Error::Connect(inner) | Error::Plan(inner) => inner.kind(),
            Error::Build(inner)
            | Error::Platform { source: inner, .. }
            | Error::Target { source: inner, .. } => inner.kind(),
            Error::Index(inner) => inner.kind(),
            Error::Canceled { .. } => ErrorKind::Canceled,
            Error::Task(_) => ErrorKind::Internal,
        }
    }

    fn failed_step(&self) -> Option<FailedStep> {
        use run::Error;
        match self {
            Error::Register(inner) | Error::Connect(inner) | Error::Plan(inner) => {
                inner.failed_step()
            }
            Error::Build(inner)
            | Error::Platform { source: inner, .. }
            | Error::Target { source: inner, .. } => inner.failed_step(),
            _ => None,
        }
    }
}

/// The kind of a failed BuildKit call.
fn grpc_kind(code: tonic::Code) -> ErrorKind {
    use tonic::Code;
    match code {
        Code::Cancelled => ErrorKind::Canceled,
        Code::InvalidArgument | Code::OutOfRange => ErrorKind::InvalidArgument,
        Code::NotFound => ErrorKind::NotFound,
        Code::AlreadyExists => ErrorKind::AlreadyExists,
        Code::PermissionDenied => ErrorKind::PermissionDenied,
        Code::Unauthenticated => ErrorKind::Unauthenticated,
        Code::ResourceExhausted => ErrorKind::ResourceExhausted,
        Code::FailedPrecondition | Code::Aborted => ErrorKind::FailedPrecondition,
        Code::Unimplemented => ErrorKind::Unimplemented,
        Code::Unavailable | Code::DeadlineExceeded => ErrorKind::Unavailable,
        Code::Ok | Code::Unknown | Code::Internal | Code::DataLoss => ErrorKind::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildkit::BuildFailure;

    fn failed(code: tonic::Code, message: &str) -> BuildFailure {
        BuildFailure {
            code,
            message: message.into(),
            step: Some("[2/2] RUN false".into()),
            log: vec!["oops".into()],
            exit_code: Some(1),
        }
    }

    #[test]
    fn failed_builds_carry_their_step_and_canceled_ones_do_not() {
        let failure = run::Error::Build(buildkit::Error::Build(Box::new(failed(
            tonic::Code::Unknown,
            "process did not complete successfully",
        ))));
        assert_eq!(failure.kind(), ErrorKind::BuildFailed);
        let step = failure.failed_step().expect("a failed step");
        assert_eq!(step.name.as_deref(), Some("[2/2] RUN false"));
        assert_eq!(
            (step.log, step.exit_code),
            (vec!["oops".to_owned()], Some(1))
        );

        let canceled = run::Error::Build(buildkit::Error::Build(Box::new(failed(
            tonic::Code::Cancelled,
            "context canceled",
        ))));
        assert_eq!(canceled.kind(), ErrorKind::Canceled);
        assert_eq!(canceled.failed_step(), None);
    }

    #[test]
    fn wrapped_errors_take_the_inner_kind() {
        let denied = run::Error::Register(builder::Error::Api {
            call: "CreateBuild",
            source: depot_core::connect::ConnectError::new(
                depot_core::connect::Code::PermissionDenied,
                "no",
            ),
        });
        assert_eq!(denied.kind().code(), "permission_denied");
        let call = buildkit::Error::Call {
            call: "Solve",
            status: Box::new(tonic::Status::unavailable("gone")),
        };
        assert_eq!(call.kind(), ErrorKind::Unavailable);
    }
}
