//! `depot bake` against `docker buildx bake` on the same Docker Engine: a fully cached bake of
//! three targets (each `FROM scratch`, a busybox root file system copied in, a `RUN` step),
//! outputs `type=cacheonly`. depot-rs goes through depot-server with `--builder local` (the
//! host's Engine behind the mTLS bridge: CreateBuild as a bake, builder acquisition, three
//! solves at once, FinishBuild); buildx 0.13 (Debian trixie) talks to the Engine's socket with
//! its `docker` driver. Wall-clock time of whole CLI runs, median of `DEPOT_BENCH_RUNS`
//! (default 5) each after a warm-up run, taken in turns. Target: ≤ 0.6×.
//!
//! ```sh
//! apt-get install docker-buildx/trixie
//! cargo build --release -p depot -p depot-server
//! cargo bench -p depot-tests --bench bake
//! ```

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use depot_tests::{Cli, Server, busybox_rootfs};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn timed(mut command: Command) -> Duration {
    command.stdout(Stdio::null());
    let started = Instant::now();
    let out = command.output().expect("running a bake");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

#[tokio::main]
async fn main() {
    let runs = std::env::var("DEPOT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let server = Server::start_with(vec!["--builder".into(), "local".into()]).await;
    let boot = server.bootstrap("bench");
    let cli = Cli::ours(&server).env("DEPOT_TOKEN", &boot.token);
    let rootfs = busybox_rootfs();
    let dir = tempfile::tempdir().unwrap();
    let mut file =
        String::from("group \"default\" {\n  targets = [\"one\", \"two\", \"three\"]\n}\n");
    for name in ["one", "two", "three"] {
        file.push_str(&format!(
            "target \"{name}\" {{\n  dockerfile-inline = \"FROM scratch\\nCOPY --from=rootfs / /\\nRUN echo {name} > /{name}.txt\"\n  contexts = {{ rootfs = \"{}\" }}\n  output = [\"type=cacheonly\"]\n}}\n",
            rootfs.path().display()
        ));
    }
    std::fs::write(dir.path().join("docker-bake.hcl"), file).unwrap();
    let depot = || {
        cli.command(
            &["bake", "--project", &boot.project_id, "--progress", "quiet"],
            Some(dir.path()),
        )
    };
    let buildx = || {
        let mut command = Command::new("docker");
        command
            .args(["buildx", "bake", "--progress", "quiet"])
            .current_dir(dir.path());
        command
    };
    timed(depot());
    timed(buildx());
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        ours.push(timed(depot()));
        theirs.push(timed(buildx()));
    }
    let (ours, theirs) = (median(ours), median(theirs));
    println!("fully cached bake of three targets ({runs} runs, median)");
    println!(
        "  depot bake (depot-server, --builder local): {:8.1} ms",
        ours.as_secs_f64() * 1000.0
    );
    println!(
        "  docker buildx bake (Engine socket):         {:8.1} ms",
        theirs.as_secs_f64() * 1000.0
    );
    println!(
        "  ratio depot/buildx: {:.2}x (target <= 0.60x)",
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
}
