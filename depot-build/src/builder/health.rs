//! `ReportBuildHealth` every 5 s while the builder is held; a past `cancels_at` in the answer
//! is the server canceling the build.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use depot_core::DepotClient;
use depot_core::proto::depot::cli::v1::{BuilderPlatform, ReportBuildHealthRequest};
use tokio_util::sync::CancellationToken;

/// How often health is reported.
pub(super) const INTERVAL: Duration = Duration::from_secs(5);

/// Reports health until aborted; cancels `canceled` once the server asks for it. Failed
/// reports are ignored, like the official CLI does.
pub(super) async fn report(
    client: DepotClient,
    build_id: String,
    platform: BuilderPlatform,
    canceled: CancellationToken,
) {
    let mut ticks = tokio::time::interval(INTERVAL);
    loop {
        ticks.tick().await;
        let answer = client
            .builds()
            .report_build_health(ReportBuildHealthRequest {
                build_id: build_id.clone(),
                platform: platform as i32,
            })
            .await;
        if let Ok(answer) = answer
            && let Some(at) = answer.cancels_at
            && is_past(at.seconds, at.nanos)
        {
            canceled.cancel();
        }
    }
}

/// Whether a protobuf timestamp lies in the past.
fn is_past(seconds: i64, nanos: i32) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (seconds, nanos) <= (now.as_secs() as i64, now.subsec_nanos() as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_and_future_timestamps() {
        assert!(is_past(0, 0));
        assert!(!is_past(i64::MAX, 0));
    }
}
