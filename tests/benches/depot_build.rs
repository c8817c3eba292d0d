//! `depot build` end to end against depot-server on the local Docker Engine, with two figures:
//!
//! 1. **Fully cached build**: the same build (examples/image, unchanged) run again with
//!    depot-rs's `depot build` (through depot-server: CreateBuild, builder acquisition, the
//!    mTLS bridge, FinishBuild) and with `docker buildx build` straight to the same Engine.
//!    Wall-clock time of whole CLI runs, median of `DEPOT_BENCH_RUNS` (default 5) after a
//!    warm-up run each; target ratio ≤ 1.1×.
//! 2. **Builder acquisition**: CreateBuild → GetBuildKitConnection (active) → mTLS connection
//!    → ListWorkers answered, with the project's builder running (warm); median of 20; target
//!    ≤ 20 ms. The peer is a direct ListWorkers over the Engine's socket.
//! 3. **Cold start**: the same, with the project's builder stopped (idle timeout 1 s), so its
//!    Docker Engine starts first; median of 5; target < 2 s.
//!
//! ```sh
//! apt-get install docker-buildx/trixie   # buildx 0.13 for Docker Engine 26
//! cargo build --release -p depot -p depot-server
//! cargo bench -p depot-tests --bench depot_build
//! ```

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use depot_build::builder::{Builder, BuilderRequest, Outcome, acquire_builder};
use depot_build::buildkit::BuildKit;
use depot_tests::{Cli, Server, busybox_rootfs, docker_buildkit};

fn runs() -> usize {
    std::env::var("DEPOT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let server = Server::start().await;
    let boot = server.bootstrap("bench");
    let rootfs = busybox_rootfs();
    let context = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/image");
    let rootfs_context = format!("rootfs={}", rootfs.path().display());
    let cli = Cli::ours(&server).env("DEPOT_TOKEN", &boot.token);

    let depot = || {
        let mut command = cli.command(
            &[
                "build",
                "--project",
                &boot.project_id,
                "--build-context",
                &rootfs_context,
                "--progress",
                "quiet",
                "-o",
                "type=cacheonly",
                context.to_str().unwrap(),
            ],
            None,
        );
        command.stdout(std::process::Stdio::null());
        command
    };
    let buildx = || {
        let mut command = Command::new("docker");
        command.args([
            "buildx",
            "build",
            "--build-context",
            &rootfs_context,
            "--progress",
            "quiet",
            "-o",
            "type=cacheonly",
            context.to_str().unwrap(),
        ]);
        command
    };
    timed(depot());
    timed(buildx());
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..runs() {
        ours.push(timed(depot()));
        theirs.push(timed(buildx()));
    }
    let (ours, theirs) = (median(ours), median(theirs));
    println!(
        "fully cached build of examples/image ({} runs, median)",
        runs()
    );
    println!(
        "  depot build (depot-server, mTLS bridge): {:8.1} ms",
        ms(ours)
    );
    println!(
        "  docker buildx build (Engine socket):     {:8.1} ms",
        ms(theirs)
    );
    println!(
        "  ratio depot/buildx: {:.2}x (target <= 1.10x)",
        ours.as_secs_f64() / theirs.as_secs_f64()
    );

    let client = server.client(&boot.token);
    let request = BuilderRequest {
        project_id: Some(boot.project_id.clone()),
        ..BuilderRequest::default()
    };
    // Warm: the first acquisition also opens the Engine connection behind the bridge.
    acquire_builder(&client, &request)
        .await
        .expect("acquire")
        .finish(Outcome::Success)
        .await
        .expect("FinishBuild");
    let mut acquisitions = Vec::new();
    let mut registrations = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let mut builder = Builder::register(&client, &request)
            .await
            .expect("register");
        registrations.push(started.elapsed());
        builder.connect().await.expect("connect");
        acquisitions.push(started.elapsed());
        builder.finish(Outcome::Success).await.expect("FinishBuild");
    }
    let mut direct = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let buildkit = BuildKit::connect(docker_buildkit()).await.expect("engine");
        buildkit.capabilities().await.expect("ListWorkers");
        direct.push(started.elapsed());
    }
    let (acquisition, direct) = (median(acquisitions), median(direct));
    let registration = median(registrations);
    println!("builder acquisition, the project's builder running (20 runs, median)");
    println!(
        "  CreateBuild + GetBuildKitConnection + mTLS + ListWorkers: {:6.1} ms (target <= 20 ms)",
        ms(acquisition)
    );
    println!(
        "    of which CreateBuild:                                  {:6.1} ms",
        ms(registration)
    );
    println!(
        "  direct Engine connection + ListWorkers:                  {:6.1} ms",
        ms(direct)
    );
    println!(
        "  ratio: {:.2}x",
        acquisition.as_secs_f64() / direct.as_secs_f64()
    );

    let cold = cold_starts().await;
    println!("builder cold start, the project's builder stopped (5 runs, median)");
    println!(
        "  CreateBuild + engine start + GetBuildKitConnection + mTLS + ListWorkers: {:7.1} ms \
         (target < 2000 ms)",
        ms(cold)
    );
    println!(
        "  ratio to the direct Engine connection: {:.0}x",
        cold.as_secs_f64() / direct.as_secs_f64()
    );
}

/// Acquisitions of a project builder that has stopped (idle), which starts its engine first.
async fn cold_starts() -> Duration {
    let server = Server::start_with(vec!["--builder-idle-timeout".into(), "1s".into()]).await;
    let boot = server.bootstrap("cold");
    let client = server.client(&boot.token);
    let request = BuilderRequest {
        project_id: Some(boot.project_id.clone()),
        ..BuilderRequest::default()
    };
    let mut samples = Vec::new();
    for _ in 0..5 {
        while server.engines() > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let started = Instant::now();
        let builder = acquire_builder(&client, &request).await.expect("acquire");
        builder
            .buildkit()
            .expect("connected")
            .capabilities()
            .await
            .expect("ListWorkers");
        samples.push(started.elapsed());
        builder.finish(Outcome::Success).await.expect("FinishBuild");
    }
    median(samples)
}
