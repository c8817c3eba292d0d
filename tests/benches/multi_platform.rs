//! A two-platform build against the slower of its single-platform builds: `depot build
//! --platform linux/amd64,linux/arm64 --save` (a builder per architecture, solving at once,
//! merged into one index) and the same build for each platform alone, through depot-server with
//! `--builder-test-arch arm64` (arm64 builders that are this host's engines: the Dockerfile only
//! COPYs, which needs no emulation). Every build is `--no-cache`, so each copies its context
//! and pushes its layers; the builders are started by a warm-up build first. Wall-clock time of
//! whole CLI runs, median of `DEPOT_BENCH_RUNS` (default 5) of each, taken in turns; the
//! context is `DEPOT_BENCH_CONTEXT_MIB` (default 64) of random files per architecture. Target:
//! the two-platform build ≤ 1.2× the slower single-platform one.
//!
//! ```sh
//! cargo build --release -p depot -p depot-server
//! cargo bench -p depot-tests --bench multi_platform
//! ```

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use depot_tests::{Cli, Server};
use rand::RngCore;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn timed(mut command: Command) -> Duration {
    let started = Instant::now();
    let out = command.output().expect("running a build");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// A context whose Dockerfile copies `<arch>/`, with `mib` MiB of random files per arch.
fn context(dir: &Path, mib: usize) {
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}/ /data/\n",
    )
    .unwrap();
    let mut chunk = vec![0u8; 1 << 20];
    for arch in ["amd64", "arm64"] {
        let files = dir.join(arch);
        std::fs::create_dir(&files).unwrap();
        for index in 0..mib {
            rand::rng().fill_bytes(&mut chunk);
            let mut file = std::fs::File::create(files.join(format!("{index}.bin"))).unwrap();
            file.write_all(&chunk).unwrap();
        }
    }
}

#[tokio::main]
async fn main() {
    let runs = env_or("DEPOT_BENCH_RUNS", 5);
    let mib = env_or("DEPOT_BENCH_CONTEXT_MIB", 64);
    let server = Server::start_with(vec!["--builder-test-arch".into(), "arm64".into()]).await;
    let boot = server.bootstrap("bench");
    let cli = Cli::ours(&server).env("DEPOT_TOKEN", &boot.token);
    let dir = tempfile::tempdir().unwrap();
    context(dir.path(), mib);
    let build = |platforms: &str| {
        let mut command = cli.command(
            &[
                "build",
                "--project",
                &boot.project_id,
                "--progress",
                "quiet",
                "--no-cache",
                "--save",
                "--platform",
                platforms,
                dir.path().to_str().unwrap(),
            ],
            None,
        );
        command.stdout(std::process::Stdio::null());
        command
    };
    let kinds = ["linux/amd64", "linux/arm64", "linux/amd64,linux/arm64"];
    // Warm-up: starts both builders.
    timed(build(kinds[2]));
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); kinds.len()];
    for _ in 0..runs {
        for (kind, samples) in kinds.iter().zip(&mut samples) {
            samples.push(timed(build(kind)));
        }
    }
    let medians: Vec<Duration> = samples.into_iter().map(median).collect();
    println!("depot build --no-cache --save of {mib} MiB per platform ({runs} runs, median)");
    for (kind, took) in kinds.iter().zip(&medians) {
        println!(
            "  --platform {kind:<24} {:8.0} ms",
            took.as_secs_f64() * 1000.0
        );
    }
    let slower = medians[0].max(medians[1]);
    println!(
        "  ratio two platforms / slower single platform: {:.2}x (target <= 1.20x)",
        medians[2].as_secs_f64() / slower.as_secs_f64()
    );
}
