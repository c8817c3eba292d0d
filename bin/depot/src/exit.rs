//! Failures that were already shown to the user, and the exit code each means; and how the
//! others are described.

/// Ends the command with `code`, printing nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The process exit code.
    pub code: u8,
}

impl Exit {
    /// A failure (exit code 1).
    pub const FAILURE: Exit = Exit { code: 1 };
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.code)
    }
}

impl std::error::Error for Exit {}

/// `err` and its causes joined with `: `, like anyhow's `{:#}`, except that a cause whose text
/// the message already shows (errors that print their source) is not repeated.
pub fn describe(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let message = cause.to_string();
        if text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_already_shown_are_not_repeated() {
        /// An error that prints its source too.
        #[derive(Debug)]
        struct Shows(std::io::Error);
        impl std::fmt::Display for Shows {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "CreateBuild failed: {}", self.0)
            }
        }
        impl std::error::Error for Shows {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let inner = std::io::Error::other("permission_denied: no trust policy");
        let err = anyhow::Error::new(Shows(inner)).context("building");
        assert_eq!(
            describe(&err),
            "building: CreateBuild failed: permission_denied: no trust policy"
        );
        let plain = anyhow::anyhow!("root").context("outer");
        assert_eq!(describe(&plain), "outer: root");
    }
}
