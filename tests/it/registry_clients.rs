//! Standard registry clients against depot-server: skopeo (copy, inspect, delete) with
//! depot-rs tokens.

use std::path::Path;
use std::process::Command;

use depot_tests::docker_with_config as docker;
use depot_tests::{
    Layer, RegistryClient as Registry, Server, image_config, image_layer, skopeo, skopeo_ok, text,
};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Writes an OCI image layout with one real gzipped-tar layer per entry of `files`, tagged
/// `tag`; returns the manifest digest.
fn write_oci_layout(dir: &Path, tag: &str, files: &[(&str, Vec<u8>)]) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        let hex = sha256_hex(data);
        std::fs::write(blobs.join(&hex), data).unwrap();
        (format!("sha256:{hex}"), data.len())
    };
    let built: Vec<Layer> = files
        .iter()
        .map(|(name, content)| image_layer(&[(name, content)]))
        .collect();
    let layers: Vec<Value> = built
        .iter()
        .map(|l| {
            let (digest, size) = put(&l.gz);
            json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size})
        })
        .collect();
    let config = image_config(&built);
    let (config_digest, config_size) = put(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": layers,
    }))
    .unwrap();
    let (digest, size) = put(&manifest);
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }]});
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    digest
}

#[tokio::test]
async fn skopeo_copies_inspects_and_deletes() {
    let server = Server::start().await;
    let boot = server.bootstrap("sko");
    let host = server.host();
    let creds = format!("x-token:{}", boot.token);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let digest = write_oci_layout(
        &layout,
        "v1",
        &[("big.bin", big), ("small.txt", b"hello".to_vec())],
    );
    let image = format!("docker://{host}/{}/app:v1", boot.project_id);

    skopeo_ok(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("oci:{}:v1", layout.display()),
        &image,
    ]);
    let inspected: Value = serde_json::from_str(&skopeo_ok(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        &creds,
        &image,
    ]))
    .unwrap();
    assert_eq!(inspected["Digest"], json!(digest));
    assert_eq!(inspected["Layers"].as_array().unwrap().len(), 2);
    let raw = skopeo_ok(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &creds,
        &image,
    ]);
    assert_eq!(
        format!("sha256:{}", sha256_hex(raw.as_bytes())),
        digest,
        "the manifest bytes are kept exactly"
    );

    // Copy back out and compare every blob.
    let out = work.path().join("out");
    skopeo_ok(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &image,
        &format!("oci:{}:v1", out.display()),
    ]);
    for entry in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let copied = std::fs::read(out.join("blobs/sha256").join(entry.file_name())).unwrap();
        assert_eq!(copied, std::fs::read(entry.path()).unwrap());
    }

    // Registry-to-registry copy inside depot-server (cross-repository mounts).
    let second = format!("docker://{host}/{}/copy:v2", boot.project_id);
    skopeo_ok(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--src-creds",
        &creds,
        "--dest-creds",
        &creds,
        &image,
        &second,
    ]);
    let inspected: Value = serde_json::from_str(&skopeo_ok(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        &creds,
        &second,
    ]))
    .unwrap();
    assert_eq!(inspected["Digest"], json!(digest));

    // A pull token reads but cannot write.
    let pull = server.pull_token(&boot.token, &boot.project_id).await;
    let pull_creds = format!("x-token:{pull}");
    skopeo_ok(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        &pull_creds,
        &second,
    ]);
    let denied = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &pull_creds,
        &format!("oci:{}:v1", layout.display()),
        &format!("docker://{host}/{}/app:v3", boot.project_id),
    ]);
    assert!(!denied.status.success());
    assert!(
        text(&denied.stderr).contains("denied"),
        "{}",
        text(&denied.stderr)
    );
    let wrong = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        "x-token:dpu_wrong",
        &second,
    ]);
    assert!(!wrong.status.success());

    skopeo_ok(&["delete", "--tls-verify=false", "--creds", &creds, &second]);
    let gone = skopeo(&["inspect", "--tls-verify=false", "--creds", &creds, &second]);
    assert!(!gone.status.success());
    assert!(
        text(&gone.stderr).contains("manifest unknown"),
        "{}",
        text(&gone.stderr)
    );
    // The other repository still has the image.
    skopeo_ok(&["inspect", "--tls-verify=false", "--creds", &creds, &image]);
}

fn docker_ok(config: &Path, args: &[&str]) -> String {
    let out = docker(config, args, None);
    assert!(
        out.status.success(),
        "docker {args:?} failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[tokio::test]
async fn docker_logs_in_pushes_and_pulls() {
    let server = Server::start().await;
    let boot = server.bootstrap("dock");
    let host = server.host();
    let config = tempfile::tempdir().unwrap();
    let context = tempfile::tempdir().unwrap();
    let payload: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2246822519) >> 11) as u8)
        .collect();
    std::fs::write(context.path().join("payload.bin"), &payload).unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY payload.bin /payload.bin\n",
    )
    .unwrap();
    let image = format!("{host}/{}/docker-test:v1", boot.project_id);
    docker_ok(
        config.path(),
        &[
            "build",
            "-q",
            "-t",
            &image,
            &context.path().display().to_string(),
        ],
    );

    // Without credentials the registry refuses.
    let refused = docker(config.path(), &["push", &image], None);
    assert!(!refused.status.success());

    let login = docker(
        config.path(),
        &["login", &host, "-u", "x-token", "--password-stdin"],
        Some(&boot.token),
    );
    assert!(login.status.success(), "{}", text(&login.stderr));
    let pushed = docker_ok(config.path(), &["push", &image]);
    let digest = pushed
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("no digest in push output: {pushed}"))
        .to_owned();
    // The registry serves exactly the manifest docker pushed.
    let reg = Registry::new(&server, &boot.token);
    let manifest = reg
        .get_ok(&format!("/v2/{}/docker-test/manifests/v1", boot.project_id))
        .await;
    assert_eq!(format!("sha256:{}", sha256_hex(&manifest)), digest);

    docker_ok(config.path(), &["rmi", &image]);
    docker_ok(config.path(), &["pull", &image]);
    let id = docker_ok(
        config.path(),
        &["image", "inspect", "--format", "{{.Id}}", &image],
    );
    assert_eq!(
        id.trim(),
        digest,
        "with the containerd store the image id is the manifest digest"
    );
    docker_ok(config.path(), &["rmi", &image]);

    // A wrong password is refused at login.
    let other = tempfile::tempdir().unwrap();
    let bad = docker(
        other.path(),
        &["login", &host, "-u", "x-token", "--password-stdin"],
        Some("dpu_wrong"),
    );
    assert!(!bad.status.success());
}

/// The Python with oras-py installed (`DEPOT_TEST_PYTHON`, set by scripts/test.sh).
fn python_with_oras() -> String {
    std::env::var("DEPOT_TEST_PYTHON")
        .expect("DEPOT_TEST_PYTHON is not set: run scripts/test.sh, which installs oras-py")
}

#[tokio::test]
async fn oras_pushes_and_pulls_an_artifact_with_a_subject() {
    let server = Server::start().await;
    let boot = server.bootstrap("oras");
    let host = server.host();
    let repo = format!("{}/app", boot.project_id);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let subject = write_oci_layout(&layout, "v1", &[("app.bin", b"the app".to_vec())]);
    let creds = format!("x-token:{}", boot.token);
    skopeo_ok(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("oci:{}:v1", layout.display()),
        &format!("docker://{host}/{repo}:v1"),
    ]);
    let subject_size = std::fs::metadata(
        layout
            .join("blobs/sha256")
            .join(subject.trim_start_matches("sha256:")),
    )
    .unwrap()
    .len();

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/oras_artifact.py");
    let out = Command::new(python_with_oras())
        .arg(&script)
        .args([
            &host,
            &repo,
            &boot.token,
            &subject,
            &subject_size.to_string(),
            &work.path().display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oras failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let result: Value = serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(result["status"], json!(201));
    assert_eq!(result["subject_header"], json!(subject));
    assert_eq!(result["pulled"], json!(["sbom.json"]));
    assert_eq!(result["content"], json!({"packages": ["depot-rs"]}));

    // The artifact is discoverable through the referrers API.
    let reg = Registry::new(&server, &boot.token);
    let referrers: Value =
        serde_json::from_slice(&reg.get_ok(&format!("/v2/{repo}/referrers/{subject}")).await)
            .unwrap();
    let manifests = referrers["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{referrers}");
    assert_eq!(manifests[0]["digest"], result["digest"]);
    assert_eq!(
        manifests[0]["annotations"]["org.example.kind"],
        json!("sbom")
    );
}
