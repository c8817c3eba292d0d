//! What a BuildKit daemon can do, probed with `Info` and `ListWorkers`.
//!
//! - `Info` is unimplemented before BuildKit 0.11 (Docker 20.10 to 23); it reports the version
//!   otherwise (Debian's builds report `v0.0.0+unknown`, so the version string is shown, not
//!   trusted).
//! - A Docker Engine's worker says which image store it uses: with the containerd image store
//!   (a worker with the `containerd` executor; the classic one has the id `moby`) BuildKit can
//!   export `image` (and push), `oci` and `docker`; with the graph drivers only `moby` (load),
//!   `local` and `tar`.
//! - Several exporters in one solve need BuildKit 0.13 (`SolveRequest.exporters`); older
//!   daemons silently use only the first, so this client refuses them there instead.

use std::collections::HashMap;

use bollard_buildkit_proto::moby::buildkit::v1::{InfoRequest, ListWorkersRequest};

use super::{BuildKit, Error, call_error};

/// Label naming the executor of a worker (`oci` or `containerd`).
const EXECUTOR_LABEL: &str = "org.mobyproject.buildkit.worker.executor";
/// The id of a Docker Engine's worker over the classic graph drivers.
const GRAPH_DRIVER_WORKER: &str = "moby";

/// An exporter: what a build's result becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Exporter {
    /// An image in the daemon's store, optionally pushed to registries.
    Image,
    /// An OCI image layout tarball.
    Oci,
    /// A `docker load` tarball.
    Docker,
    /// The result's files, as a directory.
    Local,
    /// The result's files, as a tarball.
    Tar,
    /// An image loaded into the Docker Engine.
    Moby,
}

impl Exporter {
    /// The exporter's name in a solve request.
    pub fn as_str(self) -> &'static str {
        match self {
            Exporter::Image => "image",
            Exporter::Oci => "oci",
            Exporter::Docker => "docker",
            Exporter::Local => "local",
            Exporter::Tar => "tar",
            Exporter::Moby => "moby",
        }
    }
}

impl std::fmt::Display for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of daemon it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DaemonKind {
    /// A standalone buildkitd.
    Buildkitd,
    /// A Docker Engine with the containerd image store.
    DockerContainerd,
    /// A Docker Engine with a classic graph driver.
    DockerGraphDriver,
}

/// One worker of the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worker {
    /// Its id.
    pub id: String,
    /// Its labels.
    pub labels: HashMap<String, String>,
    /// Platforms it builds for natively, as `os/arch[/variant]`.
    pub platforms: Vec<String>,
}

/// What the daemon is and can do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The kind of daemon.
    pub kind: DaemonKind,
    /// BuildKit's version as reported (`None` before BuildKit 0.11).
    pub version: Option<String>,
    /// Its workers.
    pub workers: Vec<Worker>,
    /// The exporters it has, sorted.
    pub exporters: Vec<Exporter>,
    /// Whether one solve may use several exporters.
    pub multiple_exporters: bool,
}

impl Capabilities {
    /// Checks that the daemon can run `exporters` in one solve; the error says what to do
    /// instead.
    pub fn check_exporters(&self, exporters: &[Exporter]) -> Result<(), Error> {
        for exporter in exporters {
            if !self.exporters.contains(exporter) {
                let hint = match (self.kind, exporter) {
                    (
                        DaemonKind::DockerGraphDriver,
                        Exporter::Image | Exporter::Oci | Exporter::Docker,
                    ) => {
                        " (turn on the containerd image store: \"features\": {\"containerd-snapshotter\": true} in /etc/docker/daemon.json)"
                    }
                    _ => "",
                };
                let available: Vec<&str> = self.exporters.iter().map(|e| e.as_str()).collect();
                return Err(Error::Unsupported(format!(
                    "this BuildKit has no `{exporter}` exporter; it has {}{hint}",
                    available.join(", ")
                )));
            }
        }
        if exporters.len() > 1 && !self.multiple_exporters {
            return Err(Error::Unsupported(format!(
                "this BuildKit ({}) exports one result per build; ask for one of {} (several need BuildKit 0.13, Docker Engine 26)",
                self.version.as_deref().unwrap_or("older than 0.11"),
                exporters
                    .iter()
                    .map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(())
    }
}

pub(super) async fn probe(buildkit: &BuildKit) -> Result<Capabilities, Error> {
    let mut control = buildkit.control();
    let version = match control.info(InfoRequest {}).await {
        Ok(info) => info
            .into_inner()
            .buildkit_version
            .map(|v| v.version)
            .filter(|v| !v.is_empty()),
        Err(status) if status.code() == tonic::Code::Unimplemented => None,
        Err(status) => return Err(call_error("Info")(status)),
    };
    let records = control
        .list_workers(ListWorkersRequest { filter: Vec::new() })
        .await
        .map_err(call_error("ListWorkers"))?
        .into_inner()
        .record;
    let workers: Vec<Worker> = records
        .into_iter()
        .map(|record| Worker {
            id: record.id,
            labels: record.labels,
            platforms: record
                .platforms
                .iter()
                .map(|p| {
                    let mut platform = format!("{}/{}", p.os, p.architecture);
                    if !p.variant.is_empty() {
                        platform = format!("{platform}/{}", p.variant);
                    }
                    platform
                })
                .collect(),
        })
        .collect();
    let kind = daemon_kind(buildkit.endpoint().is_docker(), &workers);
    Ok(Capabilities {
        kind,
        exporters: exporters_of(kind),
        multiple_exporters: version.is_some() && multiple_exporters(kind, version.as_deref()),
        version,
        workers,
    })
}

fn daemon_kind(docker: bool, workers: &[Worker]) -> DaemonKind {
    if !docker {
        DaemonKind::Buildkitd
    } else if workers.iter().any(|w| {
        w.id != GRAPH_DRIVER_WORKER
            && w.labels
                .get(EXECUTOR_LABEL)
                .is_some_and(|e| e == "containerd")
    }) {
        DaemonKind::DockerContainerd
    } else {
        DaemonKind::DockerGraphDriver
    }
}

fn exporters_of(kind: DaemonKind) -> Vec<Exporter> {
    let mut exporters = match kind {
        DaemonKind::Buildkitd => vec![
            Exporter::Image,
            Exporter::Oci,
            Exporter::Docker,
            Exporter::Local,
            Exporter::Tar,
        ],
        DaemonKind::DockerContainerd => vec![
            Exporter::Image,
            Exporter::Oci,
            Exporter::Docker,
            Exporter::Local,
            Exporter::Tar,
            Exporter::Moby,
        ],
        DaemonKind::DockerGraphDriver => vec![Exporter::Moby, Exporter::Local, Exporter::Tar],
    };
    exporters.sort();
    exporters
}

/// Whether a daemon that implements `Info` also reads `SolveRequest.exporters`: BuildKit 0.13
/// and newer. Versions that do not parse (Debian's `v0.0.0+unknown`) are judged by the daemon:
/// a Docker Engine with the containerd store is 26 or newer, which ships 0.13.
fn multiple_exporters(kind: DaemonKind, version: Option<&str>) -> bool {
    let parsed = version.and_then(|v| {
        let mut parts = v.trim_start_matches('v').split(['.', '-', '+']);
        let major: u32 = parts.next()?.parse().ok()?;
        let minor: u32 = parts.next()?.parse().ok()?;
        (major, minor).ne(&(0, 0)).then_some((major, minor))
    });
    match parsed {
        Some(version) => version >= (0, 13),
        None => kind != DaemonKind::DockerGraphDriver,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(id: &str, labels: &[(&str, &str)]) -> Worker {
        Worker {
            id: id.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            platforms: vec!["linux/amd64".into()],
        }
    }

    #[test]
    fn versions_decide_multiple_exporters() {
        assert!(multiple_exporters(DaemonKind::Buildkitd, Some("v0.13.2")));
        assert!(multiple_exporters(
            DaemonKind::Buildkitd,
            Some("v0.20.0-rc1")
        ));
        assert!(!multiple_exporters(DaemonKind::Buildkitd, Some("v0.12.5")));
        assert!(multiple_exporters(
            DaemonKind::DockerContainerd,
            Some("v0.0.0+unknown")
        ));
        assert!(!multiple_exporters(
            DaemonKind::DockerGraphDriver,
            Some("v0.0.0+unknown")
        ));
    }

    #[test]
    fn graph_driver_engines_refuse_image_exporters_with_a_hint() {
        assert_eq!(
            daemon_kind(true, &[worker("3gfn", &[(EXECUTOR_LABEL, "containerd")])]),
            DaemonKind::DockerContainerd
        );
        assert_eq!(
            daemon_kind(false, &[worker("w1", &[(EXECUTOR_LABEL, "oci")])]),
            DaemonKind::Buildkitd
        );
        let kind = daemon_kind(true, &[worker("moby", &[])]);
        assert_eq!(kind, DaemonKind::DockerGraphDriver);
        let caps = Capabilities {
            kind,
            version: None,
            workers: Vec::new(),
            exporters: exporters_of(kind),
            multiple_exporters: false,
        };
        let err = caps.check_exporters(&[Exporter::Oci]).unwrap_err();
        assert!(err.to_string().contains("containerd-snapshotter"), "{err}");
        let err = caps
            .check_exporters(&[Exporter::Local, Exporter::Tar])
            .unwrap_err();
        assert!(err.to_string().contains("one result per build"), "{err}");
        caps.check_exporters(&[Exporter::Moby]).unwrap();
    }
}
