//! `depot bake`: buildx bake files (HCL, JSON, compose). `--print` writes the definition as
//! `docker buildx bake --print` does; otherwise the targets build as one depot build on the
//! project's builder, each saved (`--save`) at `<project>:<build>-<target>`.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use depot_bake::{BakeFile, Definition, Request, Target};
use depot_build::flags::{BuildFlags, StandardOutput};
use depot_build::progress::ProgressMode;
use depot_build::run::BakeTarget;

use std::sync::Arc;

use depot_registry::client::{ProgressSink, PullDestination, resolve};

use super::build::{Signals, follow, show_links, write_metadata};
use crate::context::{Api, ProjectArg, TokenArg};
use crate::progress::{Direction, ProgressDisplay};

/// `depot bake` arguments.
#[derive(Args, Debug)]
pub struct BakeArgs {
    /// Targets or groups to build (default: the `default` group).
    targets: Vec<String>,
    /// A bake file (HCL, JSON or compose; `-` for standard input); repeatable, merged in
    /// order. Default: compose.yaml, …, docker-bake.json, docker-bake.override.json,
    /// docker-bake.hcl, docker-bake.override.hcl, those that exist.
    #[arg(short = 'f', long = "file")]
    files: Vec<PathBuf>,
    /// Override a target's value: `target.key=value` (`*` patterns match several targets).
    #[arg(long = "set")]
    overrides: Vec<String>,
    /// Print the definition as JSON (as `docker buildx bake --print`) and build nothing.
    #[arg(long)]
    print: bool,
    /// Save every target in the project's registry (`<build>-<target>`).
    #[arg(long)]
    save: bool,
    /// Another tag for the saved targets (repeatable; implies --save).
    #[arg(long = "save-tag", value_name = "TAG")]
    save_tags: Vec<String>,
    /// Push every target's image to its tags.
    #[arg(long)]
    push: bool,
    /// Load the targets into the Docker Engine (through the project's registry).
    #[arg(long)]
    load: bool,
    /// Provenance attestation for every target: true, false, or `mode=max`.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "VALUE")]
    provenance: Option<String>,
    /// SBOM attestation for every target: true, false, or `generator=…`.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "VALUE")]
    sbom: Option<String>,
    /// Progress output on stderr: auto, tty, plain or quiet.
    #[arg(
        long,
        env = "BUILDKIT_PROGRESS",
        default_value = "auto",
        value_name = "MODE"
    )]
    progress: ProgressMode,
    /// Write each target's result metadata and the build's ID to this JSON file.
    #[arg(long = "metadata-file", value_name = "FILE")]
    metadata_file: Option<PathBuf>,
    #[command(flatten)]
    project: ProjectArg,
    #[command(flatten)]
    token: TokenArg,
}

/// Evaluates the bake files, then prints the definition or builds it.
pub async fn run(args: BakeArgs) -> anyhow::Result<()> {
    let files = read_files(&args.files)?;
    let request = Request {
        targets: args.targets.clone(),
        overrides: args.overrides.clone(),
        command_context: None,
    };
    let definition = depot_bake::read(&files, &request, &|name| std::env::var(name).ok())?;
    if args.print {
        println!("{}", definition.to_json());
        return Ok(());
    }
    build(&args, &definition).await
}

fn read_files(paths: &[PathBuf]) -> anyhow::Result<Vec<BakeFile>> {
    if paths.is_empty() {
        return Ok(depot_bake::default_files(&std::env::current_dir()?)?);
    }
    let mut files = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut data = String::new();
            std::io::stdin()
                .read_to_string(&mut data)
                .context("reading the bake file from standard input")?;
            files.push(BakeFile {
                name: "-".into(),
                data,
            });
        } else {
            files.push(depot_bake::read_file(path, &path.display().to_string())?);
        }
    }
    Ok(files)
}

/// Builds the definition's targets as one bake.
async fn build(args: &BakeArgs, definition: &Definition) -> anyhow::Result<()> {
    let mut signals = Signals::new()?;
    let api = Api::connect_in(&args.token, &args.project, Path::new(".")).await?;
    let project = api.config.project.as_ref().map(|(id, _)| id.clone());
    // Inline Dockerfiles are written here for the build's duration.
    let inline = tempfile::tempdir().context("making room for inline Dockerfiles")?;
    let mut targets = Vec::new();
    for (name, target) in &definition.target {
        let flags = flags(args, target, name, inline.path(), project.clone())?;
        let spec = flags
            .into_spec(StandardOutput::Process)
            .with_context(|| format!("target {name}"))?;
        targets.push(BakeTarget {
            name: name.clone(),
            spec,
        });
    }
    let bake = depot_build::run::start_bake(&api.client, targets, show_links()).await?;
    let build_id = bake.info().build_id.clone();
    let output = follow(bake, args.progress, &mut signals).await?;
    if args.load {
        load(&api, &build_id, definition, args.progress).await?;
    }
    if let Some(path) = &args.metadata_file {
        write_metadata(path, &output.metadata)?;
    }
    if args.progress != ProgressMode::Quiet {
        let names: Vec<&str> = output.targets.iter().map(|(n, _)| n.as_str()).collect();
        if args.save || !args.save_tags.is_empty() || args.load {
            eprintln!(
                "Saved targets {} of build {build_id}; pull one with `depot pull --project {} \
                 --target <target> {build_id}`",
                names.join(", "),
                output.info.project_id
            );
        }
        if !output.info.build_url.is_empty() && show_links() {
            eprintln!("Build Summary: {}", output.info.build_url);
        }
    }
    Ok(())
}

/// `--load`: each target with tags, pulled from the project's registry into the Docker
/// Engine under them.
async fn load(
    api: &Api,
    build_id: &str,
    definition: &Definition,
    mode: ProgressMode,
) -> anyhow::Result<()> {
    let mode = match mode {
        ProgressMode::Auto => crate::progress::ProgressMode::Auto,
        ProgressMode::Tty => crate::progress::ProgressMode::Tty,
        ProgressMode::Plain => crate::progress::ProgressMode::Plain,
        ProgressMode::Quiet => crate::progress::ProgressMode::Quiet,
    };
    let display = ProgressDisplay::new(mode, Direction::Pull)?;
    let sink: Arc<dyn ProgressSink> = display.clone();
    for (name, target) in &definition.target {
        if target.tags.is_empty() {
            continue;
        }
        display.note(&format!(
            "Loading target {name} into the Docker Engine as {}",
            target.tags.join(", ")
        ));
        let images = resolve(&api.client, build_id, api.project().ok(), Some(name)).await?;
        for image in &images {
            image
                .pull(&PullDestination::Docker, &target.tags, None, &sink)
                .await
                .with_context(|| format!("cannot load target {name} into the Docker Engine"))?;
        }
    }
    Ok(())
}

/// A target as `depot build`'s flags: paths relative to the working directory, an inline
/// Dockerfile written to a file, attestations from `attest` unless given on the command line.
fn flags(
    args: &BakeArgs,
    target: &Target,
    name: &str,
    inline_dir: &Path,
    project: Option<String>,
) -> anyhow::Result<BuildFlags> {
    let context = PathBuf::from(target.context.as_deref().unwrap_or("."));
    let file = match (&target.dockerfile_inline, &target.dockerfile) {
        (Some(inline), _) => {
            let path = inline_dir.join(format!("{name}.Dockerfile"));
            std::fs::write(&path, inline)
                .with_context(|| format!("writing target {name}'s inline Dockerfile"))?;
            Some(path)
        }
        (None, Some(dockerfile)) => Some(context.join(dockerfile)),
        (None, None) => None,
    };
    let attest = |kind: &str| {
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
    };
    if args.push && target.tags.is_empty() {
        bail!("--push: target {name} has no tags to push to");
    }
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
        build_contexts: BuildFlags::pairs(&target.contexts),
        cache_from: target.cache_from.clone(),
        cache_to: target.cache_to.clone(),
        secrets: target.secrets.clone(),
        ssh: target.ssh.clone(),
        outputs: target.outputs.clone(),
        push: args.push,
        load: args.load,
        provenance: args.provenance.clone().or_else(|| attest("provenance")),
        sbom: args.sbom.clone().or_else(|| attest("sbom")),
        save: args.save,
        save_tags: args.save_tags.clone(),
        project,
        ..BuildFlags::default()
    })
}
