//! `depot bake`: buildx bake files (HCL, JSON, compose). `--print` writes the definition as
//! `docker buildx bake --print` does; otherwise the targets build as one depot build on the
//! project's builder, each saved (`--save`) at `<project>:<build>-<target>`.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use depot_bake::{BakeFile, Definition, Request};
use depot_build::flags::StandardOutput;
use depot_build::progress::ProgressMode;
use depot_build::run::{BakeOptions, LoadAfter, start_definition};
use depot_registry::client::ProgressSink;

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
        dot_env: depot_bake::dot_env::read(&std::env::current_dir()?)?,
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
    let options = BakeOptions {
        project: api.config.project.as_ref().map(|(id, _)| id.clone()),
        save: args.save,
        save_tags: args.save_tags.clone(),
        push: args.push,
        load: args.load,
        provenance: args.provenance.clone(),
        sbom: args.sbom.clone(),
        dir: None,
    };
    let bake = start_definition(
        &api.client,
        definition,
        &options,
        StandardOutput::Process,
        show_links(),
    )
    .await?;
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
    let loaded: Vec<String> = definition
        .target
        .iter()
        .filter(|(_, target)| !target.tags.is_empty())
        .map(|(name, target)| format!("{name} as {}", target.tags.join(", ")))
        .collect();
    display.note(&format!(
        "Loading into the Docker Engine: {}",
        loaded.join("; ")
    ));
    let sink: Arc<dyn ProgressSink> = display.clone();
    LoadAfter::Targets(definition.clone())
        .load(&api.client, build_id, &sink)
        .await
        .context("cannot load the targets into the Docker Engine")
}
