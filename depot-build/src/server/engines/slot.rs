//! Host-wide runtime slots for the Docker Engines depot-server starts.
//!
//! A slot is what an engine needs besides its state: a run directory (exec root, socket,
//! pidfile, config), a network bridge `drs<n>` with the /24 `10.89.<n>.0` of its own, and a lock
//! file. Slots are shared by every depot-server on the host (tests run many at once), so a slot
//! is claimed by taking an exclusive advisory lock on `<root>/<n>.lock` and held for as long as
//! its engine runs. The kernel drops the lock when its holder dies, so a slot left behind by a
//! killed server is found free; before it is used again (and when a server starts), whatever
//! it left is cleaned: its engine stopped, its bridge deleted.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};
use rustix::process::{Pid, Signal, kill_process, test_kill_process};

use super::EngineError;

/// How long an engine is given to stop after SIGTERM before it is killed.
pub(super) const STOP_GRACE: Duration = Duration::from_secs(30);
/// How long a leftover engine is given to stop on its own first: its server's death already
/// told it to (`--pdeathsig`), and a third signal would make dockerd quit without cleaning up,
/// which can damage its build cache.
const LEFTOVER_GRACE: Duration = Duration::from_secs(20);

/// The slots of this host, under one root directory.
#[derive(Clone, Debug)]
pub struct Slots {
    root: PathBuf,
    count: u16,
}

/// A claimed slot; dropping it releases the claim.
#[derive(Debug)]
pub struct Slot {
    index: u16,
    dir: PathBuf,
    /// Holds the claim (an exclusive lock) while open.
    _lock: File,
}

impl Slots {
    /// The slots under `root` (`/run/depot-rs/engines` by default), `count` of them (at most
    /// 256: one /24 each in 10.89.0.0/16).
    pub fn new(root: impl Into<PathBuf>, count: u16) -> Self {
        Self {
            root: root.into(),
            count: count.clamp(1, 256),
        }
    }

    /// Claims a free slot, cleaning what a dead holder left in it.
    pub fn claim(&self) -> Result<Slot, EngineError> {
        std::fs::create_dir_all(&self.root).map_err(|source| EngineError::Io {
            action: "creating",
            path: self.root.clone(),
            source,
        })?;
        for index in 0..self.count {
            if let Some(slot) = self.try_claim(index)? {
                slot.clean()?;
                return Ok(slot);
            }
        }
        Err(EngineError::NoSlot {
            root: self.root.clone(),
            count: self.count,
        })
    }

    /// Cleans every slot no live server holds: engines a killed server left running are
    /// stopped and their bridges deleted. Returns how many slots had something to clean.
    pub fn clean_stale(&self) -> usize {
        let mut cleaned = 0;
        for index in 0..self.count {
            // Only slots that were ever used have a lock file.
            if !self.root.join(format!("{index}.lock")).exists() {
                continue;
            }
            let Ok(Some(slot)) = self.try_claim(index) else {
                continue;
            };
            match slot.clean() {
                Ok(true) => cleaned += 1,
                Ok(false) => {}
                Err(err) => tracing::warn!(
                    slot = index,
                    "cleaning a stale builder engine failed: {}",
                    depot_core::ErrorChain(&err)
                ),
            }
        }
        cleaned
    }

    fn try_claim(&self, index: u16) -> Result<Option<Slot>, EngineError> {
        let path = self.root.join(format!("{index}.lock"));
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| EngineError::Io {
                action: "opening",
                path: path.clone(),
                source,
            })?;
        match flock(&lock, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(Slot {
                index,
                dir: self.root.join(index.to_string()),
                _lock: lock,
            })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(err) => Err(EngineError::Io {
                action: "locking",
                path,
                source: err.into(),
            }),
        }
    }
}

impl Slot {
    /// The slot's number.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// The run directory: exec root, socket, pidfile and config of the slot's engine.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The engine's API socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    /// The engine's pidfile.
    pub fn pidfile(&self) -> PathBuf {
        self.dir.join("docker.pid")
    }

    /// The slot's bridge (`drs<n>`, within the 15 characters an interface name may have).
    pub fn bridge(&self) -> String {
        format!("drs{}", self.index)
    }

    /// The bridge's address and prefix: `10.89.<n>.1/24`.
    pub fn bridge_address(&self) -> String {
        format!("10.89.{}.1/24", self.index)
    }

    /// Creates the slot's bridge (a fresh one) and run directory.
    pub fn prepare(&self) -> Result<(), EngineError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| EngineError::Io {
            action: "creating",
            path: self.dir.clone(),
            source,
        })?;
        let bridge = self.bridge();
        ip(&["link", "add", "name", &bridge, "type", "bridge"])?;
        ip(&["addr", "add", &self.bridge_address(), "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])
    }

    /// Stops what a previous holder left running in this slot (its dockerd, the containerd
    /// that dockerd started) and deletes its bridge; whether there was anything to clean.
    pub fn clean(&self) -> Result<bool, EngineError> {
        let leftovers = self.leftover_processes();
        for &pid in &leftovers {
            tracing::info!(
                slot = self.index,
                pid = pid.as_raw_nonzero().get(),
                "waiting for a builder engine process a previous depot-server left running"
            );
            if !exits_within(pid, LEFTOVER_GRACE) {
                stop_process(pid);
            }
        }
        // dockerd refuses to start while its pidfile names a process that exists, even one that
        // has exited and not been reaped yet.
        let _ = std::fs::remove_file(self.pidfile());
        let mut cleaned = !leftovers.is_empty();
        if bridge_exists(&self.bridge()) {
            ip(&["link", "delete", &self.bridge()])?;
            cleaned = true;
        }
        Ok(cleaned)
    }

    /// The engine processes (dockerd, containerd) whose command line names this slot's run
    /// directory, dockerd first (it stops its containerd itself).
    fn leftover_processes(&self) -> Vec<Pid> {
        let marker = format!("{}/", self.dir.display());
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut found: Vec<(bool, Pid)> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let pid = Pid::from_raw(entry.file_name().to_str()?.parse().ok()?)?;
                let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                let program = cmdline.split(' ').next().unwrap_or_default();
                let engine = program.ends_with("dockerd") || program.contains("containerd");
                (engine && cmdline.contains(&marker)).then(|| (!program.ends_with("dockerd"), pid))
            })
            .collect();
        found.sort_by_key(|(later, _)| *later);
        found.into_iter().map(|(_, pid)| pid).collect()
    }
}

/// Sends `pid` SIGTERM and waits for it to exit; kills it if it has not after the grace time.
fn stop_process(pid: Pid) {
    if kill_process(pid, Signal::TERM).is_err() {
        return;
    }
    if !exits_within(pid, STOP_GRACE) {
        let _ = kill_process(pid, Signal::KILL);
    }
}

/// Whether `pid` has exited (or exits within `grace`).
fn exits_within(pid: Pid, grace: Duration) -> bool {
    let started = Instant::now();
    while alive(pid) {
        if started.elapsed() > grace {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Whether `pid` runs (a zombie, exited but not yet reaped, does not).
fn alive(pid: Pid) -> bool {
    if test_kill_process(pid).is_err() {
        return false;
    }
    let stat =
        std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero())).unwrap_or_default();
    // `pid (comm) state …`; comm may contain spaces and parentheses.
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    !matches!(state, None | Some('Z' | 'X'))
}

fn bridge_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Runs `ip` (iproute2) with `args`.
fn ip(args: &[&str]) -> Result<(), EngineError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|source| EngineError::Command {
            command: format!("ip {}", args.join(" ")),
            message: format!("{source} (install iproute2)"),
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(EngineError::Command {
        command: format!("ip {}", args.join(" ")),
        message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}
