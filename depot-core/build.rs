//! Compiles depot-core's `.proto` files with protox (pure Rust, no `protoc`, no network) and
//! prost, and generates a typed Connect client plus procedure-path constants for every service.

use std::fmt::Write as _;
use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "depot/cli/v1/build.proto",
    "depot/cli/v1/push.proto",
    "depot/cli/v1beta1/login.proto",
    "depot/cli/v1beta1/projects.proto",
    "depot/core/v1/org.proto",
    "depot/core/v1/project.proto",
    "depot/build/v1/build.proto",
    "depot/build/v1/registry.proto",
    "depot/buildkit/v1/buildkit.proto",
    "depot/core/v1/build.proto",
    "depot/core/v1/usage.proto",
    "moby/buildkit/v1/status.proto",
    "depotrs/v1/registry.proto",
    "depotrs/v1/oidc.proto",
    "depotrs/v1/builders.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let descriptors = protox::compile(PROTOS, [&root])?;
    // Kept for the server's JSON and gRPC transcoding (`proto::FILE_DESCRIPTOR_SET`).
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("file_descriptor_set.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    prost_build::Config::new()
        .service_generator(Box::new(ConnectClientGenerator))
        .compile_fds(descriptors)?;
    Ok(())
}

/// Emits, per service, a `<Service>Client` over `crate::connect::Client` and a module of
/// procedure paths (`<service>::<METHOD>`) that the server side dispatches on.
struct ConnectClientGenerator;

impl prost_build::ServiceGenerator for ConnectClientGenerator {
    fn generate(&mut self, service: prost_build::Service, buf: &mut String) {
        let full = format!("{}.{}", service.package, service.proto_name);
        let client = format!("{}Client", service.name);
        let paths_mod = to_snake(&service.name);

        writeln!(buf, "/// Procedure paths of `{full}`.").unwrap();
        writeln!(buf, "pub mod {paths_mod} {{").unwrap();
        for m in &service.methods {
            writeln!(buf, "    /// `{full}/{}`.", m.proto_name).unwrap();
            writeln!(
                buf,
                "    pub const {}: &str = \"/{full}/{}\";",
                to_snake(&m.proto_name).to_uppercase(),
                m.proto_name
            )
            .unwrap();
        }
        writeln!(buf, "}}").unwrap();

        writeln!(buf, "/// Typed Connect client for `{full}`.").unwrap();
        writeln!(buf, "#[derive(Clone, Debug)]").unwrap();
        writeln!(
            buf,
            "pub struct {client} {{ inner: crate::connect::Client }}"
        )
        .unwrap();
        writeln!(buf, "impl {client} {{").unwrap();
        writeln!(
            buf,
            "    /// Wraps a Connect client bound to an API base URL."
        )
        .unwrap();
        writeln!(
            buf,
            "    pub fn new(inner: crate::connect::Client) -> Self {{ Self {{ inner }} }}"
        )
        .unwrap();
        for m in &service.methods {
            let path = format!("{paths_mod}::{}", to_snake(&m.proto_name).to_uppercase());
            let (input, output) = (&m.input_type, &m.output_type);
            writeln!(buf, "    /// Calls `{full}/{}`.", m.proto_name).unwrap();
            match (m.client_streaming, m.server_streaming) {
                (false, false) => writeln!(
                    buf,
                    "    pub async fn {name}(&self, request: {input}) -> Result<{output}, crate::connect::ConnectError> {{ self.inner.unary({path}, &request).await }}",
                    name = m.name
                ),
                (true, false) => writeln!(
                    buf,
                    "    pub async fn {name}<S>(&self, requests: S) -> Result<{output}, crate::connect::ConnectError> where S: futures_util::Stream<Item = {input}> + Send + 'static {{ self.inner.client_stream({path}, requests).await }}",
                    name = m.name
                ),
                (false, true) => writeln!(
                    buf,
                    "    pub async fn {name}(&self, request: {input}) -> Result<crate::connect::ResponseStream<{output}>, crate::connect::ConnectError> {{ self.inner.server_stream({path}, &request).await }}",
                    name = m.name
                ),
                (true, true) => panic!("bidirectional streaming is not used by Depot's API"),
            }
            .unwrap();
        }
        writeln!(buf, "}}").unwrap();
    }
}

fn to_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
