//! Our `depot` CLI and the official one, run with scratch homes against a server.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::binaries::{official_cli, text, workspace_bin};
use crate::server::Server;

/// A CLI binary with a scratch `HOME` pointed at a server.
pub struct Cli {
    bin: PathBuf,
    /// The scratch home directory.
    pub home: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Cli {
    /// The official CLI against `server`.
    pub fn official(server: &Server) -> Cli {
        Self::new(official_cli(), server)
    }

    /// depot-rs's CLI against `server`.
    pub fn ours(server: &Server) -> Cli {
        Self::new(workspace_bin("depot"), server)
    }

    fn new(bin: PathBuf, server: &Server) -> Cli {
        Cli {
            bin,
            home: tempfile::tempdir().expect("temp dir"),
            env: vec![
                ("DEPOT_API_URL".into(), server.url.clone()),
                ("DEPOT_ERROR_TELEMETRY".into(), "0".into()),
                ("DEPOT_NO_UPDATE_NOTIFIER".into(), "1".into()),
            ],
        }
    }

    /// Sets an environment variable for later runs.
    pub fn env(mut self, key: &str, value: &str) -> Cli {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The command, ready to run in `cwd` (the scratch home if `None`).
    pub fn command(&self, args: &[&str], cwd: Option<&Path>) -> Command {
        self.command_with_program(&self.bin, args, cwd)
    }

    /// Another program (e.g. a wrapper such as `script`) with this CLI's environment.
    pub fn command_with_program(
        &self,
        program: impl AsRef<std::ffi::OsStr>,
        args: &[&str],
        cwd: Option<&Path>,
    ) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(cwd.unwrap_or(self.home.path()))
            .stdin(Stdio::null());
        cmd
    }

    /// Runs to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_in(args, None)
    }

    /// Runs to completion in `cwd`.
    pub fn run_in(&self, args: &[&str], cwd: Option<&Path>) -> Output {
        self.command(args, cwd).output().expect("running the CLI")
    }

    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{} {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            self.bin.display(),
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `list builds --project <project> --output json`, parsed: the project's builds, newest
    /// first.
    pub fn list_builds(&self, project: &str) -> Value {
        let out = self.ok(&["list", "builds", "--project", project, "--output", "json"]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("list builds JSON ({e}): {out}"))
    }

    /// Path of the user config file the CLI writes.
    pub fn user_config(&self) -> PathBuf {
        self.home.path().join(".config/depot/depot.yaml")
    }
}

/// A running CLI whose combined output is collected in the background.
pub struct Running {
    child: Child,
    output: mpsc::Receiver<String>,
    seen: String,
}

impl Running {
    /// Spawns `command` with stdout and stderr collected.
    pub fn spawn(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning");
        let (tx, rx) = mpsc::channel();
        for mut pipe in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0
                        || tx
                            .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                            .is_err()
                    {
                        break;
                    }
                }
            });
        }
        Running {
            child,
            output: rx,
            seen: String::new(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has not exited yet.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until the output contains `needle`; returns everything seen so far.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        while !self.seen.contains(needle) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.output.recv_timeout(left) {
                Ok(chunk) => self.seen.push_str(&chunk),
                Err(_) => panic!(
                    "timed out waiting for {needle:?}; output so far:\n{}",
                    self.seen
                ),
            }
        }
        self.seen.clone()
    }

    /// Waits for exit; returns whether it succeeded and the full output.
    pub fn finish(mut self, timeout: Duration) -> (bool, String) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                while let Ok(chunk) = self.output.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push_str(&chunk);
                }
                return (status.success(), self.seen);
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("process did not exit in time; output:\n{}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The approve-link login id in CLI output (`…/login/<id>`).
pub fn login_id(output: &str) -> String {
    let start = output
        .find("/login/")
        .expect("an approve URL in the output")
        + "/login/".len();
    output[start..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}
