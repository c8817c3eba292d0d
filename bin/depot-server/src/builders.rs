//! The builders builds run on: the builder CA in `<data-dir>/builder-ca`, the local Docker
//! Engine's BuildKit behind an mTLS listener (unless `--builder none`), `--remote-builder`
//! buildkitd endpoints, and the isolated builder of `--isolated-docker-host`, pooled.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use depot_build::server::{
    Builder, BuilderCa, BuilderPool, LocalBuilder, LocalBuilderConfig, RemoteBuilder,
};

use crate::cli::{BuilderArgs, LocalBuilderKind, StoreArgs};

/// The pool and what to tell the operator about it.
pub struct Started {
    /// The pool to hand builders out from.
    pub pool: BuilderPool,
    /// The local builder's listen address, if there is one.
    pub local_listen: Option<std::net::SocketAddr>,
    /// One line per builder, for the startup banner.
    pub summary: Vec<String>,
}

/// The builder CA's directory.
pub fn ca_dir(store_args: &StoreArgs) -> PathBuf {
    store_args.data_dir().join("builder-ca")
}

/// The Docker Engine socket of `flag` (`--docker-host`, `--isolated-docker-host`); only
/// `unix://` hosts are supported.
pub fn docker_socket(flag: &str, docker_host: &str) -> anyhow::Result<PathBuf> {
    match docker_host.strip_prefix("unix://") {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => bail!(
            "{flag} {docker_host:?}: builders need the Docker Engine's unix socket \
             (unix:///path/to/docker.sock); pass --builder none to run without the local one"
        ),
    }
}

/// The builder settings as `--print-config` shows them.
pub fn config_json(store_args: &StoreArgs, args: &BuilderArgs) -> serde_json::Value {
    let local = args.builder == LocalBuilderKind::Local;
    serde_json::json!({
        "local": local,
        "docker_host": local.then_some(&args.docker_host),
        "listen": local.then(|| args.builder_listen.to_string()),
        "host": args.builder_host,
        "server_name": args.builder_server_name,
        "concurrency": args.builder_concurrency,
        "remote": args.remote_builders.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "isolated_docker_host": args.isolated_docker_host,
        "ca_dir": ca_dir(store_args),
    })
}

/// Opens the CA and starts the builders; `None` when there are none (`--builder none` and no
/// `--remote-builder`). An unreachable Docker Engine is only warned about: builds are told
/// what is wrong when they ask for a builder.
pub async fn start(store_args: &StoreArgs, args: &BuilderArgs) -> anyhow::Result<Option<Started>> {
    if args.builder == LocalBuilderKind::None
        && args.remote_builders.is_empty()
        && args.isolated_docker_host.is_none()
    {
        return Ok(None);
    }
    let ca = Arc::new(BuilderCa::open(&ca_dir(store_args))?);
    let concurrency = usize::from(args.builder_concurrency);
    let mut builders: Vec<Arc<dyn Builder>> = Vec::new();
    let mut summary = Vec::new();
    let mut local_listen = None;
    if args.builder == LocalBuilderKind::Local {
        let local = LocalBuilder::start(
            &ca,
            LocalBuilderConfig {
                listen: args.builder_listen,
                advertise_host: args.builder_host.clone(),
                server_name: args.builder_server_name.clone(),
                docker_socket: docker_socket("--docker-host", &args.docker_host)?,
                concurrency,
            },
        )
        .await
        .context("starting the local builder (--builder local)")?;
        if let Err(problem) = local.ready().await {
            tracing::warn!("{problem}");
        }
        local_listen = Some(local.local_addr());
        summary.push(format!(
            "{} (the Docker Engine at {}, {concurrency} at once)",
            local.endpoint(),
            args.docker_host
        ));
        builders.push(Arc::new(local));
    }
    for spec in &args.remote_builders {
        let remote = RemoteBuilder::new(spec, concurrency);
        summary.push(format!(
            "{} (buildkitd, {} at once)",
            remote.endpoint(),
            remote.concurrency()
        ));
        builders.push(Arc::new(remote));
    }
    let mut isolated: Vec<Arc<dyn Builder>> = Vec::new();
    if let Some(docker_host) = &args.isolated_docker_host {
        let builder = LocalBuilder::start(
            &ca,
            LocalBuilderConfig {
                listen: std::net::SocketAddr::new(args.builder_listen.ip(), 0),
                advertise_host: args.builder_host.clone(),
                server_name: args.builder_server_name.clone(),
                docker_socket: docker_socket("--isolated-docker-host", docker_host)?,
                concurrency: 1,
            },
        )
        .await
        .context("starting the isolated builder (--isolated-docker-host)")?;
        if let Err(problem) = builder.ready().await {
            tracing::warn!("isolated builder: {problem}");
        }
        summary.push(format!(
            "{} (isolated: the Docker Engine at {docker_host}, 1 at once, cache emptied after \
             each build)",
            builder.endpoint()
        ));
        isolated.push(Arc::new(builder));
    }
    summary.push(format!("CA {}", ca.cert_path().display()));
    Ok(Some(Started {
        pool: BuilderPool::new(ca, builders).with_isolated(isolated),
        local_listen,
        summary,
    }))
}
