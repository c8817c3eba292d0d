//! Registry throughput: pushes and pulls the same image to depot-server and to CNCF distribution
//! (Debian's `docker-registry`) in one run, and prints each direction's throughput, the ratio
//! depot-server/distribution, and each server's peak memory.
//!
//! Run it against release binaries:
//!
//! ```sh
//! cargo build --release -p depot-server
//! cargo bench -p depot-tests --bench registry_throughput
//! ```
//!
//! The image is several large random layers and many small ones (sizes from the environment,
//! see [`Settings`]). Every round starts fresh servers, so nothing is deduplicated away, pushes
//! all blobs (`POST`, then one `PUT ?digest=` carrying the whole blob, a bounded number in
//! flight) and the manifest, then pulls the manifest and every blob back, checking each
//! blob's SHA-256. Rounds alternate which registry goes first; the table shows the median.

use std::time::{Duration, Instant};

use bytes::Bytes;
use depot_tests::{
    Distribution, OCI_MANIFEST, RegistryClient, Server, image_manifest, peak_rss, sha256,
};
use futures_util::{StreamExt as _, stream};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const MIB: f64 = 1024.0 * 1024.0;

/// What to measure, from environment variables.
struct Settings {
    /// `DEPOT_BENCH_LARGE_LAYERS` (default 4): how many large layers.
    large_layers: usize,
    /// `DEPOT_BENCH_LARGE_MIB` (default 64): the size of each large layer, in MiB.
    large_mib: usize,
    /// `DEPOT_BENCH_SMALL_LAYERS` (default 200): how many small layers (1 to 8 KiB each).
    small_layers: usize,
    /// `DEPOT_BENCH_ROUNDS` (default 3): rounds per registry.
    rounds: usize,
    /// `DEPOT_BENCH_CONCURRENCY` (default 4): blob requests in flight at once.
    concurrency: usize,
}

impl Settings {
    fn from_env() -> Settings {
        let var = |name: &str, default: usize| match std::env::var(name) {
            Ok(value) => value
                .parse()
                .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
            Err(_) => default,
        };
        Settings {
            large_layers: var("DEPOT_BENCH_LARGE_LAYERS", 4),
            large_mib: var("DEPOT_BENCH_LARGE_MIB", 64),
            small_layers: var("DEPOT_BENCH_SMALL_LAYERS", 200),
            rounds: var("DEPOT_BENCH_ROUNDS", 3).max(1),
            concurrency: var("DEPOT_BENCH_CONCURRENCY", 4).max(1),
        }
    }
}

/// A blob and its digest.
struct Blob {
    digest: String,
    data: Bytes,
}

impl Blob {
    fn new(data: Vec<u8>) -> Blob {
        Blob {
            digest: sha256(&data),
            data: data.into(),
        }
    }
}

/// The image pushed to both registries.
struct Image {
    /// The config first, then the layers.
    blobs: Vec<Blob>,
    manifest: Bytes,
}

impl Image {
    /// Random layers: the large ones spread evenly among the small ones, as real images mix
    /// them.
    fn generate(settings: &Settings) -> Image {
        let mut random = SplitMix64(0x5eed_d390_7b3e_4c11);
        let (large, total) = (
            settings.large_layers,
            settings.large_layers + settings.small_layers,
        );
        let layers: Vec<Blob> = (0..total)
            .map(|i| {
                let len = if (0..large).any(|k| k * total / large == i) {
                    settings.large_mib << 20
                } else {
                    1024 + (random.next() % (7 * 1024)) as usize
                };
                Blob::new(random.bytes(len))
            })
            .collect();
        let config = Blob::new(
            serde_json::to_vec(&serde_json::json!({
                "architecture": "amd64", "os": "linux", "config": {},
                "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| &l.digest).collect::<Vec<_>>()},
            }))
            .expect("JSON"),
        );
        let refs: Vec<(&str, usize)> = layers
            .iter()
            .map(|l| (l.digest.as_str(), l.data.len()))
            .collect();
        let manifest = image_manifest((&config.digest, config.data.len()), &refs, None);
        let mut blobs = vec![config];
        blobs.extend(layers);
        Image {
            blobs,
            manifest: manifest.into(),
        }
    }

    /// Bytes that travel in each direction: every blob and the manifest.
    fn bytes(&self) -> usize {
        self.blobs.iter().map(|b| b.data.len()).sum::<usize>() + self.manifest.len()
    }
}

/// A small, fast generator of incompressible bytes (SplitMix64).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// One repository of one registry, reached over HTTP/1.1.
struct Target {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    repo: String,
    authorization: Option<String>,
}

impl Target {
    fn new(base: String, repo: String, authorization: Option<String>) -> Target {
        Target {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base,
            repo,
            authorization,
        }
    }

    /// Sends a request; `url` is absolute or relative to the registry's base URL.
    async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> http::Response<hyper::body::Incoming> {
        let uri = if url.starts_with("http://") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        };
        let mut request = http::Request::builder().method(method).uri(&uri);
        if let Some(authorization) = &self.authorization {
            request = request.header("authorization", authorization);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body)).expect("a valid request");
        self.client
            .request(request)
            .await
            .unwrap_or_else(|e| panic!("{method} {uri}: {e}"))
    }

    /// Sends a request that must answer `status`; returns the response's headers and body.
    async fn expect(
        &self,
        status: u16,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> (http::HeaderMap, Bytes) {
        let response = self.send(method, url, headers, body).await;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: reading the body: {e}"))
            .to_bytes();
        assert_eq!(
            parts.status.as_u16(),
            status,
            "{method} {url}: {}",
            String::from_utf8_lossy(&body)
        );
        (parts.headers, body)
    }

    /// Uploads one blob: `POST` opens a session, one `PUT ?digest=` carries the whole blob.
    async fn push_blob(&self, blob: &Blob) {
        let (headers, _) = self
            .expect(
                202,
                "POST",
                &format!("/v2/{}/blobs/uploads/", self.repo),
                &[],
                Bytes::new(),
            )
            .await;
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("an upload location");
        let separator = if location.contains('?') { '&' } else { '?' };
        self.expect(
            201,
            "PUT",
            &format!("{location}{separator}digest={}", blob.digest),
            &[("content-type", "application/octet-stream")],
            blob.data.clone(),
        )
        .await;
    }

    /// Pushes every blob, `concurrency` at a time, then the manifest.
    async fn push(&self, image: &Image, concurrency: usize) -> Duration {
        let start = Instant::now();
        stream::iter(&image.blobs)
            .map(|blob| self.push_blob(blob))
            .buffer_unordered(concurrency)
            .collect::<Vec<()>>()
            .await;
        self.expect(
            201,
            "PUT",
            &format!("/v2/{}/manifests/latest", self.repo),
            &[("content-type", OCI_MANIFEST)],
            image.manifest.clone(),
        )
        .await;
        start.elapsed()
    }

    /// Downloads one blob, hashing it as it arrives; it must be `expected`.
    async fn pull_blob(&self, expected: &Blob) {
        let url = format!("/v2/{}/blobs/{}", self.repo, expected.digest);
        let response = self.send("GET", &url, &[], Bytes::new()).await;
        assert_eq!(response.status(), 200, "GET {url}");
        let mut body = response.into_body();
        let mut hasher = Sha256::new();
        let mut len = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.unwrap_or_else(|e| panic!("GET {url}: reading the body: {e}"));
            if let Ok(data) = frame.into_data() {
                hasher.update(&data);
                len += data.len();
            }
        }
        assert_eq!(len, expected.data.len(), "GET {url}: length");
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        assert_eq!(digest, expected.digest, "GET {url}: content");
    }

    /// Pulls the manifest, then every blob it names, `concurrency` at a time.
    async fn pull(&self, image: &Image, concurrency: usize) -> Duration {
        let start = Instant::now();
        let (_, manifest) = self
            .expect(
                200,
                "GET",
                &format!("/v2/{}/manifests/latest", self.repo),
                &[("accept", OCI_MANIFEST)],
                Bytes::new(),
            )
            .await;
        assert_eq!(manifest, image.manifest, "the manifest came back changed");
        let manifest: Value = serde_json::from_slice(&manifest).expect("a JSON manifest");
        let digests = std::iter::once(&manifest["config"])
            .chain(manifest["layers"].as_array().expect("layers"))
            .map(|descriptor| descriptor["digest"].as_str().expect("a digest"));
        stream::iter(digests.zip(&image.blobs))
            .map(|(digest, blob)| {
                assert_eq!(digest, blob.digest);
                self.pull_blob(blob)
            })
            .buffer_unordered(concurrency)
            .collect::<Vec<()>>()
            .await;
        start.elapsed()
    }
}

/// Which registry a run measures.
#[derive(Clone, Copy, PartialEq)]
enum Registry {
    DepotServer,
    Distribution,
}

impl Registry {
    fn name(self) -> &'static str {
        match self {
            Registry::DepotServer => "depot-server",
            Registry::Distribution => "distribution",
        }
    }
}

/// One push and one pull against a fresh server.
struct Run {
    push: Duration,
    pull: Duration,
    /// Peak resident memory of the server process, in bytes.
    peak_rss: u64,
}

async fn measure(registry: Registry, image: &Image, settings: &Settings) -> Run {
    let measure_target = |target: Target, pid: u32| async move {
        let push = target.push(image, settings.concurrency).await;
        let pull = target.pull(image, settings.concurrency).await;
        Run {
            push,
            pull,
            peak_rss: peak_rss(pid),
        }
    };
    let run = match registry {
        Registry::DepotServer => {
            let server = Server::start().await;
            let boot = server.bootstrap("bench");
            let authorization = RegistryClient::new(&server, &boot.token)
                .authorization()
                .to_owned();
            let target = Target::new(
                server.url.clone(),
                format!("{}/bench", boot.project_id),
                Some(authorization),
            );
            measure_target(target, server.pid().expect("a running server")).await
        }
        Registry::Distribution => {
            let registry = Distribution::start();
            let target = Target::new(
                format!("http://{}", registry.host),
                "bench/image".to_owned(),
                None,
            );
            measure_target(target, registry.pid()).await
        }
    };
    // The servers are gone; write back what they left in the page cache, so the next run does
    // not pay for this one's writes.
    let _ = std::process::Command::new("sync").status();
    run
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Median throughputs (MiB/s) and the highest peak memory (MiB) over a registry's runs.
struct Summary {
    push: f64,
    pull: f64,
    peak_rss: f64,
}

impl Summary {
    fn of(runs: &[Run], bytes: usize) -> Summary {
        let rate = |d: &Duration| bytes as f64 / MIB / d.as_secs_f64();
        Summary {
            push: median(runs.iter().map(|r| rate(&r.push)).collect()),
            pull: median(runs.iter().map(|r| rate(&r.pull)).collect()),
            peak_rss: runs.iter().map(|r| r.peak_rss).max().unwrap_or(0) as f64 / MIB,
        }
    }
}

#[tokio::main]
async fn main() {
    let settings = Settings::from_env();
    let image = Image::generate(&settings);
    let bytes = image.bytes();
    println!(
        "registry throughput: {} layers of {} MiB and {} of 1-8 KiB ({:.1} MiB in {} blobs), \
         {} requests in flight, {} rounds",
        settings.large_layers,
        settings.large_mib,
        settings.small_layers,
        bytes as f64 / MIB,
        image.blobs.len(),
        settings.concurrency,
        settings.rounds,
    );
    let mut depot = Vec::new();
    let mut distribution = Vec::new();
    for round in 0..settings.rounds {
        let order = if round % 2 == 0 {
            [Registry::DepotServer, Registry::Distribution]
        } else {
            [Registry::Distribution, Registry::DepotServer]
        };
        for registry in order {
            let run = measure(registry, &image, &settings).await;
            println!(
                "  round {}: {:<12}  push {:>7.1} MiB/s ({:>6.2} s)  pull {:>7.1} MiB/s ({:>6.2} s)  peak RSS {:>6.1} MiB",
                round + 1,
                registry.name(),
                bytes as f64 / MIB / run.push.as_secs_f64(),
                run.push.as_secs_f64(),
                bytes as f64 / MIB / run.pull.as_secs_f64(),
                run.pull.as_secs_f64(),
                run.peak_rss as f64 / MIB,
            );
            match registry {
                Registry::DepotServer => depot.push(run),
                Registry::Distribution => distribution.push(run),
            }
        }
    }
    let ours = Summary::of(&depot, bytes);
    let theirs = Summary::of(&distribution, bytes);
    println!();
    println!(
        "median of {} rounds (peak RSS: the highest)",
        settings.rounds
    );
    println!("registry        push MiB/s   pull MiB/s   peak RSS MiB");
    for (name, s) in [
        (Registry::DepotServer.name(), &ours),
        (Registry::Distribution.name(), &theirs),
    ] {
        println!(
            "{name:<14} {:>11.1} {:>12.1} {:>14.1}",
            s.push, s.pull, s.peak_rss
        );
    }
    println!(
        "{:<14} {:>11.2} {:>12.2}   (depot-server / distribution)",
        "ratio",
        ours.push / theirs.push,
        ours.pull / theirs.pull
    );
}
