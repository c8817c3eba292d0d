//! The builders builds run on: the builder CA in `<data-dir>/builder-ca`; per-project Docker
//! Engines started on demand (`--builder engines`, the default) or the local Docker Engine's
//! BuildKit shared by every project (`--builder local`), each behind an mTLS listener;
//! `--remote-builder` buildkitd endpoints; and the isolated builder of `--isolated-docker-host`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use depot_build::server::{
    Builder, BuilderCa, BuilderPool, Fleet, FleetConfig, LocalBuilder, LocalBuilderConfig,
    RemoteBuilder, Slots,
};
use depot_control::builders::{BuilderProvider, StatusTap};
use depot_control::http::ConnectionLimits;

use crate::cli::{BuilderArgs, LocalBuilderKind, StoreArgs};

/// The builders and what to tell the operator about them.
pub struct Started {
    /// What hands builders out.
    pub provider: Arc<dyn BuilderProvider>,
    /// The per-project builders, to stop at shutdown.
    pub fleet: Option<Fleet>,
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
    let engines = args.builder == LocalBuilderKind::Engines;
    serde_json::json!({
        "local": local,
        "engines": engines.then(|| serde_json::json!({
            "dockerd": args.dockerd,
            "dir": store_args.data_dir().join("builders"),
            "run_dir": args.builder_run_dir,
            "idle_timeout": humantime::format_duration(args.builder_idle_timeout).to_string(),
            "max_builders": args.max_builders,
        })),
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
/// `--remote-builder`). The solves on builders behind a bridge (local and per-project) are
/// reported to `tap`. An unreachable Docker Engine is only warned about: builds are told
/// what is wrong when they ask for a builder.
pub async fn start(
    store_args: &StoreArgs,
    args: &BuilderArgs,
    limits: &ConnectionLimits,
    tap: &StatusTap,
) -> anyhow::Result<Option<Started>> {
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
                connection_limits: limits.clone(),
                status_tap: tap.clone(),
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
        let owner = match &spec.tenant {
            Some(tenant) => tenant.to_string(),
            None if args.share_remote_builders => {
                tracing::warn!(
                    builder = remote.endpoint(),
                    "this remote builder runs the builds of every project of every \
                     organization (--share-remote-builders): their caches are shared"
                );
                "shared by every project".to_owned()
            }
            None => bail!(
                "--remote-builder {spec}: assign it to a project or organization \
                 (tcp://…?project=<id> or ?org=<id>), so that no other tenant's build can reach \
                 its cache; or pass --share-remote-builders to let every project use it"
            ),
        };
        summary.push(format!(
            "{} (buildkitd, {} at once, {owner})",
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
                connection_limits: limits.clone(),
                status_tap: tap.clone(),
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
    let mut pool = BuilderPool::new(ca.clone(), builders).with_isolated(isolated);
    if args.strict_builder_arch {
        pool = pool.refusing_other_arches();
    }
    let (provider, fleet): (Arc<dyn BuilderProvider>, _) = match args.builder {
        LocalBuilderKind::Engines => {
            let fleet = start_fleet(
                store_args,
                args,
                limits,
                tap,
                ca.clone(),
                pool,
                &mut summary,
            )?;
            (Arc::new(fleet.clone()), Some(fleet))
        }
        _ => (Arc::new(pool), None),
    };
    summary.push(format!("CA {}", ca.cert_path().display()));
    Ok(Some(Started {
        provider,
        fleet,
        local_listen,
        summary,
    }))
}

/// The per-project builders, with `pool` for what they do not build (isolated builds, other
/// architectures).
fn start_fleet(
    store_args: &StoreArgs,
    args: &BuilderArgs,
    limits: &ConnectionLimits,
    tap: &StatusTap,
    ca: Arc<BuilderCa>,
    pool: BuilderPool,
    summary: &mut Vec<String>,
) -> anyhow::Result<Fleet> {
    if !rustix::process::geteuid().is_root() {
        bail!(
            "per-project builders (--builder engines, the default) start a Docker Engine per \
             project, which needs root: run depot-server as root, or choose --builder local \
             (one engine shared by every project) or --builder none with --remote-builder"
        );
    }
    if std::process::Command::new(&args.dockerd)
        .arg("--version")
        .output()
        .is_err()
    {
        tracing::warn!(
            dockerd = %args.dockerd.display(),
            "dockerd was not found: install Docker Engine 26 or newer, or name it with --dockerd"
        );
    }
    let dir = store_args.data_dir().join("builders");
    let config = FleetConfig {
        dir: dir.clone(),
        dockerd: args.dockerd.clone(),
        slots: Slots::new(&args.builder_run_dir, 256),
        listen: args.builder_listen.ip(),
        advertise_host: args.builder_host.clone(),
        server_name: args.builder_server_name.clone(),
        idle_timeout: args.builder_idle_timeout,
        max_engines: usize::from(args.max_builders),
        connection_limits: limits.clone(),
        test_arches: args
            .builder_test_arches
            .iter()
            .map(|&arch| arch.into())
            .collect(),
        refuse_other_arches: args.strict_builder_arch,
        status_tap: tap.clone(),
    };
    let fleet = Fleet::new(ca, config, pool).map_err(anyhow::Error::msg)?;
    summary.push(format!(
        "a Docker Engine per project, started on demand (state in {}; idle stop after {}; at \
         most {} at once; by default {} builds each and {} per project)",
        dir.display(),
        humantime::format_duration(args.builder_idle_timeout),
        args.max_builders,
        args.builder_concurrency,
        args.builders_per_project
    ));
    Ok(fleet)
}
