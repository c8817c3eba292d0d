//! A failed build, typed: the daemon's message, the step that failed, its exit code and the
//! last lines it wrote.

use super::status::Summary;

/// Why a build failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildFailure {
    /// The daemon's message (`process "/bin/sh -c …" did not complete successfully: exit code: 2`).
    pub message: String,
    /// The gRPC status code of the solve call.
    pub code: tonic::Code,
    /// The step that failed (`[build 2/3] RUN make`), when one did.
    pub step: Option<String>,
    /// The failed process's exit code, when a process failed.
    pub exit_code: Option<i32>,
    /// The last lines the failed step wrote.
    pub log: Vec<String>,
}

impl BuildFailure {
    pub(super) fn new(status: tonic::Status, summary: Summary) -> Self {
        let message = status.message().to_owned();
        BuildFailure {
            exit_code: exit_code(&message),
            code: status.code(),
            message,
            step: summary.failed_step,
            log: summary.log,
        }
    }

    /// Whether the build was cancelled rather than failed.
    pub fn is_canceled(&self) -> bool {
        self.code == tonic::Code::Cancelled || self.message.ends_with("context canceled")
    }
}

impl std::fmt::Display for BuildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.step {
            Some(step) => write!(f, "{step}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// `… exit code: N` (BuildKit 0.13: `did not complete successfully: exit code: 3`; 0.8:
/// `executor failed running […]: exit code: 3`).
fn exit_code(message: &str) -> Option<i32> {
    let (_, rest) = message.rsplit_once("exit code: ")?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_exit_code() {
        assert_eq!(
            exit_code(r#"process "/bin/sh -c exit 3" did not complete successfully: exit code: 3"#),
            Some(3)
        );
        assert_eq!(
            exit_code("executor failed running [/bin/sh -c false]: exit code: 1"),
            Some(1)
        );
        assert_eq!(exit_code("failed to solve: no such file"), None);
    }
}
