//! Depot's official Node SDK (`@depot/sdk-node` 1.4.0, from npm) against depot-server, with the
//! official CLI building the build it registers: tests/clients/sdk_node_flow.mjs, run by Node.

use depot_tests::{Server, busybox_rootfs, official_cli, text};

/// The SDK's package directory (`DEPOT_OFFICIAL_SDK_NODE`, set by scripts/test.sh after
/// `npm install @depot/sdk-node@1.4.0`).
fn official_sdk_node() -> String {
    let dir = std::env::var("DEPOT_OFFICIAL_SDK_NODE").expect(
        "DEPOT_OFFICIAL_SDK_NODE is not set: run scripts/test.sh, which installs @depot/sdk-node",
    );
    assert!(
        std::path::Path::new(&dir).join("package.json").is_file(),
        "DEPOT_OFFICIAL_SDK_NODE={dir} is not a package"
    );
    dir
}

#[tokio::test]
async fn the_official_node_sdk_and_cli_run_the_build_api_flow() {
    let server = Server::start().await;
    let boot = server.bootstrap("sdk-node");
    let rootfs = busybox_rootfs();
    let work = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/sdk_node_flow.mjs");
    let out = tokio::process::Command::new("node")
        .arg(script)
        .env("DEPOT_OFFICIAL_SDK_NODE", official_sdk_node())
        .env("DEPOT_API_URL", &server.url)
        .env("FLOW_TOKEN", &boot.token)
        .env("FLOW_CLI", official_cli())
        .env("FLOW_REGISTRY", server.host())
        .env("FLOW_ROOTFS", rootfs.path())
        .env("FLOW_WORK", work.path())
        .output()
        .await
        .expect("node runs");
    assert!(
        out.status.success(),
        "the official SDK's flow failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // What the flow saw of the build's steps and logs (shown with --nocapture).
    println!("{}", text(&out.stdout));
}
