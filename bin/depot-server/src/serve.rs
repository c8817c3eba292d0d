//! Serving the API.

use std::sync::Arc;

use anyhow::{Context, bail};
use depot_control::builders::StatusTap;
use depot_control::http::{ConnectionLimits, serve, tls_config};
use depot_control::{ControlPlane, ControlPlaneConfig, Store, store};
use depot_oidc::server::{OidcVerifier, TrustedIssuer};
use depot_registry::server::{BlobBackend, GcSettings, Registry, RegistryConfig, StagingLimits};
use futures_util::FutureExt as _;

use crate::builders;
use crate::cli::{ServeArgs, StoreArgs};

/// Opens the store, binds the port and serves until SIGINT or SIGTERM.
pub async fn run(store_args: &StoreArgs, args: &ServeArgs) -> anyhow::Result<()> {
    let database_url = store_args.database_url();
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls_config(cert, key).map_err(anyhow::Error::msg)?),
        (None, None) => None,
        _ => bail!("--tls-cert and --tls-key go together"),
    };
    if args.print_config {
        let config = control_plane_config(args, args.listen, args.registry_listen, tls.is_some());
        let printed = serde_json::json!({
            "listen": args.listen.to_string(),
            "database_url": store::redact(&database_url),
            "data_dir": store_args.data_dir(),
            "registry_storage": blob_location(store_args, &args.registry_storage),
            "registry_staging": store_args.registry_dir().join("uploads"),
            "public_url": config.public_url,
            "registry_host": config.registry_host,
            "registry_listen": args.registry_listen.map(|a| a.to_string()),
            "tls": tls.is_some(),
            "pull_token_ttl": humantime::format_duration(config.pull_token_ttl).to_string(),
            "build_health_timeout": humantime::format_duration(config.build_health_timeout).to_string(),
            "build_log_limit": config.build_log_limit,
            "build_log_retention": humantime::format_duration(config.build_log_retention).to_string(),
            "registry_gc_interval": humantime::format_duration(args.registry_gc_interval).to_string(),
            "registry_gc_grace": humantime::format_duration(args.registry_gc_grace).to_string(),
            "registry_upload_ttl": humantime::format_duration(args.registry_upload_ttl).to_string(),
            "builders": builders::config_json(store_args, &args.builders),
            "oidc": oidc_json(args),
        });
        println!("{}", serde_json::to_string_pretty(&printed)?);
        return Ok(());
    }

    let store = Store::open(&database_url).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let bound = listener.local_addr()?;
    let registry_listener = match args.registry_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (--registry-listen)"))?,
        ),
        None => None,
    };
    let registry_bound = registry_listener
        .as_ref()
        .map(tokio::net::TcpListener::local_addr)
        .transpose()?;
    let config = control_plane_config(args, bound, registry_bound, tls.is_some());
    let scheme = if tls.is_some() { "https" } else { "http" };
    let registry_url = match registry_bound {
        Some(_) => format!("{scheme}://{}", config.registry_host),
        None => config.public_url.clone(),
    };
    let mut plane = ControlPlane::new(store.clone(), config.clone());
    let oidc = args.oidc.verifier_config();
    if let Some(verifier) = &oidc {
        plane = plane.with_oidc(Arc::new(OidcVerifier::new(verifier.clone())));
    }
    let registry = Registry::open(
        plane.authenticator().clone(),
        RegistryConfig {
            storage_dir: store_args.registry_dir(),
            blob_backend: args.registry_storage.clone(),
            public_url: registry_url.clone(),
            service: config.registry_host.clone(),
            max_blob_bytes: args.max_blob_bytes,
            bearer_ttl: args.registry_token_ttl,
            staging: StagingLimits {
                bytes_per_project: args.registry_upload_quota,
                sessions_per_project: args.registry_upload_sessions,
            },
        },
    )
    .await?;
    let limits = ConnectionLimits {
        header_timeout: args.header_timeout,
        max_connections: args.max_connections,
        max_connections_per_client: args.max_connections_per_client,
        body_read_timeout: args.body_read_timeout,
        ..ConnectionLimits::default()
    };
    let status_tap = StatusTap::default();
    let builders = builders::start(store_args, &args.builders, &limits, &status_tap).await?;
    if let Some(addr) = builders.as_ref().and_then(|b| b.local_listen) {
        println!("depot-server builder listening on tcp://{addr} (mTLS)");
    }
    if let Some(addr) = registry_bound {
        println!("depot-server registry listening on {scheme}://{addr}");
    }
    println!("depot-server listening on {scheme}://{bound}");
    println!("  public URL:    {}", config.public_url);
    println!("  database:      {}", store::redact(&database_url));
    println!(
        "  registry:      {} at {registry_url} (blobs: {})",
        config.registry_host,
        blob_location(store_args, &args.registry_storage)
    );
    match &builders {
        Some(started) => {
            for line in &started.summary {
                println!("  builder:       {line}");
            }
        }
        None => println!("  builder:       none (builds get no builder)"),
    }
    match &oidc {
        Some(verifier) => println!(
            "  CI tokens:     {} (audience {})",
            issuer_list(&verifier.issuers),
            verifier.audience
        ),
        None => println!("  CI tokens:     refused (--no-oidc)"),
    }
    if builders.is_some() && tls.is_none() && !is_loopback_host(&config.registry_host) {
        // BuildKit pushes saved builds to the registry; it uses plain HTTP only for loopback
        // hosts and those its configuration marks insecure.
        tracing::warn!(
            registry = %config.registry_host,
            "builders push saved builds to this plain-HTTP registry: list it under \
             \"insecure-registries\" in the builder's /etc/docker/daemon.json (or as \
             [registry.\"{0}\"] http = true in buildkitd.toml), or serve TLS with --tls-cert",
            config.registry_host
        );
    }
    let gc = (!args.registry_gc_interval.is_zero()).then(|| {
        registry.spawn_gc(GcSettings {
            interval: args.registry_gc_interval,
            grace: args.registry_gc_grace,
            upload_ttl: args.registry_upload_ttl,
        })
    });
    let fleet = builders.as_ref().and_then(|started| started.fleet.clone());
    if let Some(started) = builders {
        plane = plane.with_builders(started.provider);
    }
    status_tap.connect(Arc::new(plane.clone()));
    let reaper = plane.spawn_build_reaper();
    let log_expiry = plane.spawn_step_log_expiry();
    let api = plane.router().merge(registry.api_router());
    let shutdown = shutdown_signal().shared();
    match registry_listener {
        Some(registry_listener) => {
            tokio::join!(
                serve(listener, tls.clone(), api, limits.clone(), shutdown.clone()),
                serve(
                    registry_listener,
                    tls,
                    registry.distribution_router(),
                    limits,
                    shutdown
                ),
            );
        }
        None => {
            let app = api.merge(registry.distribution_router());
            serve(listener, tls, app, limits, shutdown).await;
        }
    }
    if let Some(gc) = gc {
        gc.abort();
    }
    reaper.abort();
    log_expiry.abort();
    if let Some(fleet) = fleet {
        tracing::info!("stopping the builders");
        fleet.shutdown().await;
    }
    store.close().await;
    tracing::info!("depot-server stopped");
    Ok(())
}

/// Whether `host[:port]` names this machine's loopback interface.
fn is_loopback_host(host_port: &str) -> bool {
    if let Ok(ip) = host_port.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    let host = match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => host_port,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Where blobs go, for people: the blob directory or the bucket URL.
fn blob_location(store_args: &StoreArgs, backend: &BlobBackend) -> String {
    match backend {
        BlobBackend::Filesystem => store_args
            .registry_dir()
            .join("blobs")
            .display()
            .to_string(),
        other => other.to_string(),
    }
}

/// `provider=url` for each issuer, comma-separated (`*` marks prefixes).
fn issuer_list(issuers: &[TrustedIssuer]) -> String {
    issuers
        .iter()
        .map(|i| {
            format!(
                "{}={}{}",
                i.provider,
                i.issuer,
                if i.prefix { "*" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn oidc_json(args: &ServeArgs) -> serde_json::Value {
    match args.oidc.verifier_config() {
        Some(config) => serde_json::json!({
            "issuers": issuer_list(&config.issuers),
            "audience": config.audience,
            "token_ttl": humantime::format_duration(args.oidc.oidc_token_ttl).to_string(),
        }),
        None => serde_json::Value::Null,
    }
}

fn control_plane_config(
    args: &ServeArgs,
    bound: std::net::SocketAddr,
    registry_bound: Option<std::net::SocketAddr>,
    tls: bool,
) -> ControlPlaneConfig {
    let public_url = args.public_url.clone().unwrap_or_else(|| {
        let mut addr = bound;
        if addr.ip().is_unspecified() {
            tracing::warn!(
                "listening on all interfaces; set --public-url so clients get reachable links"
            );
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("{}://{addr}", if tls { "https" } else { "http" })
    });
    let mut config = ControlPlaneConfig::new(&public_url);
    match (&args.registry_host, registry_bound) {
        (Some(host), _) => config.registry_host = host.clone(),
        (None, Some(mut addr)) => {
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            config.registry_host = addr.to_string();
        }
        (None, None) => {}
    }
    config.pull_token_ttl = args.pull_token_ttl;
    config.build_health_timeout = args.build_health_timeout;
    config.build_log_limit = args.build_log_limit;
    config.build_log_retention = args.build_log_retention;
    config.oidc_token_ttl = args.oidc.oidc_token_ttl;
    config.builds_per_builder = u32::from(args.builders.builder_concurrency);
    config.max_builders_per_project = u32::from(args.builders.builders_per_project);
    config
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_registry_hosts() {
        for host in [
            "127.0.0.1:5000",
            "localhost:8080",
            "[::1]:80",
            "127.1.2.3",
            "::1",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["10.0.0.1:5000", "registry.example.com", "[2001:db8::1]:443"] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
