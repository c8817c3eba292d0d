//! Builds: a Dockerfile solve with its session, exporters and event stream.
//!
//! [`BuildKit::build`] starts a build and returns a [`Build`]: a `Stream` of
//! [`BuildEvent`]s, then [`Build::result`]. Dropping the `Build` (or the `result` future)
//! cancels the solve on the daemon: the solve call is reset, which cancels BuildKit's job and
//! stops running steps.

mod failure;
mod options;
mod output;
mod output_spec;
mod response;
mod status;

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bollard_buildkit_proto::moby::buildkit::v1::{CacheOptions, CacheOptionsEntry, SolveRequest};
use futures_util::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use failure::BuildFailure;
pub use options::{BuildOptions, CacheSpec};
pub use output::Output;
pub use output_spec::OutputSpec;
pub use response::{Descriptor, ExporterResponse};

use super::session::{self, DockerConfigCredentials, Session};
use super::{BuildKit, Error};
use crate::events::BuildEvent;
use crate::fsutil::TransferStats;

/// How long the status stream may keep going once the solve returned.
const STATUS_DRAIN: Duration = Duration::from_secs(5);

/// What a finished build produced.
#[derive(Clone, Debug)]
pub struct BuildResult {
    /// The build's reference (BuildKit's job id).
    pub build_ref: String,
    /// The exporters' response.
    pub exporter_response: ExporterResponse,
    /// What each local directory sent (`context`, `dockerfile`, named contexts).
    pub transfers: BTreeMap<String, TransferStats>,
}

/// A running build: a stream of events, then [`Build::result`]. Dropping it cancels the
/// build.
pub struct Build {
    events: mpsc::Receiver<BuildEvent>,
    task: Option<JoinHandle<Result<BuildResult, Error>>>,
}

impl Build {
    /// Waits for the build to end (events not yet taken are dropped).
    pub async fn result(mut self) -> Result<BuildResult, Error> {
        while self.events.recv().await.is_some() {}
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|err| Error::Unsupported(format!("the build task failed: {err}")))?,
            None => Err(Error::Unsupported("the build already finished".into())),
        }
    }

    /// Cancels the build on the daemon.
    pub fn cancel(self) {
        drop(self);
    }
}

impl Drop for Build {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Stream for Build {
    type Item = BuildEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BuildEvent>> {
        self.events.poll_recv(cx)
    }
}

impl BuildKit {
    /// Starts a Dockerfile build.
    pub fn build(&self, options: BuildOptions) -> Build {
        let (sender, events) = mpsc::channel(1024);
        let task = tokio::spawn(run(self.clone(), options, sender));
        Build {
            events,
            task: Some(task),
        }
    }
}

async fn run(
    buildkit: BuildKit,
    options: BuildOptions,
    events: mpsc::Sender<BuildEvent>,
) -> Result<BuildResult, Error> {
    let locals = options.locals().map_err(Error::InvalidOptions)?;
    let frontend_attrs = options
        .frontend_attrs(&locals)
        .map_err(Error::InvalidOptions)?;
    let entitlements = options.entitlements();
    let capabilities = buildkit.capabilities().await?;
    let exporters: Vec<_> = options.outputs.iter().map(|o| o.exporter()).collect();
    capabilities.check_exporters(&exporters)?;

    let client = match &options.client_id {
        Some(id) => id.clone(),
        None => node_id(),
    };
    let credentials = options
        .credentials
        .clone()
        .unwrap_or_else(|| Arc::new(DockerConfigCredentials));
    let mut session = Session::new(session::shared_key(&locals.context, &client))
        .local("context", &locals.context)
        .local("dockerfile", &locals.dockerfile_dir)
        .credentials(credentials);
    for (name, dir) in &locals.named {
        session = session.local(name, dir);
    }
    for spec in options.secrets {
        session = session.secret(spec);
    }
    for spec in options.ssh {
        session = session.ssh(spec);
    }
    let (exporters, sinks): (Vec<_>, Vec<_>) =
        options.outputs.into_iter().map(Output::into_parts).unzip();
    let session = session.outputs(sinks);

    let build_ref = session::random_id();
    let first = exporters.first().cloned().unwrap_or_default();
    let request = SolveRequest {
        r#ref: build_ref.clone(),
        session: session.id().to_owned(),
        frontend: "dockerfile.v0".into(),
        frontend_attrs,
        exporter_deprecated: first.r#type,
        exporter_attrs_deprecated: first.attrs,
        exporters,
        cache: Some(CacheOptions {
            imports: options.cache_from.iter().map(cache_entry).collect(),
            exports: options.cache_to.iter().map(cache_entry).collect(),
            ..CacheOptions::default()
        }),
        entitlements,
        ..SolveRequest::default()
    };

    let attached = session.attach(buildkit.control()).await?;
    let mut status = tokio::spawn(status::follow(
        buildkit.control(),
        build_ref.clone(),
        events,
        options.status_tap,
    ));
    let solved = buildkit.control().solve(request).await;
    let summary = match tokio::time::timeout(STATUS_DRAIN, &mut status).await {
        Ok(Ok(summary)) => summary,
        // A stream that does not end stops here, which also ends the caller's event stream.
        _ => {
            status.abort();
            status::Summary::default()
        }
    };
    let transfers = attached.transfers();
    attached.close();
    match solved {
        Ok(response) => Ok(BuildResult {
            build_ref,
            exporter_response: ExporterResponse::from_raw(response.into_inner().exporter_response),
            transfers,
        }),
        Err(status) => Err(Error::Build(Box::new(BuildFailure::new(status, summary)))),
    }
}

fn cache_entry(spec: &CacheSpec) -> CacheOptionsEntry {
    CacheOptionsEntry {
        r#type: spec.kind.clone(),
        attrs: spec.attrs.clone().into_iter().collect(),
    }
}

/// This machine's build node id, kept in `$XDG_STATE_HOME/depot/build-node-id` (or
/// `~/.local/state/…`) so that shared keys stay the same across builds; the host name if it
/// cannot be kept.
fn node_id() -> String {
    let dir = std::env::var_os("XDG_STATE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".local/state")))
        .map(|d| d.join("depot"));
    if let Some(dir) = dir {
        let file = dir.join("build-node-id");
        if let Ok(id) = std::fs::read_to_string(&file)
            && !id.trim().is_empty()
        {
            return id.trim().to_owned();
        }
        let id = session::random_id();
        if std::fs::create_dir_all(&dir).is_ok() && std::fs::write(&file, &id).is_ok() {
            return id;
        }
    }
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "depot-rs".into())
}
