//! `depot build`: a Dockerfile build on a builder from the API, with `docker buildx build`'s
//! flags and Depot's (`--save`, `--save-tag`, `--project`, `--build-platform`).

mod legacy;
mod options;
mod run;

use std::path::PathBuf;

use clap::Args;
use depot_build::progress::ProgressMode;

use crate::context::{ProjectArg, TokenArg};

pub use run::run;
pub(crate) use run::{Signals, follow, show_links, write_metadata};

/// `depot build` arguments.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
      depot build --save .                        save the image in the project's registry\n  \
      depot build --push -t reg.example/app:1 .   push it\n  \
      depot build --load -t app:dev .             load it into the local Docker Engine\n  \
      depot build -o type=oci,dest=app.tar .      write an OCI image tarball")]
pub struct BuildArgs {
    /// The build context directory.
    #[arg(value_name = "PATH")]
    context: PathBuf,
    /// The Dockerfile (default: PATH/Dockerfile).
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    file: Option<PathBuf>,
    /// Name the image, `name:tag` (repeatable).
    #[arg(short = 't', long = "tag", value_name = "NAME")]
    tags: Vec<String>,
    /// The build stage to build.
    #[arg(long)]
    target: Option<String>,
    /// A build argument, `NAME=VALUE` (or `NAME` to take it from the environment).
    #[arg(long = "build-arg", value_name = "NAME=VALUE")]
    build_args: Vec<String>,
    /// An image label, `KEY=VALUE`.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Target platforms, e.g. linux/amd64 (comma-separated or repeated).
    #[arg(
        long = "platform",
        value_delimiter = ',',
        env = "DOCKER_DEFAULT_PLATFORM"
    )]
    platforms: Vec<String>,
    /// Build every step again, ignoring the cache.
    #[arg(long)]
    no_cache: bool,
    /// Build these stages again, ignoring the cache.
    #[arg(long = "no-cache-filter", value_name = "STAGE", value_delimiter = ',')]
    no_cache_filter: Vec<String>,
    /// An extra named build context, `NAME=PATH` or `NAME=docker-image://…`.
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    build_contexts: Vec<String>,
    /// An extra /etc/hosts entry for RUN steps, `HOST:IP`.
    #[arg(long = "add-host", value_name = "HOST:IP")]
    add_hosts: Vec<String>,
    /// The RUN steps' network: default, host or none.
    #[arg(long)]
    network: Option<String>,
    /// Import a build cache, e.g. `type=registry,ref=reg/app:cache`.
    #[arg(long = "cache-from", value_name = "SPEC")]
    cache_from: Vec<String>,
    /// Export the build cache, e.g. `type=registry,ref=reg/app:cache,mode=max`.
    #[arg(long = "cache-to", value_name = "SPEC")]
    cache_to: Vec<String>,
    /// A secret for RUN --mount=type=secret, `id=npm,src=$HOME/.npmrc` or `id=TOKEN,env=TOKEN`.
    #[arg(long = "secret", value_name = "SPEC")]
    secrets: Vec<String>,
    /// An SSH agent or keys for RUN --mount=type=ssh, `default` or `id=path`.
    #[arg(long = "ssh", value_name = "SPEC")]
    ssh: Vec<String>,
    /// Allow an entitlement: network.host or security.insecure.
    #[arg(long = "allow", value_name = "ENTITLEMENT")]
    allow: Vec<String>,
    /// Where the result goes: `type=local,dest=DIR`, `type=tar|oci|docker,dest=FILE` (`-` for
    /// stdout), `type=image|registry[,name=…]`, or a directory.
    #[arg(short = 'o', long = "output", value_name = "SPEC")]
    outputs: Vec<String>,
    /// Push the image to the registries of its -t names.
    #[arg(long)]
    push: bool,
    /// Load the image into the local Docker Engine (named with the -t names).
    #[arg(long)]
    load: bool,
    /// Provenance attestation: true, false, or `mode=max`.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "VALUE")]
    provenance: Option<String>,
    /// SBOM attestation: true, false, or `generator=…`.
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
    /// Write the build's result metadata (image digest, descriptor, build ID) to this JSON file.
    #[arg(long = "metadata-file", value_name = "FILE")]
    metadata_file: Option<PathBuf>,
    /// Show no progress; print the image digest (or the build ID) when done.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Save the image in the project's registry, to pull or push it later by build ID.
    #[arg(long)]
    save: bool,
    /// Another tag for the saved image in the project's registry (repeatable; implies --save).
    #[arg(long = "save-tag", value_name = "TAG")]
    save_tags: Vec<String>,
    /// The builder's platform: dynamic (from --platform, else this machine), linux/amd64 or
    /// linux/arm64.
    #[arg(
        long = "build-platform",
        env = "DEPOT_BUILD_PLATFORM",
        default_value = "dynamic",
        value_name = "PLATFORM"
    )]
    build_platform: String,
    /// Lint the Dockerfile (recorded with the build).
    #[arg(long)]
    lint: bool,
    #[command(flatten)]
    legacy: legacy::LegacyArgs,
    #[command(flatten)]
    project: ProjectArg,
    #[command(flatten)]
    token: TokenArg,
}
