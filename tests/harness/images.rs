//! Images made in memory: layers (gzipped tars), configs and manifests.

use serde_json::Value;
use serde_json::json;

use crate::registry_client::{OCI_MANIFEST, sha256};

/// An OCI image manifest over `config` and `layers` (digest, size), plus `extra` fields.
pub fn image_manifest(
    config: (&str, usize),
    layers: &[(&str, usize)],
    extra: Option<Value>,
) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1},
        "layers": layers.iter().map(|(d, s)| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s
        })).collect::<Vec<_>>(),
    });
    if let Some(Value::Object(extra)) = extra {
        m.as_object_mut().unwrap().extend(extra);
    }
    serde_json::to_vec(&m).unwrap()
}

/// A gzipped tar layer and its uncompressed digest (the image config's `diff_id`).
pub struct Layer {
    /// The compressed layer.
    pub gz: Vec<u8>,
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
}

/// A real image layer holding `files` (path, content), each mode 0644.
pub fn image_layer(files: &[(&str, &[u8])]) -> Layer {
    use std::io::Write as _;
    let mut builder = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, *content)
            .expect("writing a tar entry");
    }
    let tar = builder.into_inner().expect("finishing the tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("compressing");
    Layer {
        gz: gz.finish().expect("compressing"),
        diff_id: sha256(&tar),
    }
}

/// An image config for linux/amd64 over `layers`.
pub fn image_config(layers: &[Layer]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
    }))
    .expect("JSON")
}
