//! Failures that were already shown to the user, and the exit code each means. Other failures
//! are printed with their causes by `main` (`{:#}`): depot-rs errors never repeat their cause
//! in their own message, so each is said once.

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
