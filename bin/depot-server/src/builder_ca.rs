//! `depot-server builder-ca`: the builder CA for operators setting up standalone buildkitd
//! builders.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use anyhow::Context as _;
use depot_build::server::BuilderCa;

use crate::builders::ca_dir;
use crate::cli::{BuilderCaArgs, BuilderCaCommand, StoreArgs};

/// Creates the CA if needed, then prints its certificate's path or mints a buildkitd server
/// certificate.
pub fn run(store_args: &StoreArgs, args: &BuilderCaArgs) -> anyhow::Result<()> {
    let ca = BuilderCa::open(&ca_dir(store_args))?;
    let Some(BuilderCaCommand::ServerCert {
        server_name,
        out,
        valid_for,
    }) = &args.command
    else {
        println!("{}", ca.cert_path().display());
        return Ok(());
    };
    let issued = ca.server_certificate(server_name, *valid_for)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let cert = out.join("cert.pem");
    let key = out.join("key.pem");
    write_new(&cert, &issued.pair.cert_pem, 0o644)?;
    write_new(&key, &issued.pair.key_pem, 0o600)?;
    println!(
        "wrote {} and {}\n\nstart buildkitd with:\n  buildkitd --addr tcp://0.0.0.0:1234 \
         --tlscacert {} --tlscert {} --tlskey {}\n\nand add it to depot-server with:\n  \
         --remote-builder 'tcp://<host>:1234?server_name={server_name}'",
        cert.display(),
        key.display(),
        ca.cert_path().display(),
        cert.display(),
        key.display(),
    );
    Ok(())
}

/// Writes `content` to `path` with `mode`, replacing an older file.
fn write_new(path: &Path, content: &str, mode: u32) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(content.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
