//! The one way depot-rs renders an error as a single line of text: its message, then each cause
//! of its `source()` chain, joined with `": "` (as anyhow's `{:#}` does).
//!
//! depot-rs errors never repeat their source in their own message, so an error shown with
//! [`ErrorChain`] (or anyhow's `{:#}`, or a package's cause chain) says each thing once. Use it
//! wherever an error becomes text: logs, messages sent to a peer, build records.

use std::fmt;

/// Displays an error with its causes: `cannot reach BuildKit at tcp://…: connection refused`.
///
/// ```
/// use depot_core::ErrorChain;
/// #[derive(Debug, thiserror::Error)]
/// #[error("reading the config")]
/// struct Outer(#[source] std::io::Error);
/// let error = Outer(std::io::Error::other("disk on fire"));
/// assert_eq!(ErrorChain(&error).to_string(), "reading the config: disk on fire");
/// ```
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'a));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}
