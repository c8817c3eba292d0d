//! A build's plain-text summary (status, timing, builders, steps): what `GET /builds/<id>` (the
//! `build_url` clients print) answers an API client presenting a token, and the head of a
//! shared build's page. Signed-in browsers get the dashboard's build page at the same URL.

use super::ControlPlane;
use crate::store::{Build, BuildStep, now_ms};

impl ControlPlane {
    /// The summary link of a build.
    pub(super) fn build_url(&self, build_id: &str) -> String {
        format!("{}/builds/{build_id}", self.config.public_url)
    }
}

/// The summary text; `builders` are `(architecture, endpoint)`.
pub(super) fn render(build: &Build, builders: &[(String, String)], steps: &[BuildStep]) -> String {
    let status = build.status_name();
    let end = build.finished_at.unwrap_or_else(now_ms);
    let mut text = format!(
        "build {}\nproject: {}\nstatus: {status}\nduration: {}\n",
        build.id,
        build.project_id,
        seconds(end - build.created_at)
    );
    if build.isolated != 0 {
        text.push_str(
            "isolated: yes (a pull request from a fork: a throwaway cache, no registry access)\n",
        );
    }
    for (arch, endpoint) in builders {
        text.push_str(&format!("builder {arch}: {endpoint}\n"));
    }
    if let Some(error) = &build.error {
        text.push_str(&format!("error: {error}\n"));
    }
    let cached = steps.iter().filter(|s| s.cached == 1).count();
    text.push_str(&format!("\nsteps ({}, {cached} cached):\n", steps.len()));
    for step in steps {
        let took = match (step.started_at, step.completed_at) {
            _ if step.cached == 1 => "CACHED".to_owned(),
            (Some(start), Some(done)) => seconds(done - start),
            (Some(_), None) => "running".to_owned(),
            _ => "-".to_owned(),
        };
        text.push_str(&format!("  {took:>8}  {}\n", step.name));
        if let Some(error) = &step.error {
            text.push_str(&format!("            ERROR: {error}\n"));
        }
    }
    text
}

fn seconds(ms: i64) -> String {
    format!("{:.1}s", ms.max(0) as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use depot_core::proto::depot::cli::v1::BuildStatus;

    #[test]
    fn summary_lists_steps_with_timing_and_cache_hits() {
        let build = Build {
            id: "b1".into(),
            project_id: "p1".into(),
            status: BuildStatus::Failed as i64,
            error: Some("exit code: 3".into()),
            created_at: 1_000,
            finished_at: Some(4_500),
            request: None,
            last_seen_at: None,
            cancel_requested_at: None,
            isolated: 1,
        };
        let steps = [
            BuildStep {
                digest: "sha256:a".into(),
                name: "[1/2] COPY . .".into(),
                cached: 1,
                ..Default::default()
            },
            BuildStep {
                digest: "sha256:b".into(),
                name: "[2/2] RUN false".into(),
                started_at: Some(2_000),
                completed_at: Some(3_250),
                error: Some("exit code: 3".into()),
                ..Default::default()
            },
        ];
        let builders = [("amd64".to_owned(), "tcp://127.0.0.1:4000".to_owned())];
        let text = render(&build, &builders, &steps);
        assert!(text.contains("status: failed\n"), "{text}");
        assert!(text.contains("isolated: yes"), "{text}");
        assert!(text.contains("duration: 3.5s\n"), "{text}");
        assert!(
            text.contains("builder amd64: tcp://127.0.0.1:4000\n"),
            "{text}"
        );
        assert!(text.contains("steps (2, 1 cached):"), "{text}");
        assert!(text.contains("    CACHED  [1/2] COPY . .\n"), "{text}");
        assert!(text.contains("      1.2s  [2/2] RUN false\n"), "{text}");
    }
}
