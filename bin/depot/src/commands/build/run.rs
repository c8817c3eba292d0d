//! Running `depot build`: take a builder, build with live progress, release the builder
//! whatever happens (Ctrl-C and SIGTERM cancel the build first), then load, write metadata and
//! summarize.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use depot_build::progress::{ProgressMode, printer_for};
use depot_build::run::{BuildOutput, Error, Finished, RunningBuild};
use depot_core::ErrorChain;
use depot_registry::client::{ProgressSink, load_build};
use futures_util::StreamExt;
use tokio::signal::unix::{Signal, SignalKind, signal};

use super::BuildArgs;
use crate::context::Api;
use crate::exit::Exit;
use crate::progress::{Direction, ProgressDisplay};

/// How often the live view redraws.
const TICK: Duration = Duration::from_millis(100);

/// Builds, and returns [`Exit`] for failures already shown.
pub async fn run(args: BuildArgs) -> anyhow::Result<()> {
    let mut spec = args.spec(show_links())?;
    spec.validate()?;
    let mut signals = Signals::new()?;
    let api = Api::connect_in(&args.token, &args.project, &args.context).await?;
    spec.request.project_id = api.config.project.as_ref().map(|(id, _)| id.clone());
    let mode = if args.quiet {
        ProgressMode::Quiet
    } else {
        args.progress
    };
    let ignored = args.legacy.ignored();
    if !ignored.is_empty() && mode != ProgressMode::Quiet {
        eprintln!(
            "note: ignoring docker build flags with no effect on BuildKit: {}",
            ignored.join(", ")
        );
    }
    let started = Instant::now();
    let build = match depot_build::run::start(&api.client, spec).await {
        Ok(build) => build,
        Err(Error::Register(err)) => return Err(err.into()),
        Err(err) => return Err(err.into()),
    };
    let output = follow(build, mode, &mut signals).await?;

    if args.load {
        load(&api, &output.info.build_id, &args.tags, mode).await?;
    }
    if let Some(path) = &args.metadata_file {
        write_metadata(path, &output.metadata)?;
    }
    summarize(&args, &output, started.elapsed(), mode);
    Ok(())
}

/// Follows a running build (or bake) with its progress display until it ends and its builder
/// is released (a signal cancels it first). Failures the display has shown become [`Exit`].
pub(crate) async fn follow(
    mut build: RunningBuild,
    mode: ProgressMode,
    signals: &mut Signals,
) -> anyhow::Result<BuildOutput> {
    let mut printer = printer_for(mode, Box::new(std::io::stderr()));
    let mut ticks = tokio::time::interval(TICK);
    let mut signaled = None;
    loop {
        tokio::select! {
            event = build.next() => match event {
                Some(event) => printer.event(&event),
                None => break,
            },
            _ = ticks.tick() => printer.tick(),
            code = signals.next(), if signaled.is_none() => {
                signaled = Some(code);
                build.cancel();
            }
        }
    }
    let Finished { outcome, release } = build.finish().await;
    let output = match outcome {
        Ok(output) => {
            printer.finish(None);
            output
        }
        Err(Error::Plan(err)) => {
            report_release(release);
            return Err(err.into());
        }
        Err(
            err @ (Error::Connect(_)
            | Error::Build(_)
            | Error::Platform { .. }
            | Error::Target { .. }
            | Error::Canceled { .. }),
        ) => {
            printer.finish(Some(&ErrorChain(&err).to_string()));
            drop(printer);
            report_release(release);
            let code = match err {
                Error::Canceled { .. } => signaled.unwrap_or(Exit::FAILURE.code),
                _ => Exit::FAILURE.code,
            };
            return Err(Exit { code }.into());
        }
        Err(err) => {
            report_release(release);
            return Err(err.into());
        }
    };
    drop(printer);
    report_release(release);
    Ok(output)
}

/// A failure to release the builder is only reported, like the official CLI does.
fn report_release(release: Result<(), depot_build::builder::Error>) {
    if let Err(err) = release {
        eprintln!("error releasing builder: {}", ErrorChain(&err));
    }
}

/// `--metadata-file`: the build's metadata, indented by two spaces.
pub(crate) fn write_metadata(path: &Path, metadata: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(metadata)?;
    std::fs::write(path, text)
        .with_context(|| format!("cannot write the metadata file {}", path.display()))
}

/// `--load` through the registry: the saved image is pulled into the Docker Engine (only
/// the layers it lacks) and named with the -t tags.
async fn load(
    api: &Api,
    build_id: &str,
    tags: &[String],
    mode: ProgressMode,
) -> anyhow::Result<()> {
    let display = ProgressDisplay::new(pull_mode(mode), Direction::Pull)?;
    display.note(&format!("Loading build {build_id} into the Docker Engine"));
    let sink: Arc<dyn ProgressSink> = display;
    load_build(&api.client, build_id, None, tags, &sink)
        .await
        .with_context(|| format!("cannot load build {build_id} into the Docker Engine"))?;
    Ok(())
}

/// The last lines: where the image went, and the build's page.
fn summarize(args: &BuildArgs, output: &BuildOutput, elapsed: Duration, mode: ProgressMode) {
    let info = &output.info;
    let digest = output.image_digest();
    if args.quiet {
        println!("{}", digest.unwrap_or(&info.build_id));
        return;
    }
    if mode == ProgressMode::Quiet {
        return;
    }
    let mut err = std::io::stderr().lock();
    if args.saves() || args.load {
        let _ = writeln!(
            err,
            "Saved build {} as {}; pull it with `depot pull --project {} {}`",
            info.build_id,
            info.additional_tags.join(", "),
            info.project_id,
            info.build_id
        );
    }
    if args.load && !args.tags.is_empty() {
        let _ = writeln!(
            err,
            "Loaded into the Docker Engine as {}",
            args.tags.join(", ")
        );
    }
    if !info.build_url.is_empty() && show_links() {
        let _ = writeln!(err, "Build Summary: {}", info.build_url);
    }
    let _ = writeln!(
        err,
        "Build {} finished in {:.1}s{}",
        info.build_id,
        elapsed.as_secs_f64(),
        digest.map(|d| format!(": {d}")).unwrap_or_default()
    );
}

/// `DEPOT_NO_SUMMARY_LINK` turns the build page links off.
pub(crate) fn show_links() -> bool {
    std::env::var_os("DEPOT_NO_SUMMARY_LINK").is_none_or(|v| v.is_empty())
}

/// The pull display matching the build's progress mode.
fn pull_mode(mode: ProgressMode) -> crate::progress::ProgressMode {
    match mode {
        ProgressMode::Auto => crate::progress::ProgressMode::Auto,
        ProgressMode::Tty => crate::progress::ProgressMode::Tty,
        ProgressMode::Plain => crate::progress::ProgressMode::Plain,
        ProgressMode::Quiet => crate::progress::ProgressMode::Quiet,
    }
}

/// SIGINT and SIGTERM, caught for the whole command so that a build is always released.
pub(crate) struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    pub(crate) fn new() -> anyhow::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
        })
    }

    /// The exit code for the next signal: 130 for SIGINT, 143 for SIGTERM.
    async fn next(&mut self) -> u8 {
        tokio::select! {
            _ = self.interrupt.recv() => 130,
            _ = self.terminate.recv() => 143,
        }
    }
}
