//! Context transfer: sends the same build context to the same BuildKit (the local Docker
//! Engine) with depot-build's client and with `docker buildx build`, first into an empty
//! daemon cache and then again unchanged, and prints the time the daemon spent loading the
//! context and the bytes that travelled, for both clients, with ratios.
//!
//! ```sh
//! apt-get install docker-buildx/trixie   # buildx 0.13 for Docker Engine 26
//! cargo bench -p depot-tests --bench context_transfer
//! ```
//!
//! The context (`DEPOT_BENCH_CONTEXT_MIB`, default 500, spread over `DEPOT_BENCH_CONTEXT_FILES`,
//! default 20 000, files of random data in 100 directories) is generated once. Times are the
//! daemon's own timing of the `[internal] load build context` step, so both clients are
//! measured by the same clock. Each client gets a fresh daemon cache (`docker builder prune
//! -af`) before its first build, and its own shared key, so neither profits from the other.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use depot_build::buildkit::{BuildKit, BuildOptions};
use depot_build::events::BuildEvent;
use depot_tests::docker_buildkit;
use futures_util::StreamExt;

const MB: f64 = 1_000_000.0;

/// One measured transfer.
#[derive(Clone, Copy, Debug)]
struct Transfer {
    seconds: f64,
    bytes: f64,
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes `files` files of random data totalling `mib` MiB.
fn generate(dir: &Path, mib: usize, files: usize) {
    use rand::RngCore as _;
    let size = mib * 1024 * 1024 / files;
    let mut rng = rand::rng();
    let mut buffer = vec![0u8; size];
    for i in 0..files {
        let sub = dir.join(format!("d{:03}", i % 100));
        std::fs::create_dir_all(&sub).unwrap();
        rng.fill_bytes(&mut buffer);
        std::fs::write(sub.join(format!("f{i:05}.bin")), &buffer).unwrap();
    }
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\nCOPY . /ctx\n").unwrap();
}

fn prune() {
    let status = Command::new("docker")
        .args(["builder", "prune", "-af"])
        .output()
        .expect("docker");
    assert!(status.status.success(), "docker builder prune failed");
}

async fn ours(buildkit: &BuildKit, context: &Path, client: &str) -> Transfer {
    let mut build = buildkit.build(BuildOptions {
        context: context.to_owned(),
        client_id: Some(client.to_owned()),
        ..BuildOptions::default()
    });
    let mut seconds = 0.0;
    while let Some(event) = build.next().await {
        if let BuildEvent::VertexCompleted { name, duration, .. } = &event
            && name == "[internal] load build context"
        {
            seconds = duration.as_secs_f64();
        }
    }
    let result = build.result().await.expect("build");
    Transfer {
        seconds,
        bytes: result.transfers["context"].bytes as f64,
    }
}

fn buildx(context: &Path) -> Transfer {
    let output = Command::new("docker")
        .args([
            "buildx",
            "build",
            "--progress=plain",
            "--output=type=cacheonly",
        ])
        .arg(context)
        .output()
        .expect("docker buildx (apt-get install docker-buildx/trixie)");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "docker buildx build failed:\n{log}"
    );
    // `#N [internal] load build context` … `#N transferring context: 524.29MB 5.2s done` …
    // `#N DONE 5.3s`
    let step = log
        .lines()
        .find_map(|l| l.strip_suffix(" [internal] load build context"))
        .expect("the context step in buildx's output")
        .to_owned();
    let mut transfer = Transfer {
        seconds: 0.0,
        bytes: 0.0,
    };
    for line in log
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{step} ")))
    {
        if let Some(rest) = line.strip_prefix("transferring context: ") {
            transfer.bytes = parse_size(rest.split_whitespace().next().unwrap_or("0B"));
        } else if let Some(rest) = line.strip_prefix("DONE ") {
            transfer.seconds = rest.trim_end_matches('s').parse().unwrap_or(0.0);
        }
    }
    transfer
}

/// Go's decimal sizes: `171B`, `2.10kB`, `524.29MB`, `1.2GB`.
fn parse_size(text: &str) -> f64 {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().unwrap_or(0.0);
    number
        * match unit {
            "kB" => 1e3,
            "MB" => 1e6,
            "GB" => 1e9,
            _ => 1.0,
        }
}

fn row(label: &str, ours: Transfer, buildx: Transfer) {
    let ratio = if ours.seconds > 0.0 {
        buildx.seconds / ours.seconds
    } else {
        f64::NAN
    };
    println!(
        "{label:<16} {:>9.2}s {:>10.1}MB   {:>9.2}s {:>10.1}MB   {ratio:>6.2}x",
        ours.seconds,
        ours.bytes / MB,
        buildx.seconds,
        buildx.bytes / MB,
    );
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let mib = setting("DEPOT_BENCH_CONTEXT_MIB", 500);
    let files = setting("DEPOT_BENCH_CONTEXT_FILES", 20_000);
    let context = tempfile::tempdir().unwrap();
    print!("generating a {mib} MiB context of {files} files… ");
    std::io::stdout().flush().unwrap();
    generate(context.path(), mib, files);
    println!("done");

    let buildkit = BuildKit::connect(docker_buildkit())
        .await
        .expect("the local dockerd");
    let client = format!("bench-{}", std::process::id());
    prune();
    let ours_first = ours(&buildkit, context.path(), &client).await;
    let ours_second = ours(&buildkit, context.path(), &client).await;
    prune();
    let buildx_first = buildx(context.path());
    let buildx_second = buildx(context.path());
    tokio::time::sleep(Duration::from_millis(10)).await;

    println!();
    println!(
        "{:<16} {:>22}   {:>22}   {:>7}",
        "", "depot-build", "docker buildx", "speedup"
    );
    row("first transfer", ours_first, buildx_first);
    row("second transfer", ours_second, buildx_second);
}
