//! What each project holds in unfinished uploads (bytes and sessions), so that one project
//! cannot fill the staging disk: counted from disk when the staging area opens, then kept as
//! sessions start, grow, shrink and end.

use std::collections::HashMap;

use axum::http::StatusCode;

use crate::server::error::{ErrorCode, RegistryError, Result};

/// Caps on what one project may hold in unfinished uploads.
#[derive(Clone, Copy, Debug)]
pub struct StagingLimits {
    /// Bytes staged at once by a project's unfinished uploads.
    pub bytes_per_project: u64,
    /// Upload sessions a project may have open at once.
    pub sessions_per_project: usize,
}

impl Default for StagingLimits {
    /// 64 GiB and 1000 sessions per project.
    fn default() -> Self {
        Self {
            bytes_per_project: 64 << 30,
            sessions_per_project: 1000,
        }
    }
}

/// The accounting: every session's project and size, and each project's totals.
pub(super) struct Staged {
    limits: StagingLimits,
    sessions: HashMap<String, Session>,
    projects: HashMap<String, Usage>,
}

struct Session {
    project: String,
    bytes: u64,
}

#[derive(Default)]
struct Usage {
    bytes: u64,
    sessions: usize,
}

impl Staged {
    pub fn new(limits: StagingLimits) -> Self {
        Self {
            limits,
            sessions: HashMap::new(),
            projects: HashMap::new(),
        }
    }

    /// Counts a session found on disk (no limit applies: it is there already).
    pub fn restore(&mut self, id: &str, project: &str, bytes: u64) {
        self.close(id);
        let usage = self.projects.entry(project.to_owned()).or_default();
        usage.bytes += bytes;
        usage.sessions += 1;
        self.sessions.insert(
            id.to_owned(),
            Session {
                project: project.to_owned(),
                bytes,
            },
        );
    }

    /// Counts a new session of `project`, unless the project has as many open as allowed.
    pub fn open(&mut self, id: &str, project: &str) -> Result<()> {
        let open = self.projects.get(project).map_or(0, |u| u.sessions);
        if open >= self.limits.sessions_per_project {
            return Err(RegistryError::new(
                ErrorCode::Denied,
                format!(
                    "project {project} has {open} unfinished uploads, the most allowed at once: \
                     finish or cancel some (idle ones expire)"
                ),
            )
            .with_status(StatusCode::TOO_MANY_REQUESTS));
        }
        self.restore(id, project, 0);
        Ok(())
    }

    /// Counts `bytes` more in session `id`, unless its project would hold more than allowed.
    pub fn grow(&mut self, id: &str, bytes: u64) -> Result<()> {
        let Some(session) = self.sessions.get_mut(id) else {
            return Err(RegistryError::new(
                ErrorCode::BlobUploadUnknown,
                "unknown upload session",
            ));
        };
        let usage = self.projects.entry(session.project.clone()).or_default();
        let limit = self.limits.bytes_per_project;
        if usage.bytes.saturating_add(bytes) > limit {
            return Err(RegistryError::new(
                ErrorCode::Denied,
                format!(
                    "project {} holds {} bytes in unfinished uploads and may stage at most \
                     {limit}: finish or cancel its uploads, or wait for idle ones to expire",
                    session.project, usage.bytes
                ),
            )
            .with_status(StatusCode::PAYLOAD_TOO_LARGE));
        }
        usage.bytes += bytes;
        session.bytes += bytes;
        Ok(())
    }

    /// Counts `bytes` fewer in session `id` (its data was cut back).
    pub fn shrink(&mut self, id: &str, bytes: u64) {
        if let Some(session) = self.sessions.get_mut(id) {
            let bytes = bytes.min(session.bytes);
            session.bytes -= bytes;
            if let Some(usage) = self.projects.get_mut(&session.project) {
                usage.bytes = usage.bytes.saturating_sub(bytes);
            }
        }
    }

    /// Stops counting session `id` (published, cancelled or expired).
    pub fn close(&mut self, id: &str) {
        let Some(session) = self.sessions.remove(id) else {
            return;
        };
        if let Some(usage) = self.projects.get_mut(&session.project) {
            usage.bytes = usage.bytes.saturating_sub(session.bytes);
            usage.sessions = usage.sessions.saturating_sub(1);
            if usage.sessions == 0 {
                self.projects.remove(&session.project);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> StagingLimits {
        StagingLimits {
            bytes_per_project: 100,
            sessions_per_project: 2,
        }
    }

    #[test]
    fn a_project_stays_within_its_bytes_and_sessions() {
        let mut staged = Staged::new(limits());
        staged.open("a", "p").unwrap();
        staged.open("b", "p").unwrap();
        assert_eq!(staged.open("c", "p").unwrap_err().code(), ErrorCode::Denied);
        staged.open("c", "q").unwrap(); // another project's count is its own
        staged.grow("a", 60).unwrap();
        assert!(staged.grow("b", 41).is_err());
        staged.grow("b", 40).unwrap();
        staged.shrink("a", 10);
        staged.grow("b", 10).unwrap();
        staged.close("a");
        staged.open("d", "p").unwrap();
        staged.grow("d", 50).unwrap();
        assert!(staged.grow("d", 1).is_err());
        assert!(staged.grow("gone", 1).is_err());
    }

    #[test]
    fn sessions_found_on_disk_count_against_new_ones() {
        let mut staged = Staged::new(limits());
        staged.restore("a", "p", 90);
        staged.open("b", "p").unwrap();
        assert!(staged.grow("b", 11).is_err());
        staged.close("a");
        staged.grow("b", 100).unwrap();
    }
}
