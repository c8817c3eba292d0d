//! Builders from Depot's API (hosted Depot or a self-hosted depot-server): the client side of
//! `CreateBuild`, `GetBuildKitConnection`, `ReportBuildHealth`, `ReportStatusStream` and
//! `FinishBuild`.
//!
//! [`acquire_builder`] registers a build and waits for its BuildKit; the returned [`Builder`]
//! keeps the build alive (a health report every 5 s), forwards the status of the builds it runs,
//! and releases the builder with [`Builder::finish`] (or, when dropped unfinished, reports the
//! build canceled). [`plan_outputs`] turns `--push`/`--save`/`--load` into BuildKit outputs the
//! way the official CLI does.
//!
//! ```no_run
//! # async fn demo(client: depot_core::DepotClient) -> Result<(), Box<dyn std::error::Error>> {
//! use depot_build::builder::{BuilderRequest, Outcome, acquire_builder};
//! use depot_build::buildkit::BuildOptions;
//! let request = BuilderRequest { project_id: Some("proj123".into()), save: true, ..BuilderRequest::default() };
//! let mut builder = acquire_builder(&client, &request).await?;
//! let outputs = builder.plan_outputs(Vec::new(), &request)?; // push to <registry>/proj123:<build-id>
//! let build = builder.build(BuildOptions { context: "./app".into(), outputs, ..BuildOptions::default() })?;
//! let result = build.result().await;
//! builder.finish(Outcome::of(&result)).await?;
//! println!("{:?}", result?.exporter_response.image_digest);
//! # Ok(()) }
//! ```

mod acquire;
mod credentials;
mod handoff;
mod health;
mod plan;
mod report;

use std::sync::Arc;
use std::time::Duration;

use depot_core::DepotClient;
use depot_core::connect::ConnectError;
use depot_core::proto::depot::cli::v1::{
    BuilderPlatform, FinishBuildRequest, finish_build_request,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::buildkit::session::CredentialsProvider;
use crate::buildkit::{self, Build, BuildKit, BuildOptions, BuildResult, OutputSpec};

pub use acquire::acquire_builder;
pub use credentials::{AdditionalCredential, BuilderCredentials};
pub use handoff::Connection;
pub use plan::plan_outputs;

/// How long [`Builder::finish`] waits for the last status reports to go out.
const REPORT_DRAIN: Duration = Duration::from_secs(5);

/// A builder acquisition or release failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed.
    #[error("{call} failed")]
    Api {
        /// The procedure (`CreateBuild`, `GetBuildKitConnection`, …).
        call: &'static str,
        /// The Connect error (its code says why).
        #[source]
        source: ConnectError,
    },
    /// The server's answer cannot be used.
    #[error("{0}")]
    Protocol(String),
    /// The builder did not answer in time.
    #[error("timed out connecting to the builder of build {build_id} after {waited:?}: {last}")]
    NotReady {
        /// The build.
        build_id: String,
        /// How long we tried.
        waited: Duration,
        /// The last failure.
        last: String,
    },
    /// The BuildKit connection failed.
    #[error(transparent)]
    BuildKit(#[from] buildkit::Error),
    /// What was asked cannot be done (`--load` without a registry to load through, …).
    #[error("{0}")]
    Unsupported(String),
}

/// What to register with `CreateBuild`, and how long to wait for the builder.
#[derive(Clone, Debug)]
pub struct BuilderRequest {
    /// The project (sent as `""` when unknown; the server may pick the token's project).
    pub project_id: Option<String>,
    /// Image names (`-t`).
    pub tags: Vec<String>,
    /// The `--output`s as given.
    pub outputs: Vec<OutputSpec>,
    /// `--push`.
    pub push: bool,
    /// `--load`.
    pub load: bool,
    /// `--save`: push the result to the project's registry.
    pub save: bool,
    /// `--save-tag`s: more tags for the saved image.
    pub save_tags: Vec<String>,
    /// `--lint`.
    pub lint: bool,
    /// The builder's architecture.
    pub platform: BuilderPlatform,
    /// For a bake: its targets (the build is registered with one option per target, as
    /// `COMMAND_BAKE`); empty for a plain build.
    pub bake_targets: Vec<BakeTargetRequest>,
    /// How long to wait for the server to hand out a builder.
    pub acquire_timeout: Duration,
    /// How long to wait for the builder's BuildKit to answer once handed out.
    pub ready_timeout: Duration,
}

impl Default for BuilderRequest {
    fn default() -> Self {
        Self {
            project_id: None,
            tags: Vec::new(),
            outputs: Vec::new(),
            push: false,
            load: false,
            save: false,
            save_tags: Vec::new(),
            lint: false,
            platform: host_platform(),
            bake_targets: Vec::new(),
            acquire_timeout: Duration::from_secs(15 * 60),
            ready_timeout: Duration::from_secs(5 * 60),
        }
    }
}

/// One target of a bake, as `CreateBuild` registers it.
#[derive(Clone, Debug, Default)]
pub struct BakeTargetRequest {
    /// The target's name.
    pub name: String,
    /// Its image names.
    pub tags: Vec<String>,
    /// Its outputs as given.
    pub outputs: Vec<OutputSpec>,
}

/// The builder platform matching this machine's architecture (amd64 unless it is arm64).
pub fn host_platform() -> BuilderPlatform {
    platform_for_arch(std::env::consts::ARCH)
}

/// The builder platform for an architecture name (`arm64`, `aarch64`, `arm` → arm64; else
/// amd64).
pub fn platform_for_arch(arch: &str) -> BuilderPlatform {
    match arch {
        "arm64" | "aarch64" | "arm" => BuilderPlatform::Arm64,
        _ => BuilderPlatform::Amd64,
    }
}

/// The builder's platform for a build: `flag` is `linux/amd64`, `linux/arm64`, or `dynamic`
/// (or empty) for the first of `platforms`' architecture, else this machine's.
pub fn builder_platform(flag: &str, platforms: &[String]) -> Result<BuilderPlatform, String> {
    match flag {
        "linux/amd64" => Ok(BuilderPlatform::Amd64),
        "linux/arm64" => Ok(BuilderPlatform::Arm64),
        "dynamic" | "" => Ok(match platforms.first() {
            Some(platform) => {
                let arch = platform.split('/').nth(1).unwrap_or(platform);
                platform_for_arch(arch)
            }
            None => host_platform(),
        }),
        other => Err(format!(
            "unknown build platform {other:?}: use dynamic, linux/amd64 or linux/arm64"
        )),
    }
}

/// What the server said about a build when it was created.
#[derive(Clone, Debug)]
pub struct BuildInfo {
    /// The build's ID.
    pub build_id: String,
    /// Its project (from the server, which may have picked it).
    pub project_id: String,
    /// The token its RPCs and registry pushes use.
    pub build_token: String,
    /// A page about the build; empty when the server has none.
    pub build_url: String,
    /// Where `--save` pushes (`<registry>/<project>:<build-id>` and the save tags).
    pub additional_tags: Vec<String>,
    /// Registry credentials for those tags.
    pub additional_credentials: Vec<AdditionalCredential>,
    /// Whether `--load` goes through the registry (save, then pull).
    pub load_using_registry: bool,
    /// The builder's architecture.
    pub platform: BuilderPlatform,
}

/// A platform's builder, connected.
struct PlatformConnection {
    platform: BuilderPlatform,
    /// As the server gave it.
    endpoint: String,
    buildkit: BuildKit,
}

/// A builder platform's architecture name (`amd64`, `arm64`).
pub fn platform_arch(platform: BuilderPlatform) -> &'static str {
    match platform {
        BuilderPlatform::Arm64 => "arm64",
        _ => "amd64",
    }
}

/// How a build ended, for `FinishBuild`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded.
    Success,
    /// It failed, with this message.
    Error(String),
    /// It was canceled.
    Canceled,
}

impl Outcome {
    /// The outcome of a build's result: BuildKit's cancellations count as canceled.
    pub fn of(result: &Result<BuildResult, buildkit::Error>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(err) => Outcome::of_failure(err),
        }
    }

    /// The outcome of a build that failed with `err`: canceled, or an error.
    pub fn of_failure(err: &buildkit::Error) -> Outcome {
        match err {
            buildkit::Error::Build(failure) if failure.is_canceled() => Outcome::Canceled,
            err => Outcome::Error(depot_core::ErrorChain(err).to_string()),
        }
    }

    fn into_request(self, build_id: String) -> FinishBuildRequest {
        use finish_build_request::{BuildCanceled, BuildError, BuildSuccess, Result};
        let result = match self {
            Outcome::Success => Result::Success(BuildSuccess {}),
            Outcome::Error(error) => Result::Error(BuildError { error }),
            Outcome::Canceled => Result::Canceled(BuildCanceled {}),
        };
        FinishBuildRequest {
            build_id,
            result: Some(result),
        }
    }
}

/// A registered build and its builder. While it lives, the build's health is reported every
/// 5 s; [`Builder::finish`] releases it. Dropping it unfinished reports the build canceled (in
/// a spawned task, best effort).
pub struct Builder {
    info: BuildInfo,
    /// The client with the build token.
    client: DepotClient,
    /// The BuildKit of each platform connected so far (the build's own platform first).
    connections: Vec<PlatformConnection>,
    canceled: CancellationToken,
    /// Health reports, one task per platform held.
    health: Vec<(BuilderPlatform, JoinHandle<()>)>,
    reports: Vec<JoinHandle<()>>,
    finished: bool,
    acquire_timeout: Duration,
    ready_timeout: Duration,
}

impl Builder {
    /// What the server said about the build.
    pub fn info(&self) -> &BuildInfo {
        &self.info
    }

    /// The BuildKit of the build's own platform.
    pub fn buildkit(&self) -> Result<&BuildKit, Error> {
        self.buildkit_of(self.info.platform)
    }

    /// The BuildKit of `platform`'s builder, once connected.
    pub fn buildkit_of(&self, platform: BuilderPlatform) -> Result<&BuildKit, Error> {
        self.connected(platform)
            .map(|connection| &connection.buildkit)
            .ok_or_else(|| {
                Error::Protocol(format!(
                    "the {} builder is not connected yet",
                    platform_arch(platform)
                ))
            })
    }

    /// The endpoint the server gave for `platform`'s builder, once connected (two platforms
    /// may share one builder).
    pub fn endpoint_of(&self, platform: BuilderPlatform) -> Option<&str> {
        self.connected(platform)
            .map(|connection| connection.endpoint.as_str())
    }

    fn connected(&self, platform: BuilderPlatform) -> Option<&PlatformConnection> {
        self.connections
            .iter()
            .find(|connection| connection.platform == platform)
    }

    /// Resolves when the server cancels the build (a past `cancels_at` in a health report).
    pub async fn canceled(&self) {
        self.canceled.cancelled().await;
    }

    /// Whether the server canceled the build.
    pub fn is_canceled(&self) -> bool {
        self.canceled.is_cancelled()
    }

    /// Registry credentials for the builder: the build's own, then `DEPOT_PUSH_REGISTRY_*`,
    /// then the Docker config.
    pub fn credentials(&self) -> Arc<dyn CredentialsProvider> {
        Arc::new(BuilderCredentials::new(
            self.info.additional_credentials.clone(),
        ))
    }

    /// The outputs for `request` on this build (see [`plan_outputs`]).
    pub fn plan_outputs(
        &self,
        outputs: Vec<buildkit::Output>,
        request: &BuilderRequest,
    ) -> Result<Vec<buildkit::Output>, Error> {
        plan_outputs(outputs, request, &self.info)
    }

    /// Starts a build on the builder. Its status goes to `ReportStatusStream` (one stream per
    /// build, a batch a second); credentials default to [`Builder::credentials`].
    pub fn build(&mut self, options: BuildOptions) -> Result<Build, Error> {
        self.build_on(self.info.platform, options)
    }

    /// Starts a build on `platform`'s builder, like [`Builder::build`].
    pub fn build_on(
        &mut self,
        platform: BuilderPlatform,
        mut options: BuildOptions,
    ) -> Result<Build, Error> {
        let buildkit = self.buildkit_of(platform)?.clone();
        let (tap, statuses) = mpsc::channel(report::TAP_CAPACITY);
        options.status_tap = Some(tap);
        if options.credentials.is_none() {
            options.credentials = Some(self.credentials());
        }
        self.reports.push(tokio::spawn(report::forward(
            self.client.clone(),
            self.info.build_id.clone(),
            statuses,
        )));
        Ok(buildkit.build(options))
    }

    /// Releases the builder: flushes status reports, stops health reports and sends
    /// `FinishBuild` with `outcome`.
    pub async fn finish(mut self, outcome: Outcome) -> Result<(), Error> {
        self.finished = true;
        for (_, health) in &self.health {
            health.abort();
        }
        for report in self.reports.drain(..) {
            // A stuck report stream must not keep the builder: give up on it after a while.
            let _ = tokio::time::timeout(REPORT_DRAIN, report).await;
        }
        self.client
            .builds()
            .finish_build(outcome.into_request(self.info.build_id.clone()))
            .await
            .map_err(|source| Error::Api {
                call: "FinishBuild",
                source,
            })?;
        Ok(())
    }
}

impl Drop for Builder {
    fn drop(&mut self) {
        for (_, health) in &self.health {
            health.abort();
        }
        for report in &self.reports {
            report.abort();
        }
        if self.finished {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let client = self.client.clone();
            let request = Outcome::Canceled.into_request(self.info.build_id.clone());
            runtime.spawn(async move {
                let _ = client.builds().finish_build(request).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_platforms() {
        let arm = ["linux/arm64/v8".to_owned()];
        assert_eq!(
            builder_platform("dynamic", &arm).unwrap(),
            BuilderPlatform::Arm64
        );
        assert_eq!(
            builder_platform("linux/amd64", &arm).unwrap(),
            BuilderPlatform::Amd64
        );
        assert_eq!(builder_platform("", &[]).unwrap(), host_platform());
        assert!(builder_platform("windows", &[]).is_err());
    }
}
