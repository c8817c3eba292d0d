//! A classified error as plain data: what every language package raises, with the same fields
//! in each (in each language's naming). The packages build their exceptions from an
//! [`ErrorReport`] and nothing else, so a failure carries the same information in Node and
//! Python.

use serde::Serialize;

use crate::error_kind::{Classify, ErrorKind};

/// A failure, ready to cross into another language.
///
/// As JSON (`serde`), its keys are snake_case: `code` (the [`ErrorKind`]'s code), `message`,
/// `causes` (the source chain's messages, outermost first), `step`, `logs` and `exit_code` (for
/// a failed build step) and `build_id` (the build the failure belongs to).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    /// The kind's stable code (`not_found`, `build_failed`…).
    #[serde(serialize_with = "code")]
    pub code: ErrorKind,
    /// The error's own message (its causes are in `causes`, not repeated here).
    pub message: String,
    /// The messages of its causes, outermost first.
    pub causes: Vec<String>,
    /// The failing build step's name, for failed builds.
    pub step: Option<String>,
    /// The failing step's last log lines.
    pub logs: Vec<String>,
    /// The failing step's process exit code, when it ran one.
    pub exit_code: Option<i32>,
    /// The build the failure belongs to, when there is one.
    pub build_id: Option<String>,
}

fn code<S: serde::Serializer>(kind: &ErrorKind, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(kind.code())
}

impl ErrorReport {
    /// A failure of `kind` with only a message (for failures the packages detect themselves).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ErrorReport {
            code: kind,
            message: message.into(),
            causes: Vec::new(),
            step: None,
            logs: Vec::new(),
            exit_code: None,
            build_id: None,
        }
    }

    /// Names the build the failure belongs to.
    pub fn for_build(mut self, build_id: &str) -> Self {
        self.build_id = Some(build_id.to_owned());
        self
    }
}

/// The message and its causes, joined with `": "` like [`crate::ErrorChain`].
impl std::fmt::Display for ErrorReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        for cause in &self.causes {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl<E: Classify> From<E> for ErrorReport {
    fn from(error: E) -> Self {
        let step = error.failed_step().unwrap_or_default();
        ErrorReport {
            code: error.kind(),
            message: error.to_string(),
            causes: error.causes(),
            step: step.name,
            logs: step.log,
            exit_code: step.exit_code,
            build_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn carries_the_kind_the_message_and_the_causes_once() {
        let error = Error::Io {
            action: "reading",
            path: "/etc/depot.json".into(),
            source: std::io::Error::other("disk on fire"),
        };
        let report = ErrorReport::from(error).for_build("b1");
        assert_eq!(report.code, ErrorKind::Config);
        assert_eq!(report.message, "reading /etc/depot.json");
        assert_eq!(report.causes, ["disk on fire"]);
        assert_eq!(report.to_string(), "reading /etc/depot.json: disk on fire");
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            serde_json::json!({
                "code": "config", "message": "reading /etc/depot.json", "causes": ["disk on fire"],
                "step": null, "logs": [], "exit_code": null, "build_id": "b1",
            })
        );
    }
}
