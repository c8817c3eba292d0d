//! A bake definition (bake files evaluated by depot-bake) built as one bake: each target as
//! `depot build` would build it with the target's fields as flags, and the options that apply
//! to every target (`--save`, `--push`, `--load`, attestations). Shared by `depot bake` and
//! the packages' bake calls.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use depot_bake::{BakeFile, Definition, Request, Target};
use depot_core::DepotClient;

use super::{BakeTarget, Error, RunningBuild, spawn_bake};
use crate::flags::{BuildFlags, StandardOutput};

/// The options of a bake that apply to every target.
#[derive(Clone, Debug, Default)]
pub struct BakeOptions {
    /// The project (default: the client's).
    pub project: Option<String>,
    /// Save every target in the project's registry (`<build>-<target>`).
    pub save: bool,
    /// More tags for the saved targets (implies `save`).
    pub save_tags: Vec<String>,
    /// Push every target's image to its tags.
    pub push: bool,
    /// Load the targets into the Docker Engine afterwards ([`super::LoadAfter`]); they are
    /// saved.
    pub load: bool,
    /// Provenance attestation for every target (`true`, `false`, `mode=max`); default: each
    /// target's `attest`.
    pub provenance: Option<String>,
    /// SBOM attestation for every target (`true`, `false`, `generator=…`); default: each
    /// target's `attest`.
    pub sbom: Option<String>,
    /// Where relative contexts and Dockerfiles are (default: the working directory).
    pub dir: Option<PathBuf>,
}

/// A bake as a program gives it: files, or a definition's text, and what to build of them.
#[derive(Clone, Debug, Default)]
pub struct BakeSource {
    /// Bake files (HCL, JSON, compose), merged in order; relative to the directory. Without
    /// files or `inline`: the default files of the directory, as `docker buildx bake` finds them.
    pub files: Vec<PathBuf>,
    /// A definition's text (HCL or JSON), merged after the files.
    pub inline: Option<String>,
    /// Targets or groups to build (default: the `default` group).
    pub targets: Vec<String>,
    /// `--set target.key=value` overrides.
    pub overrides: Vec<String>,
    /// Variables, over the process environment.
    pub env: BTreeMap<String, String>,
}

impl BakeSource {
    /// Reads and evaluates the files, relative to `dir` (default: the working directory).
    pub fn read(&self, dir: Option<&Path>) -> Result<Definition, Error> {
        let dir = match dir {
            Some(dir) => dir.to_owned(),
            None => std::env::current_dir()
                .map_err(|err| Error::Invalid(format!("no working directory: {err}")))?,
        };
        let mut files = Vec::new();
        for path in &self.files {
            let name = path.display().to_string();
            files.push(depot_bake::read_file(&dir.join(path), &name)?);
        }
        if let Some(data) = &self.inline {
            files.push(BakeFile {
                name: "inline".into(),
                data: data.clone(),
            });
        }
        if files.is_empty() {
            files = depot_bake::default_files(&dir)?;
        }
        let request = Request {
            targets: self.targets.clone(),
            overrides: self.overrides.clone(),
            command_context: None,
            dot_env: depot_bake::dot_env::read(&dir)?,
        };
        let env = |name: &str| {
            self.env
                .get(name)
                .cloned()
                .or_else(|| std::env::var(name).ok())
        };
        Ok(depot_bake::read(&files, &request, &env)?)
    }
}

/// Registers a bake of `definition`'s targets and starts it (see [`super::start_bake`]). Inline
/// Dockerfiles are written to a directory that lives as long as the bake runs.
pub async fn start_definition(
    client: &DepotClient,
    definition: &Definition,
    options: &BakeOptions,
    standard_output: StandardOutput,
    show_build_url: bool,
) -> Result<RunningBuild, Error> {
    let inline = tempfile::tempdir()
        .map_err(|err| Error::Invalid(format!("making room for inline Dockerfiles: {err}")))?;
    let mut targets = Vec::new();
    for (name, target) in &definition.target {
        let flags = flags(options, target, name, inline.path())?;
        let spec = flags
            .into_spec(standard_output)
            .map_err(|err| Error::Invalid(format!("target {name}: {err}")))?;
        targets.push(BakeTarget {
            name: name.clone(),
            spec,
        });
    }
    spawn_bake(client, targets, show_build_url, Some(inline)).await
}

/// A target as `depot build`'s flags: paths relative to `options.dir`, an inline Dockerfile
/// written to a file, attestations from `attest` unless the options set them.
fn flags(
    options: &BakeOptions,
    target: &Target,
    name: &str,
    inline_dir: &Path,
) -> Result<BuildFlags, Error> {
    let dir = options.dir.clone().unwrap_or_default();
    let context = dir.join(target.context.as_deref().unwrap_or("."));
    let file = match (&target.dockerfile_inline, &target.dockerfile) {
        (Some(inline), _) => {
            let path = inline_dir.join(format!("{name}.Dockerfile"));
            std::fs::write(&path, inline).map_err(|err| {
                Error::Invalid(format!("writing target {name}'s inline Dockerfile: {err}"))
            })?;
            Some(path)
        }
        (None, Some(dockerfile)) => Some(context.join(dockerfile)),
        (None, None) => None,
    };
    if options.push && target.tags.is_empty() {
        return Err(Error::Invalid(format!(
            "push: target {name} has no tags to push to"
        )));
    }
    // Named contexts that are directories are relative to `dir` too; `target:`, images and
    // URLs are not paths.
    let contexts = target.contexts.iter().map(|(key, value)| {
        let is_path = !value.starts_with("target:") && !value.contains("://");
        let value = if is_path {
            dir.join(value).display().to_string()
        } else {
            value.clone()
        };
        (key, value)
    });
    Ok(BuildFlags {
        context,
        file,
        tags: target.tags.clone(),
        target: target.target.clone(),
        build_args: BuildFlags::pairs(&target.args),
        labels: BuildFlags::pairs(&target.labels),
        platforms: target.platforms.clone(),
        no_cache: target.no_cache == Some(true),
        no_cache_filter: target.no_cache_filter.clone(),
        build_contexts: BuildFlags::pairs(contexts),
        cache_from: target.cache_from.clone(),
        cache_to: target.cache_to.clone(),
        secrets: target.secrets.clone(),
        ssh: target.ssh.clone(),
        outputs: target.outputs.clone(),
        push: options.push,
        load: options.load,
        provenance: options
            .provenance
            .clone()
            .or_else(|| attestation(target, "provenance")),
        sbom: options.sbom.clone().or_else(|| attestation(target, "sbom")),
        save: options.save,
        save_tags: options.save_tags.clone(),
        project: options.project.clone(),
        ..BuildFlags::default()
    })
}

/// The target's `attest` entry of `kind` as the flag's value: `true`, `false`
/// (`disabled=true`) or its other fields.
fn attestation(target: &Target, kind: &str) -> Option<String> {
    target.attest.iter().find_map(|entry| {
        let fields: Vec<&str> = entry.split(',').collect();
        fields.contains(&format!("type={kind}").as_str()).then(|| {
            let rest: Vec<&str> = fields
                .iter()
                .filter(|f| !f.starts_with("type="))
                .copied()
                .collect();
            match rest.as_slice() {
                [] => "true".to_owned(),
                ["disabled=true"] => "false".to_owned(),
                _ => rest.join(","),
            }
        })
    })
}
