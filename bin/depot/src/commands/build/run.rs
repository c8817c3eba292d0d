//! Running `depot build`: take a builder, build with live progress, release the builder
//! whatever happens (Ctrl-C and SIGTERM cancel the build first), then load, write metadata and
//! summarize.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use depot_build::builder::{Builder, Outcome};
use depot_build::buildkit::BuildResult;
use depot_build::events::{BuildEvent, VertexId};
use depot_build::progress::{Printer, ProgressMode, printer_for};
use depot_core::proto::depot::cli::v1::{BuilderPlatform, GetPullInfoRequest};
use depot_registry::client::{DockerPull, ProgressSink, pull_into_docker};
use futures_util::StreamExt;
use tokio::signal::unix::{Signal, SignalKind, signal};

use super::{BuildArgs, metadata};
use crate::context::Api;
use crate::exit::Exit;
use crate::progress::{Direction, ProgressDisplay};

/// How often the live view redraws.
const TICK: Duration = Duration::from_millis(100);

/// Builds, and returns [`Exit`] for failures already shown.
pub async fn run(args: BuildArgs) -> anyhow::Result<()> {
    args.validate()?;
    let mut signals = Signals::new()?;
    let api = Api::connect_in(&args.token, &args.project, &args.context).await?;
    let project = api.config.project.as_ref().map(|(id, _)| id.clone());
    let request = args.builder_request(project)?;
    let mut options = args.build_options()?;
    let outputs = args.typed_outputs()?;
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
    let mut printer = printer_for(mode, Box::new(std::io::stderr()));
    let started = Instant::now();

    let mut builder = Builder::register(&api.client, &request).await?;
    let info = builder.info().clone();
    if !info.build_url.is_empty() && show_links() {
        Step::start(&mut *printer, &format!("[depot] build: {}", info.build_url))
            .done(&mut *printer);
    }
    let connecting = Step::start(
        &mut *printer,
        &format!("[depot] connecting to {} builder", arch_name(info.platform)),
    );
    let connected = tokio::select! {
        connected = builder.connect() => connected.map(|_| ()),
        code = signals.next() => {
            connecting.failed(&mut *printer, "canceled");
            return cancel(builder, &mut *printer, code).await;
        }
    };
    if let Err(err) = connected {
        connecting.failed(&mut *printer, &err.to_string());
        printer.finish(Some(&err.to_string()));
        release(builder, Outcome::Error(err.to_string())).await;
        return Err(Exit::FAILURE.into());
    }
    connecting.done(&mut *printer);

    options.outputs = match builder.plan_outputs(outputs, &request) {
        Ok(outputs) => outputs,
        Err(err) => {
            release(builder, Outcome::Error(err.to_string())).await;
            return Err(err.into());
        }
    };
    let mut build = builder.build(options)?;
    let mut ticks = tokio::time::interval(TICK);
    let stop = loop {
        tokio::select! {
            event = build.next() => match event {
                Some(event) => printer.event(&event),
                None => break None,
            },
            _ = ticks.tick() => printer.tick(),
            code = signals.next() => break Some(code),
            () = builder.canceled() => break Some(Exit::FAILURE.code),
        }
    };
    if let Some(code) = stop {
        // Dropping the build cancels it on the daemon.
        drop(build);
        return cancel(builder, &mut *printer, code).await;
    }
    let result = build.result().await;
    let outcome = Outcome::of(&result);
    printer.finish(result.as_ref().err().map(ToString::to_string).as_deref());
    drop(printer);
    release(builder, outcome).await;
    let Ok(result) = result else {
        return Err(Exit::FAILURE.into());
    };

    if args.load {
        load(&api, &info.build_id, &args.tags, mode).await?;
    }
    if let Some(path) = &args.metadata_file {
        let value = metadata::metadata(
            &result.exporter_response.raw,
            &info.build_id,
            &info.project_id,
        );
        metadata::write(path, &value)?;
    }
    summarize(&args, &info, &result, started.elapsed(), mode);
    Ok(())
}

/// Cancels after a signal (or the server's cancellation): the build is reported canceled
/// and the builder released before exiting with `code`.
async fn cancel(builder: Builder, printer: &mut dyn Printer, code: u8) -> anyhow::Result<()> {
    let message = if builder.is_canceled() {
        format!(
            "build {} was canceled by the server",
            builder.info().build_id
        )
    } else {
        "build canceled".to_owned()
    };
    printer.finish(Some(&message));
    release(builder, Outcome::Canceled).await;
    Err(Exit { code }.into())
}

/// Releases the builder; a failure is only reported, like the official CLI does.
async fn release(builder: Builder, outcome: Outcome) {
    if let Err(err) = builder.finish(outcome).await {
        eprintln!("error releasing builder: {err}");
    }
}

/// `--load` through the registry: the saved image is pulled into the Docker Engine (only
/// the layers it lacks) and named with the -t tags.
async fn load(
    api: &Api,
    build_id: &str,
    tags: &[String],
    mode: ProgressMode,
) -> anyhow::Result<()> {
    let info = api
        .client
        .builds()
        .get_pull_info(GetPullInfoRequest {
            build_id: build_id.to_owned(),
        })
        .await
        .context("cannot load the image: GetPullInfo failed")?;
    let display = ProgressDisplay::new(pull_mode(mode), Direction::Pull)?;
    display.note(&format!(
        "Loading {} into the Docker Engine",
        info.reference
    ));
    let sink: Arc<dyn ProgressSink> = display;
    let pull = DockerPull {
        reference: info.reference.clone(),
        username: info.username,
        password: info.password,
        server_address: info.registry_host,
        tags: tags.to_vec(),
        platform: None,
    };
    pull_into_docker(&pull, &sink)
        .await
        .with_context(|| format!("cannot load {} into the Docker Engine", info.reference))
}

/// The last lines: where the image went, and the build's page.
fn summarize(
    args: &BuildArgs,
    info: &depot_build::builder::BuildInfo,
    result: &BuildResult,
    elapsed: Duration,
    mode: ProgressMode,
) {
    let digest = result.exporter_response.image_digest.as_deref();
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
fn show_links() -> bool {
    std::env::var_os("DEPOT_NO_SUMMARY_LINK").is_none_or(|v| v.is_empty())
}

fn arch_name(platform: BuilderPlatform) -> &'static str {
    match platform {
        BuilderPlatform::Arm64 => "arm64",
        _ => "amd64",
    }
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

/// A step of our own (`[depot] …`) shown among BuildKit's.
struct Step {
    vertex: VertexId,
    name: String,
    started: Instant,
}

impl Step {
    fn start(printer: &mut dyn Printer, name: &str) -> Step {
        let vertex = VertexId(format!("depot:{name}"));
        printer.event(&BuildEvent::VertexStarted {
            vertex: vertex.clone(),
            name: name.to_owned(),
            started: SystemTime::now(),
        });
        Step {
            vertex,
            name: name.to_owned(),
            started: Instant::now(),
        }
    }

    fn done(self, printer: &mut dyn Printer) {
        printer.event(&BuildEvent::VertexCompleted {
            vertex: self.vertex,
            name: self.name,
            duration: self.started.elapsed(),
        });
    }

    fn failed(self, printer: &mut dyn Printer, error: &str) {
        printer.event(&BuildEvent::VertexErrored {
            vertex: self.vertex,
            name: self.name,
            error: error.to_owned(),
            duration: self.started.elapsed(),
            canceled: error == "canceled",
        });
    }
}

/// SIGINT and SIGTERM, caught for the whole command so that a build is always released.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
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
