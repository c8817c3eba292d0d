//! A whole build, as `depot build` runs it: register the build (`CreateBuild`), connect to its
//! builder, plan the outputs (`save`, `push`, `load`), build with the context while streaming
//! typed events, and release the builder (`FinishBuild`) however the build ends. Platforms of
//! several architectures build on a builder each and are merged into one index (see
//! [`BuildSpec::per_arch_builders`]).
//!
//! [`start`] registers the build and returns a [`RunningBuild`]: a `Stream` of
//! [`BuildEvent`]s (including steps of its own, `[depot] connecting to amd64 builder`), a
//! [`Canceller`] usable from any task, and [`RunningBuild::result`]. A canceled build is
//! stopped on the daemon and reported canceled to the server; dropping a `RunningBuild` before
//! its end cancels it too.
//!
//! ```no_run
//! # async fn demo(client: depot_core::DepotClient) -> Result<(), Box<dyn std::error::Error>> {
//! use depot_build::builder::BuilderRequest;
//! use depot_build::buildkit::BuildOptions;
//! use depot_build::run::{BuildSpec, start};
//! use futures_util::StreamExt;
//! let spec = BuildSpec {
//!     request: BuilderRequest { project_id: Some("proj123".into()), save: true, ..BuilderRequest::default() },
//!     options: BuildOptions { context: "./app".into(), ..BuildOptions::default() },
//!     outputs: Vec::new(),
//!     show_build_url: false,
//!     per_arch_builders: true,
//! };
//! let mut build = start(&client, spec).await?;
//! while let Some(event) = build.next().await {
//!     println!("{}", serde_json::to_string(&event)?);
//! }
//! let output = build.result().await?;
//! println!("{:?} saved as {:?}", output.image_digest(), output.saved_tags);
//! # Ok(()) }
//! ```

mod bake;
mod bake_definition;
mod drive;
mod fan_out;
mod labeled;
mod load;
pub mod metadata;
mod nodes;
mod oci_merge;
mod steps;

use std::pin::Pin;
use std::task::{Context, Poll};

use depot_core::DepotClient;
use futures_util::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::builder::{self, BuildInfo, Builder, BuilderRequest};
use crate::buildkit::{self, BuildOptions, BuildResult, Output};
use crate::events::BuildEvent;

/// What to build, and where the result goes.
#[derive(Default)]
pub struct BuildSpec {
    /// What to register with `CreateBuild` (project, tags, `save`, `push`, `load`, the builder's
    /// platform).
    pub request: BuilderRequest,
    /// What BuildKit builds. Its `outputs` are replaced by the planned ones.
    pub options: BuildOptions,
    /// Outputs asked for explicitly (`--output`), before planning adds the save, push and load
    /// outputs.
    pub outputs: Vec<Output>,
    /// Whether to report the build's page as a step (`[depot] build: <url>`) when the server
    /// has one.
    pub show_build_url: bool,
    /// Whether platforms of several architectures each build on a builder of their own
    /// architecture (`--build-platform dynamic`), merged into one image index; otherwise every
    /// platform builds on the builder of `request.platform`.
    pub per_arch_builders: bool,
}

impl BuildSpec {
    /// Checks what can be checked before a builder is taken: the context is a directory, the
    /// Dockerfile exists, and a push has an image name.
    pub fn validate(&self) -> Result<(), Error> {
        let context = &self.options.context;
        if !context.is_dir() {
            return Err(Error::Invalid(format!(
                "the build context {} is not a directory",
                context.display()
            )));
        }
        let dockerfile = self
            .options
            .dockerfile
            .clone()
            .unwrap_or_else(|| context.join("Dockerfile"));
        if !dockerfile.is_file() {
            return Err(Error::Invalid(format!(
                "no Dockerfile at {}; pass -f to name it",
                dockerfile.display()
            )));
        }
        let request = &self.request;
        if request.push && request.tags.is_empty() && !request.outputs.iter().any(|o| o.is_image())
        {
            return Err(Error::Invalid(
                "--push needs an image name: pass -t <registry>/<repository>:<tag>".into(),
            ));
        }
        Ok(())
    }
}

/// Why a build did not produce its result.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec cannot be built (see [`BuildSpec::validate`]).
    #[error("{0}")]
    Invalid(String),
    /// The build could not be registered (`CreateBuild`).
    #[error(transparent)]
    Register(builder::Error),
    /// The builder could not be reached.
    #[error(transparent)]
    Connect(builder::Error),
    /// The outputs cannot be produced on this build (e.g. `load` without a registry).
    #[error(transparent)]
    Plan(builder::Error),
    /// The build ran and failed, or BuildKit failed.
    #[error(transparent)]
    Build(buildkit::Error),
    /// One platform's build failed on its builder (a build with a builder per
    /// architecture); the other platforms' builds were canceled.
    #[error("the {platforms} build failed")]
    Platform {
        /// The platforms of the builder that failed (`linux/arm64`).
        platforms: String,
        /// Why.
        #[source]
        source: buildkit::Error,
    },
    /// A bake target's build failed; the other targets' builds were canceled.
    #[error("the {target} target failed")]
    Target {
        /// The target.
        target: String,
        /// Why.
        #[source]
        source: buildkit::Error,
    },
    /// The platforms' images could not be merged into one index.
    #[error("merging the platforms' images into one index failed")]
    Index(#[source] depot_registry::client::ClientError),
    /// The build was canceled, by a [`Canceller`] or by the server.
    #[error("{}", if *by_server { format!("build {build_id} was canceled by the server") } else { "build canceled".to_owned() })]
    Canceled {
        /// The build.
        build_id: String,
        /// Whether the server canceled it.
        by_server: bool,
    },
    /// The task running the build ended abnormally.
    #[error("the build task failed: {0}")]
    Task(String),
    /// A bake's files cannot be read or evaluated.
    #[error(transparent)]
    Bake(#[from] depot_bake::Error),
}

impl Error {
    /// Whether the build was canceled (here, by the server, or by BuildKit).
    pub fn is_canceled(&self) -> bool {
        match self {
            Error::Canceled { .. } => true,
            Error::Build(buildkit::Error::Build(failure))
            | Error::Platform {
                source: buildkit::Error::Build(failure),
                ..
            }
            | Error::Target {
                source: buildkit::Error::Build(failure),
                ..
            } => failure.is_canceled(),
            _ => false,
        }
    }
}

/// What a successful build produced.
#[derive(Clone, Debug)]
pub struct BuildOutput {
    /// What the server said about the build (ID, project, saved image locations).
    pub info: BuildInfo,
    /// BuildKit's result (exporter response, context transfers).
    pub result: BuildResult,
    /// Where the image was saved in the project's registry (`<registry>/<project>:<build-id>`
    /// and the save tags); empty when it was not saved.
    pub saved_tags: Vec<String>,
    /// The build's metadata, as `depot build --metadata-file` writes it (see [`metadata`]);
    /// for a bake, one entry per target and `depot.build`.
    pub metadata: serde_json::Value,
    /// A bake's targets and what each produced (`result` is the first's); empty for a build.
    pub targets: Vec<(String, BuildResult)>,
}

impl BuildOutput {
    /// The image's manifest (or index) digest, when an image was exported.
    pub fn image_digest(&self) -> Option<&str> {
        self.result.exporter_response.image_digest.as_deref()
    }
}

/// How a build ended, and whether its builder was released.
#[derive(Debug)]
pub struct Finished {
    /// The build's output or why there is none.
    pub outcome: Result<BuildOutput, Error>,
    /// The release (`FinishBuild`); a failure there does not change the outcome.
    pub release: Result<(), builder::Error>,
}

/// Cancels a [`RunningBuild`] from anywhere. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Canceller(CancellationToken);

impl Canceller {
    /// Cancels the build: it stops on the daemon, is reported canceled to the server, and its
    /// result is [`Error::Canceled`]. Does nothing once the build has ended.
    pub fn cancel(&self) {
        self.0.cancel();
    }
}

/// The stream of a [`RunningBuild`]'s events, taken with [`RunningBuild::take_events`].
pub struct Events {
    receiver: mpsc::UnboundedReceiver<BuildEvent>,
    /// A bake's targets; empty for a build.
    targets: Vec<String>,
}

impl Events {
    /// The bake target `event` belongs to (its vertex is labeled `<target>/…`); `None` for a
    /// build, and for the bake's own steps.
    pub fn target_of(&self, event: &BuildEvent) -> Option<&str> {
        let (label, _) = event.vertex().0.split_once('/')?;
        self.targets
            .iter()
            .find(|target| *target == label)
            .map(String::as_str)
    }

    /// `event` in its JSON wire form ([`crate::events::wire`]), with `target` added for a
    /// bake target's event: what the packages hand to JavaScript and Python.
    pub fn to_json(&self, event: &BuildEvent) -> serde_json::Value {
        let mut value = serde_json::to_value(event).unwrap_or_default();
        if let (Some(target), Some(object)) = (self.target_of(event), value.as_object_mut()) {
            object.insert("target".into(), target.into());
        }
        value
    }
}

impl Stream for Events {
    type Item = BuildEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BuildEvent>> {
        self.receiver.poll_recv(cx)
    }
}

/// A registered build running in a task of its own. As a `Stream` it yields the build's events,
/// which are kept until taken (so a build whose events are never read keeps them all).
pub struct RunningBuild {
    info: BuildInfo,
    events: Option<Events>,
    canceller: Canceller,
    task: Option<JoinHandle<Finished>>,
}

pub use bake::BakeTarget;
pub use bake_definition::{BakeOptions, BakeSource, start_definition};
pub use load::LoadAfter;

/// Registers a bake of `targets` (one build, an option per target) and starts it in a task:
/// the targets build at once on one builder, those used through `target:` contexts first.
/// The bake's project, save, push and load come from the first target's request.
pub async fn start_bake(
    client: &DepotClient,
    targets: Vec<BakeTarget>,
    show_build_url: bool,
) -> Result<RunningBuild, Error> {
    spawn_bake(client, targets, show_build_url, None).await
}

/// [`start_bake`], keeping `inline` (the directory of inline Dockerfiles) until the bake ends.
async fn spawn_bake(
    client: &DepotClient,
    targets: Vec<BakeTarget>,
    show_build_url: bool,
    inline: Option<tempfile::TempDir>,
) -> Result<RunningBuild, Error> {
    bake::validate(&targets)?;
    let mut request = targets[0].spec.request.clone();
    request.bake_targets = targets
        .iter()
        .map(|target| builder::BakeTargetRequest {
            name: target.name.clone(),
            tags: target.spec.request.tags.clone(),
            outputs: target.spec.request.outputs.clone(),
        })
        .collect();
    let builder = Builder::register(client, &request)
        .await
        .map_err(Error::Register)?;
    let info = builder.info().clone();
    let (sender, receiver) = mpsc::unbounded_channel();
    let token = CancellationToken::new();
    let names = targets.iter().map(|target| target.name.clone()).collect();
    let drive = bake::drive(builder, targets, show_build_url, sender, token.clone());
    let task = tokio::spawn(async move {
        let finished = drive.await;
        drop(inline);
        finished
    });
    Ok(RunningBuild {
        info,
        events: Some(Events {
            receiver,
            targets: names,
        }),
        canceller: Canceller(token),
        task: Some(task),
    })
}

/// Registers the build described by `spec` with `client`'s token and starts it in a task.
pub async fn start(client: &DepotClient, spec: BuildSpec) -> Result<RunningBuild, Error> {
    spec.validate()?;
    let builder = Builder::register(client, &spec.request)
        .await
        .map_err(Error::Register)?;
    let info = builder.info().clone();
    let (sender, receiver) = mpsc::unbounded_channel();
    let token = CancellationToken::new();
    let task = tokio::spawn(drive::drive(builder, spec, sender, token.clone()));
    Ok(RunningBuild {
        info,
        events: Some(Events {
            receiver,
            targets: Vec::new(),
        }),
        canceller: Canceller(token),
        task: Some(task),
    })
}

impl RunningBuild {
    /// What the server said about the build when it was registered.
    pub fn info(&self) -> &BuildInfo {
        &self.info
    }

    /// A handle that cancels the build.
    pub fn canceller(&self) -> Canceller {
        self.canceller.clone()
    }

    /// Cancels the build (see [`Canceller::cancel`]).
    pub fn cancel(&self) {
        self.canceller.cancel();
    }

    /// Takes the event stream, to read it in another task; the `RunningBuild` itself then
    /// yields no events.
    pub fn take_events(&mut self) -> Option<Events> {
        self.events.take()
    }

    /// Waits for the build to end and its builder to be released.
    pub async fn finish(mut self) -> Finished {
        let Some(task) = self.task.take() else {
            return Finished {
                outcome: Err(Error::Task("the build already finished".into())),
                release: Ok(()),
            };
        };
        match task.await {
            Ok(finished) => finished,
            Err(err) => Finished {
                outcome: Err(Error::Task(err.to_string())),
                release: Ok(()),
            },
        }
    }

    /// Waits for the build to end: its output, or why there is none.
    pub async fn result(self) -> Result<BuildOutput, Error> {
        self.finish().await.outcome
    }
}

impl Stream for RunningBuild {
    type Item = BuildEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BuildEvent>> {
        match self.events.as_mut() {
            Some(events) => Pin::new(events).poll_next(cx),
            None => Poll::Ready(None),
        }
    }
}

impl Drop for RunningBuild {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.canceller.cancel();
        }
    }
}
