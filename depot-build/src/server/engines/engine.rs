//! One Docker Engine started by depot-server for a builder instance: its own state (the data
//! root: BuildKit's cache, the image store, containerd's content and snapshots) in a directory
//! of the instance, run in a claimed [`Slot`] (exec root, socket, pidfile, a bridge of its own)
//! with `--iptables=false` so the host's firewall and `docker0` are left alone, and containerd
//! namespaces of its own. Its config is ours (`--config-file`), never the host's
//! `/etc/docker/daemon.json`.
//!
//! The engine is started under `setpriv --pdeathsig TERM` where util-linux has it, so a
//! depot-server killed outright still takes its engines down; what survives is cleaned up when
//! the slot is next claimed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};

use super::EngineError;
use super::slot::{STOP_GRACE, Slot};

/// How long an engine has to answer its API after being started.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How often readiness is checked while starting.
const READY_POLL: Duration = Duration::from_millis(25);
/// The engine configuration: the containerd image store, so BuildKit can export images.
const DAEMON_JSON: &str = r#"{"features":{"containerd-snapshotter":true}}"#;

/// A running Docker Engine of a builder instance.
#[derive(Debug)]
pub struct Engine {
    slot: Slot,
    child: Child,
    socket: PathBuf,
}

impl Engine {
    /// Starts `dockerd` with its state in `data_root` (created if needed; kept across starts,
    /// which is what makes the cache persistent) in `slot`, logging to `log`; returns once its
    /// API answers.
    pub async fn start(
        dockerd: &Path,
        slot: Slot,
        data_root: &Path,
        log: &Path,
    ) -> Result<Engine, EngineError> {
        let (slot, log_file) = {
            let data_root = data_root.to_owned();
            let log = log.to_owned();
            tokio::task::spawn_blocking(move || prepare(slot, &data_root, &log))
                .await
                .map_err(|err| EngineError::Start {
                    reason: format!("the preparing task failed: {err}"),
                    log: String::new(),
                })??
        };
        let socket = slot.socket();
        let mut command = engine_command(dockerd, &slot, data_root);
        command
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|source| EngineError::Io {
                action: "opening",
                path: log.to_owned(),
                source,
            })?)
            .stderr(log_file);
        let child = command.spawn().map_err(|source| EngineError::Command {
            command: format!("{} (dockerd)", dockerd.display()),
            message: format!(
                "{source}: install Docker Engine 26 or newer (scripts/lib/deps.sh shows how), \
                 or name it with --dockerd"
            ),
        })?;
        let mut engine = Engine {
            slot,
            child,
            socket,
        };
        let started = Instant::now();
        loop {
            if ping(&engine.socket).await {
                return Ok(engine);
            }
            if let Ok(Some(status)) = engine.child.try_wait() {
                let log = tail(log);
                engine.cleanup_slot().await;
                return Err(EngineError::Start {
                    reason: format!("dockerd exited ({status})"),
                    log,
                });
            }
            if started.elapsed() > START_TIMEOUT {
                let log = tail(log);
                engine.stop().await;
                return Err(EngineError::Start {
                    reason: format!("dockerd did not answer within {START_TIMEOUT:?}"),
                    log,
                });
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// The engine's API socket (BuildKit is reached through its `POST /grpc` upgrade).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The slot the engine runs in.
    pub fn slot(&self) -> u16 {
        self.slot.index()
    }

    /// Stops the engine (SIGTERM; killed if it has not stopped in time), deletes its bridge and
    /// releases its slot. Its state stays.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id().and_then(|id| Pid::from_raw(id as i32)) {
            let _ = kill_process(pid, Signal::TERM);
        }
        if tokio::time::timeout(STOP_GRACE, self.child.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                slot = self.slot.index(),
                "a builder engine did not stop in time; killing it"
            );
            let _ = self.child.kill().await;
        }
        self.cleanup_slot().await;
    }

    /// Deletes the slot's bridge (and stops anything left running in it, which a stopped
    /// engine does not leave: this is quick); the slot is released when the engine is dropped.
    async fn cleanup_slot(&mut self) {
        let slot = &self.slot;
        if let Err(err) = slot.clean() {
            tracing::warn!(
                slot = slot.index(),
                "cleaning a builder engine's slot failed: {}",
                depot_core::ErrorChain(&err)
            );
        }
    }
}

/// An engine dropped without [`Engine::stop`] (a task that owned it was abandoned) is asked to
/// stop, so it never runs on with its slot released; whoever claims the slot next waits for it.
impl Drop for Engine {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait()
            && let Some(pid) = self.child.id().and_then(|id| Pid::from_raw(id as i32))
        {
            let _ = kill_process(pid, Signal::TERM);
        }
    }
}

/// Creates the slot's bridge and run directory, the data root and the config; opens the log.
fn prepare(slot: Slot, data_root: &Path, log: &Path) -> Result<(Slot, std::fs::File), EngineError> {
    let io = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| EngineError::Io {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(data_root).map_err(io("creating", data_root))?;
    slot.prepare()?;
    let config = slot.dir().join("daemon.json");
    std::fs::write(&config, DAEMON_JSON).map_err(io("writing", &config))?;
    let log_file = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io("opening", log))?;
    Ok((slot, log_file))
}

/// The containerd namespace of the engine whose state is `data_root`: its own, and the same
/// every time it starts (whatever slot it runs in), since BuildKit's cache records name
/// snapshots in it; an engine started in another namespace would find them gone.
fn containerd_namespace(data_root: &Path) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(data_root.as_os_str().as_encoded_bytes());
    format!("depot-rs-{}", hex::encode(&digest[..8]))
}

/// `dockerd` with everything of its own, under `setpriv --pdeathsig TERM` when available.
fn engine_command(dockerd: &Path, slot: &Slot, data_root: &Path) -> Command {
    let dir = slot.dir();
    let namespace = containerd_namespace(data_root);
    let args: Vec<String> = vec![
        "--config-file".into(),
        dir.join("daemon.json").display().to_string(),
        "--data-root".into(),
        data_root.display().to_string(),
        "--exec-root".into(),
        dir.join("exec").display().to_string(),
        "--pidfile".into(),
        slot.pidfile().display().to_string(),
        "-H".into(),
        format!("unix://{}", slot.socket().display()),
        "--bridge".into(),
        slot.bridge(),
        "--iptables=false".into(),
        "--ip6tables=false".into(),
        "--containerd-namespace".into(),
        namespace.clone(),
        "--containerd-plugins-namespace".into(),
        format!("{namespace}-plugins"),
    ];
    let setpriv = Path::new("/usr/bin/setpriv");
    let mut command = if setpriv.is_file() {
        let mut command = Command::new(setpriv);
        command.args(["--pdeathsig", "TERM"]).arg(dockerd);
        command
    } else {
        Command::new(dockerd)
    };
    command.args(args).kill_on_drop(false);
    command
}

/// Whether the engine's API answers `GET /_ping`.
async fn ping(socket: &Path) -> bool {
    let attempt = async {
        let mut stream = UnixStream::connect(socket).await.ok()?;
        stream
            .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            .await
            .ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        Some(response.starts_with(b"HTTP/1.0 200") || response.starts_with(b"HTTP/1.1 200"))
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// The last lines of an engine's log, for an error message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_keeps_its_containerd_namespace_and_no_other_engine_shares_it() {
        let a = Path::new("/var/lib/depot-rs/builders/p1-amd64-0");
        let b = Path::new("/var/lib/depot-rs/builders/p2-amd64-0");
        assert_eq!(containerd_namespace(a), containerd_namespace(a));
        assert_ne!(containerd_namespace(a), containerd_namespace(b));
        assert!(containerd_namespace(a).starts_with("depot-rs-"));
    }
}
