//! Build steps and logs from the statuses of a build: what its client reports
//! (`ReportStatusStream`) and what the server's builders see of its solves
//! ([`crate::builders::SolveObserver`]: the official CLI reports only its own steps). Steps
//! from both merge by vertex digest; logs come from the builder's view when the server has
//! one, else from the client's.

use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

use super::ControlPlane;
use super::build_lifecycle::{MAX_STEPS_PER_BUILD, steps_of};
use super::step_logs::LineSplitter;
use crate::builders::SolveObserver;
use depot_core::connect::ConnectError;
use depot_core::proto::moby::buildkit::v1::StatusResponse;

/// How long a batch of a solve's statuses gathers before it is written.
const BATCH_WINDOW: Duration = Duration::from_millis(500);

impl ControlPlane {
    /// Keeps the steps in `statuses`, and their log lines when `lines` splits them.
    pub(super) async fn record_statuses(
        &self,
        build_id: &str,
        statuses: &[StatusResponse],
        lines: Option<&mut LineSplitter>,
    ) -> Result<(), ConnectError> {
        let steps = steps_of(statuses);
        if !steps.is_empty() {
            self.store
                .record_build_steps(build_id, &steps, MAX_STEPS_PER_BUILD)
                .await?;
        }
        if let Some(lines) = lines {
            let logs = lines.push(statuses.iter().flat_map(|s| &s.logs));
            self.keep_step_logs(build_id, &logs).await?;
        }
        Ok(())
    }

    /// One solve of `build_id` as its builder streams it, written in batches until it ends.
    async fn record_solve(
        &self,
        build_id: &str,
        mut statuses: BoxStream<'static, StatusResponse>,
    ) -> Result<(), ConnectError> {
        self.store.mark_status_observed(build_id).await?;
        let mut lines = LineSplitter::default();
        while let Some(first) = statuses.next().await {
            let mut batch = vec![first];
            let until = tokio::time::Instant::now() + BATCH_WINDOW;
            while let Ok(Some(next)) = tokio::time::timeout_at(until, statuses.next()).await {
                batch.push(next);
            }
            self.record_statuses(build_id, &batch, Some(&mut lines))
                .await?;
        }
        self.keep_step_logs(build_id, &lines.flush()).await
    }
}

impl SolveObserver for ControlPlane {
    fn observe(
        &self,
        build_id: String,
        statuses: BoxStream<'static, StatusResponse>,
    ) -> BoxFuture<'static, ()> {
        let plane = self.clone();
        Box::pin(async move {
            if let Err(err) = plane.record_solve(&build_id, statuses).await {
                tracing::warn!(build = %build_id, %err, "recording a solve's status failed");
            }
        })
    }
}
