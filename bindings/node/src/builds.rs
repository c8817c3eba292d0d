//! Builds: a [`depot_build::run`] build started from JavaScript options, its events pulled one
//! at a time by the TypeScript layer, its result, and cancellation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use depot_build::builder::BuildInfo;
use depot_build::flags::{BuildFlags, StandardOutput};
use depot_build::run::{Canceller, Events, LoadAfter, RunningBuild, start};
use depot_core::naming::camel_case_keys;
use depot_core::{DepotClient, ErrorKind, ErrorReport};
use futures_util::StreamExt;
use napi_derive::napi;

use crate::client::NativeClient;
use crate::error::fail;

/// A build, with the options of `depot build` (each named like its flag; the text ones take the
/// flag's syntax).
#[napi(object)]
#[derive(Default)]
pub struct BuildOptions {
    /// The Dockerfile (default: `<context>/Dockerfile`).
    pub dockerfile: Option<String>,
    /// Image names (`-t`).
    pub tags: Option<Vec<String>>,
    /// Build arguments.
    pub build_args: Option<HashMap<String, String>>,
    /// The stage to build.
    pub target: Option<String>,
    /// Target platforms (`linux/amd64`).
    pub platforms: Option<Vec<String>>,
    /// Build every step again.
    pub no_cache: Option<bool>,
    /// Build these stages again.
    pub no_cache_filter: Option<Vec<String>>,
    /// Save the image in the project's registry.
    pub save: Option<bool>,
    /// More tags for the saved image (implies `save`).
    pub save_tags: Option<Vec<String>>,
    /// Push the image to the registries of its tags.
    pub push: Option<bool>,
    /// Load the image into the local Docker Engine, named with the tags.
    pub load: Option<bool>,
    /// `--output` specs (`type=oci,dest=image.tar`, `type=local,dest=out`); `dest=-` (standard
    /// output) is refused.
    pub outputs: Option<Vec<String>>,
    /// Image labels.
    pub labels: Option<HashMap<String, String>>,
    /// Named build contexts (`name` → directory or `docker-image://…`).
    pub build_contexts: Option<HashMap<String, String>>,
    /// `--secret` specs (`id=npm,src=.npmrc`, `id=TOKEN,env=TOKEN`).
    pub secrets: Option<Vec<String>>,
    /// `--ssh` specs (`default`, `id=<agent socket>`).
    pub ssh: Option<Vec<String>>,
    /// `--cache-from` specs (`type=registry,ref=…`).
    pub cache_from: Option<Vec<String>>,
    /// `--cache-to` specs (`type=registry,ref=…,mode=max`).
    pub cache_to: Option<Vec<String>>,
    /// Extra `/etc/hosts` entries for RUN steps (`host:ip`).
    pub add_hosts: Option<Vec<String>>,
    /// The RUN steps' network: `default`, `host` or `none`.
    pub network: Option<String>,
    /// Entitlements (`network.host`, `security.insecure`).
    pub allow: Option<Vec<String>>,
    /// The project (default: the client's).
    pub project: Option<String>,
    /// The builder's platform: `dynamic` (default), `linux/amd64` or `linux/arm64`.
    pub build_platform: Option<String>,
    /// Provenance attestation: `true`, `false` or `mode=max`.
    pub provenance: Option<String>,
    /// SBOM attestation: `true`, `false` or `generator=…`.
    pub sbom: Option<String>,
    /// Lint the Dockerfile (recorded with the build).
    pub lint: Option<bool>,
}

impl BuildOptions {
    /// The options as `depot build`'s flags, for `depot_build::flags` to parse.
    fn into_flags(self, context: String, project: Option<String>) -> BuildFlags {
        BuildFlags {
            context: context.into(),
            file: self.dockerfile.map(Into::into),
            tags: self.tags.unwrap_or_default(),
            target: self.target,
            build_args: BuildFlags::pairs(self.build_args.unwrap_or_default()),
            labels: BuildFlags::pairs(self.labels.unwrap_or_default()),
            platforms: self.platforms.unwrap_or_default(),
            no_cache: self.no_cache.unwrap_or(false),
            no_cache_filter: self.no_cache_filter.unwrap_or_default(),
            build_contexts: BuildFlags::pairs(self.build_contexts.unwrap_or_default()),
            add_hosts: self.add_hosts.unwrap_or_default(),
            network: self.network,
            cache_from: self.cache_from.unwrap_or_default(),
            cache_to: self.cache_to.unwrap_or_default(),
            secrets: self.secrets.unwrap_or_default(),
            ssh: self.ssh.unwrap_or_default(),
            allow: self.allow.unwrap_or_default(),
            outputs: self.outputs.unwrap_or_default(),
            push: self.push.unwrap_or(false),
            load: self.load.unwrap_or(false),
            provenance: self.provenance,
            sbom: self.sbom,
            save: self.save.unwrap_or(false),
            save_tags: self.save_tags.unwrap_or_default(),
            build_platform: self.build_platform,
            lint: self.lint.unwrap_or(false),
            project,
        }
    }
}

/// What a successful build produced.
#[napi(object)]
pub struct BuildOutcome {
    /// The build's ID.
    pub build_id: String,
    /// Its project.
    pub project_id: String,
    /// The image's manifest (or index) digest, when an image was exported.
    pub image_digest: Option<String>,
    /// Where the image was saved in the project's registry.
    pub saved_tags: Vec<String>,
    /// The metadata `depot build --metadata-file` writes (for a bake, one entry per target
    /// and `depot.build`).
    pub metadata: serde_json::Value,
    /// A bake's targets, in the order they were defined; empty for a build.
    pub targets: Vec<String>,
}

/// A running build (or bake).
#[napi]
pub struct NativeBuild {
    info: BuildInfo,
    client: DepotClient,
    load: Option<LoadAfter>,
    events: Arc<tokio::sync::Mutex<Option<Events>>>,
    canceller: Canceller,
    running: Mutex<Option<RunningBuild>>,
}

#[napi]
impl NativeClient {
    /// Registers a build of the `context` directory and starts it.
    #[napi]
    pub async fn build(
        &self,
        context: String,
        options: Option<BuildOptions>,
    ) -> napi::Result<NativeBuild> {
        let options = options.unwrap_or_default();
        let project = options.project.clone().or_else(|| self.project_id());
        let load = options
            .load
            .unwrap_or(false)
            .then(|| LoadAfter::Image(options.tags.clone().unwrap_or_default()));
        let spec = options
            .into_flags(context, project)
            .into_spec(StandardOutput::Refused)
            .map_err(fail)?;
        let running = start(&self.client, spec).await.map_err(fail)?;
        Ok(NativeBuild::new(self.client.clone(), running, load))
    }
}

impl NativeBuild {
    /// The handle of a started build, loading `load` once it succeeds.
    pub(crate) fn new(
        client: DepotClient,
        mut running: RunningBuild,
        load: Option<LoadAfter>,
    ) -> Self {
        NativeBuild {
            info: running.info().clone(),
            client,
            load,
            events: Arc::new(tokio::sync::Mutex::new(running.take_events())),
            canceller: running.canceller(),
            running: Mutex::new(Some(running)),
        }
    }
}

#[napi]
impl NativeBuild {
    /// The build's ID.
    #[napi(getter)]
    pub fn build_id(&self) -> String {
        self.info.build_id.clone()
    }

    /// The build's project.
    #[napi(getter)]
    pub fn project_id(&self) -> String {
        self.info.project_id.clone()
    }

    /// The build's page on the server; empty when it has none.
    #[napi(getter)]
    pub fn build_url(&self) -> String {
        self.info.build_url.clone()
    }

    /// The next event (the JSON shape of `depot_build::events::wire`, keys in camelCase, with
    /// `target` for a bake target's), or `null` once the build has ended.
    #[napi]
    pub async fn next_event(&self) -> napi::Result<Option<serde_json::Value>> {
        let events = Arc::clone(&self.events);
        let mut events = events.lock().await;
        let Some(stream) = events.as_mut() else {
            return Ok(None);
        };
        match stream.next().await {
            Some(event) => Ok(Some(camel_case_keys(stream.to_json(&event)))),
            None => {
                *events = None;
                Ok(None)
            }
        }
    }

    /// Cancels the build; its result becomes a `canceled` error.
    #[napi]
    pub fn cancel(&self) {
        self.canceller.cancel();
    }

    /// Waits for the build to end and its builder to be released; with `load`, then pulls the
    /// image into the Docker Engine.
    #[napi]
    pub async fn result(&self) -> napi::Result<BuildOutcome> {
        let running = self
            .running
            .lock()
            .map_err(|_| {
                fail(ErrorReport::new(
                    ErrorKind::Internal,
                    "the build's state is poisoned",
                ))
            })?
            .take()
            .ok_or_else(|| {
                fail(ErrorReport::new(
                    ErrorKind::Internal,
                    "the result was already taken",
                ))
            })?;
        let build_id = &self.info.build_id;
        let output = running
            .result()
            .await
            .map_err(|err| fail(ErrorReport::from(err).for_build(build_id)))?;
        if let Some(load) = &self.load {
            crate::registry::load(&self.client, build_id, load).await?;
        }
        Ok(BuildOutcome {
            targets: output
                .targets
                .iter()
                .map(|(name, _)| name.clone())
                .collect(),
            image_digest: output.image_digest().map(str::to_owned),
            build_id: output.info.build_id,
            project_id: output.info.project_id,
            saved_tags: output.saved_tags,
            metadata: output.metadata,
        })
    }
}
