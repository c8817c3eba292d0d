//! The per-project builders of a data directory, as `depot-server builders list` shows them:
//! read from the instances' directories (`<dir>/<project>-<arch>/`, with the cache figure kept
//! after each build) and from the host's processes (whether the instance's engine runs). It
//! needs no running server, like every admin command.

use std::path::{Path, PathBuf};

use super::upkeep::Usage;

/// One builder instance found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceReport {
    /// Its project.
    pub project: String,
    /// Its architecture (`amd64`, `arm64`).
    pub arch: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Whether its engine runs now.
    pub running: bool,
    /// What its cache held after its last build (`None` before the first one).
    pub usage: Option<Usage>,
}

/// The instances under `dir` (a server's `<data-dir>/builders`), sorted by project and
/// architecture.
pub fn inventory(dir: &Path) -> Vec<InstanceReport> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let engines = running_data_roots();
    let mut found: Vec<InstanceReport> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_owned();
            let (project, arch) = name.rsplit_once('-')?;
            let dir = entry.path();
            let data_root = dir.join("engine").display().to_string();
            Some(InstanceReport {
                project: project.to_owned(),
                arch: arch.to_owned(),
                running: engines.contains(&data_root),
                usage: Usage::load(&dir),
                dir,
            })
        })
        .collect();
    found.sort_by(|a, b| (&a.project, &a.arch).cmp(&(&b.project, &b.arch)));
    found
}

/// The `--data-root` of every dockerd running on the host.
fn running_data_roots() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .filter_map(|cmdline| {
            let args: Vec<String> = cmdline
                .split(|&b| b == 0)
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect();
            if !args.first()?.ends_with("dockerd") {
                return None;
            }
            let at = args.iter().position(|arg| arg == "--data-root")?;
            args.get(at + 1).cloned()
        })
        .collect()
}
