//! Keeping an instance's cache within its project's policy, and measuring it.
//!
//! After each build, [`tidy`] prunes the engine's BuildKit cache (through the Engine's `/grpc`
//! upgrade, BuildKit's `Control.Prune`): records unused for longer than `keep_days`, then the
//! least recently used ones until the cache holds at most `keep_bytes`; and removes the images
//! the build left in the engine's own image store (saved builds live in the registry, so the
//! engine keeps nothing but cache). Then it measures the cache (`Control.DiskUsage`), and the
//! figure is kept in the instance's directory (`usage.json`) for when the instance is stopped.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use bollard_buildkit_proto::moby::buildkit::v1::{DiskUsageRequest, PruneRequest};
use depot_control::builders::CachePolicy;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::buildkit::Endpoint;

/// What an instance's cache holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Bytes of BuildKit's cache records.
    pub bytes: u64,
    /// Cache records.
    pub entries: u64,
    /// When a build last used the instance, in ms since the Unix epoch.
    pub last_used_ms: Option<u64>,
}

impl Usage {
    /// The figure kept in `dir`, if any.
    pub fn load(dir: &Path) -> Option<Usage> {
        serde_json::from_slice(&std::fs::read(dir.join("usage.json")).ok()?).ok()
    }

    /// Keeps the figure in `dir` (written whole, then renamed into place).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let partial = dir.join("usage.json.partial");
        std::fs::write(&partial, serde_json::to_vec(self).unwrap_or_default())?;
        std::fs::rename(partial, dir.join("usage.json"))
    }

    /// `last_used_ms` as a time.
    pub fn last_used(&self) -> Option<SystemTime> {
        self.last_used_ms
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
    }
}

/// Applies `policy` to the engine at `socket` and measures its cache.
pub async fn tidy(socket: &Path, policy: CachePolicy) -> Result<(u64, u64), String> {
    remove_images(socket).await?;
    let engine = Endpoint::Docker(socket.to_owned());
    if policy.keep_days > 0 {
        prune(
            &engine,
            PruneRequest {
                all: true,
                keep_duration: i64::from(policy.keep_days) * 24 * 3600 * 1_000_000_000,
                ..PruneRequest::default()
            },
        )
        .await?;
    }
    if policy.keep_bytes > 0 {
        // Tag 4: `keepBytes` in the BuildKit of Docker Engine 26 (0.13).
        prune(
            &engine,
            PruneRequest {
                all: true,
                reserved_space: i64::try_from(policy.keep_bytes).unwrap_or(i64::MAX),
                ..PruneRequest::default()
            },
        )
        .await?;
    }
    measure(socket).await
}

/// Bytes and records of the BuildKit cache of the engine at `socket`.
pub async fn measure(socket: &Path) -> Result<(u64, u64), String> {
    let channel = Endpoint::Docker(socket.to_owned())
        .connect()
        .await
        .map_err(|e| depot_core::ErrorChain(&e).to_string())?;
    let records = ControlClient::new(channel)
        .disk_usage(DiskUsageRequest::default())
        .await
        .map_err(|status| format!("BuildKit's disk usage failed: {}", status.message()))?
        .into_inner()
        .record;
    let bytes = records
        .iter()
        .map(|record| u64::try_from(record.size).unwrap_or(0))
        .sum();
    Ok((bytes, records.len() as u64))
}

async fn prune(engine: &Endpoint, request: PruneRequest) -> Result<(), String> {
    let channel = engine
        .connect()
        .await
        .map_err(|e| depot_core::ErrorChain(&e).to_string())?;
    let mut pruned = ControlClient::new(channel)
        .prune(request)
        .await
        .map_err(|status| format!("BuildKit refused to prune: {}", status.message()))?
        .into_inner();
    while pruned
        .message()
        .await
        .map_err(|status| format!("pruning failed: {}", status.message()))?
        .is_some()
    {}
    Ok(())
}

/// Removes every image no container uses from the engine's image store
/// (`POST /images/prune?filters={"dangling":["false"]}`).
async fn remove_images(socket: &Path) -> Result<(), String> {
    let request = "POST /images/prune?filters=%7B%22dangling%22%3A%5B%22false%22%5D%7D HTTP/1.0\r\n\
                   Host: docker\r\nContent-Length: 0\r\n\r\n";
    let answer = async {
        let mut stream = tokio::net::UnixStream::connect(socket).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(120), answer)
        .await
        .map_err(|_| "the engine did not answer the image prune".to_owned())?
        .map_err(|err| format!("pruning the engine's images failed: {err}"))?;
    if response.starts_with(b"HTTP/1.0 200") || response.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        let head = String::from_utf8_lossy(&response[..response.len().min(200)]).into_owned();
        Err(format!("the engine refused to prune its images: {head}"))
    }
}
