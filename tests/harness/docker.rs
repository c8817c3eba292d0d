//! The Docker Engine: image names and cleanup, its BuildKit, a busybox root filesystem for
//! RUN steps, and the docker CLI with a config of its own.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::binaries::text;
use crate::server::unique_suffix;

/// The local Docker Engine's id for `image` (the manifest digest with the containerd image
/// store), if it has the image.
pub fn docker_image_id(image: &str) -> Option<String> {
    let out = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .output()
        .expect("docker is not installed: run scripts/test.sh");
    out.status
        .success()
        .then(|| text(&out.stdout).trim().to_owned())
}

/// A local image name no other test (or earlier run) uses: `depot-rs-test/<base>:<unique>`.
/// Test binaries that run builds use these instead of removing images, because removing an
/// image makes the Engine collect content, which can take snapshots from under a build
/// running concurrently ("snapshot … does not exist"). scripts/test.sh removes them all at the
/// end.
pub fn unique_image(base: &str) -> String {
    format!("depot-rs-test/{base}:{}", unique_suffix())
}

/// Removes images from the local Docker Engine, ignoring ones it does not have. Only for test
/// binaries that run no builds (see [`unique_image`]).
pub fn docker_rmi(images: &[&str]) {
    let _ = Command::new("docker").arg("rmi").args(images).output();
}

/// The test Docker Engine's BuildKit: `DOCKER_HOST=unix://…` if set, else the default socket.
pub fn docker_buildkit() -> depot_build::buildkit::Endpoint {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => {
            format!("docker://{}", host.trim_start_matches("unix://"))
                .parse()
                .expect("a docker endpoint")
        }
        _ => "docker://".parse().expect("a docker endpoint"),
    }
}

/// A busybox root file system (`/bin/busybox` and links for common tools, `/tmp`): nothing
/// can be pulled here, so test builds start `FROM scratch` and copy this in from a named build
/// context, which gives RUN steps a shell.
///
/// Each one also holds a unique `/etc/depot-rs-test` file, so its layer is cached for its own
/// test only: a build canceled before BuildKit finalized a layer leaves a cache record whose
/// snapshot is gone, and every later build with the same layer would fail ("failed to commit …
/// snapshot … does not exist").
pub fn busybox_rootfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox"))
        .expect("/bin/busybox (Debian's busybox-static) is missing: run scripts/test.sh");
    for tool in [
        "sh", "cat", "echo", "ls", "sleep", "mkdir", "find", "sort", "wc", "test", "uname",
    ] {
        std::os::unix::fs::symlink("busybox", bin.join(tool)).unwrap();
    }
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    std::fs::write(dir.path().join("etc/depot-rs-test"), unique_suffix()).unwrap();
    dir
}

/// Runs the docker CLI with the scratch client config `config` (its logins stay there), writing
/// `stdin` to it if given; `DOCKER_HOST` as in the environment.
pub fn docker_with_config(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new("docker")
        .args(args)
        .env("DOCKER_CONFIG", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker is not installed: run scripts/test.sh, which installs and starts it");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}
