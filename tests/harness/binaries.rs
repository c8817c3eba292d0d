//! The binaries the tests run (depot, depot-server, examples, the official CLI) and small
//! helpers about processes and their output.

use std::path::{Path, PathBuf};

/// Path of a workspace binary next to the running test or benchmark executable: tests run
/// from `target/debug/deps` and use debug binaries, benchmarks from `target/release/deps` and
/// use release binaries.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps");
    let bin = dir.join(name);
    if !bin.is_file() {
        if dir.file_name().is_some_and(|profile| profile == "release") {
            panic!(
                "{} is missing: benchmarks run release binaries; build them first with \
                 `cargo build --release -p {name}`",
                bin.display()
            );
        }
        panic!(
            "{} is missing: run `cargo build --workspace` before the tests (scripts/test.sh does)",
            bin.display()
        );
    }
    bin
}

/// Path of a workspace example binary (`target/<profile>/examples/<name>`).
pub fn workspace_example(name: &str) -> PathBuf {
    let bin = workspace_bin("depot").with_file_name("examples").join(name);
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --workspace --all-targets`",
        bin.display()
    );
    bin
}

/// The official `depot` CLI binary (`DEPOT_OFFICIAL_CLI`, set by scripts/test.sh after
/// `npm pack @depot/cli-linux-x64@0.0.1-cli.2.102.12`).
pub fn official_cli() -> PathBuf {
    let path = std::env::var_os("DEPOT_OFFICIAL_CLI")
        .map(PathBuf::from)
        .expect(
            "DEPOT_OFFICIAL_CLI is not set: run scripts/test.sh, which installs the official CLI",
        );
    assert!(
        path.is_file(),
        "DEPOT_OFFICIAL_CLI={} does not exist",
        path.display()
    );
    path
}

/// Lossy UTF-8.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `VmRSS` of a process: its resident set size now, in bytes.
pub fn rss(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:") * 1024
}

/// A `kB` figure of `/proc/<pid>/status`.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// Raises this process's limit of open files to its hard maximum (tests that open many
/// connections need more than the usual 1024).
pub fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    let _ = setrlimit(Resource::Nofile, limit);
}

/// `VmHWM` of a process: its peak resident set size, in bytes.
pub fn peak_rss(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:") * 1024
}
