//! The per-project builders of a data directory, as `depot-server builders list` shows them:
//! read from the instances' directories (`<dir>/<project>-<arch>/`, with the cache figure kept
//! after each build) and from the host's processes (whether the instance's engine runs). It
//! needs no running server, like every admin command.

use std::path::{Path, PathBuf};

use depot_control::builders::BuilderArch;

use super::upkeep::Usage;

/// One builder instance found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceReport {
    /// Its project.
    pub project: String,
    /// Its architecture.
    pub arch: BuilderArch,
    /// 0 for the project's main instance of the architecture, 1… for the others.
    pub index: u16,
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
            let (project, arch, index) = parse_instance_dir_name(&name)?;
            let dir = entry.path();
            let data_root = dir.join("engine").display().to_string();
            Some(InstanceReport {
                project: project.to_owned(),
                arch,
                index,
                running: engines.contains(&data_root),
                usage: Usage::load(&dir),
                dir,
            })
        })
        .collect();
    found.sort_by(|a, b| {
        (&a.project, a.arch.as_str(), a.index).cmp(&(&b.project, b.arch.as_str(), b.index))
    });
    found
}

/// The directory name of a project's instance: `<project>-<arch>` for the main one,
/// `<project>-<arch>-<index>` for the others.
pub(super) fn instance_dir_name(project: &str, arch: BuilderArch, index: u16) -> String {
    match index {
        0 => format!("{project}-{}", arch.as_str()),
        index => format!("{project}-{}-{index}", arch.as_str()),
    }
}

/// The project, architecture and index a directory name stands for (not for ephemeral
/// instances, whose names start with `ephemeral-`).
pub(super) fn parse_instance_dir_name(name: &str) -> Option<(&str, BuilderArch, u16)> {
    let (rest, index) = match name.rsplit_once('-') {
        Some((rest, index)) if index.bytes().all(|b| b.is_ascii_digit()) => {
            (rest, index.parse().ok()?)
        }
        _ => (name, 0),
    };
    let (project, arch) = rest.rsplit_once('-')?;
    let arch = match arch {
        "amd64" => BuilderArch::Amd64,
        "arm64" => BuilderArch::Arm64,
        _ => return None,
    };
    (!project.is_empty() && project.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some((project, arch, index))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_round_trip() {
        for (project, arch, index) in [
            ("web1", BuilderArch::Amd64, 0),
            ("web1", BuilderArch::Arm64, 2),
        ] {
            let name = instance_dir_name(project, arch, index);
            assert_eq!(parse_instance_dir_name(&name), Some((project, arch, index)));
        }
        assert_eq!(parse_instance_dir_name("ephemeral-b1-amd64"), None);
        assert_eq!(parse_instance_dir_name("web-s390x"), None);
    }
}
