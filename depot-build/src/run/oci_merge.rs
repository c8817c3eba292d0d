//! `-o type=oci` of a build on several builders: each builder's OCI image layout tarball
//! (written to a file of its own) merged into one whose `index.json` names a single image index
//! listing every platform's manifests, the layout BuildKit writes for a multi-platform build.
//! Blobs are streamed from tarball to tarball, each once.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The media type of the merged index.
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// One builder's tarball, and its platform when it built exactly one.
pub(super) struct Part {
    /// The tarball.
    pub path: PathBuf,
    /// The platform of its image (`linux/arm64`) if it built one; an index brings its own.
    pub platform: Option<String>,
}

/// Writes `parts` merged into the tarball `out`; returns the merged index's digest.
pub(super) fn merge(parts: &[Part], out: &Path) -> Result<String, String> {
    let mut entries = Vec::new();
    let mut annotations = None;
    for part in parts {
        let index: Value = serde_json::from_slice(&read_entry(&part.path, "index.json")?)
            .map_err(|e| format!("{}: index.json is not JSON: {e}", part.path.display()))?;
        for top in index["manifests"].as_array().into_iter().flatten() {
            annotations = annotations.or_else(|| top.get("annotations").cloned());
            let digest = top["digest"].as_str().unwrap_or_default();
            if top["mediaType"] == OCI_INDEX {
                let blob = read_entry(&part.path, &blob_path(digest)?)?;
                let nested: Value = serde_json::from_slice(&blob).map_err(|e| {
                    format!("{}: index {digest} is not JSON: {e}", part.path.display())
                })?;
                entries.extend(
                    nested["manifests"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .cloned(),
                );
            } else {
                let mut entry = top.clone();
                if let Some(map) = entry.as_object_mut() {
                    map.remove("annotations");
                }
                if let Some(platform) = &part.platform {
                    entry["platform"] = platform_json(platform);
                }
                entries.push(entry);
            }
        }
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": entries,
    }))
    .expect("a JSON value serializes");
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&index)));
    let mut top = json!({ "mediaType": OCI_INDEX, "digest": digest, "size": index.len() });
    if let Some(annotations) = annotations {
        top["annotations"] = annotations;
    }
    let layout_index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [top],
    }))
    .expect("a JSON value serializes");

    let file = File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut tarball = tar::Builder::new(file);
    let write_error = |e: std::io::Error| format!("writing {}: {e}", out.display());
    append_bytes(
        &mut tarball,
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .map_err(write_error)?;
    append_bytes(&mut tarball, "index.json", &layout_index).map_err(write_error)?;
    append_bytes(&mut tarball, &blob_path(&digest)?, &index).map_err(write_error)?;
    let mut written: HashSet<PathBuf> = HashSet::new();
    written.insert(PathBuf::from(blob_path(&digest)?));
    for part in parts {
        let read_error = |e: std::io::Error| format!("reading {}: {e}", part.path.display());
        let mut archive = tar::Archive::new(File::open(&part.path).map_err(read_error)?);
        for entry in archive.entries().map_err(read_error)? {
            let mut entry = entry.map_err(read_error)?;
            let path = entry.path().map_err(read_error)?.into_owned();
            if !path.starts_with("blobs") || !written.insert(path.clone()) {
                continue;
            }
            let header = entry.header().clone();
            tarball
                .append_data(&mut header.clone(), &path, &mut entry)
                .map_err(write_error)?;
        }
    }
    tarball
        .into_inner()
        .and_then(|file| file.sync_all())
        .map_err(write_error)?;
    Ok(digest)
}

/// The tarball path of the blob `digest` (`blobs/sha256/<hex>`).
fn blob_path(digest: &str) -> Result<String, String> {
    match digest.split_once(':') {
        Some(("sha256", hex)) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(format!("blobs/sha256/{hex}"))
        }
        _ => Err(format!("{digest:?} is not a sha256 digest")),
    }
}

/// A platform (`linux/arm/v7`) as an OCI descriptor's `platform`.
fn platform_json(platform: &str) -> Value {
    let mut parts = platform.splitn(3, '/');
    let mut value = json!({
        "os": parts.next().unwrap_or_default(),
        "architecture": parts.next().unwrap_or_default(),
    });
    if let Some(variant) = parts.next() {
        value["variant"] = json!(variant);
    }
    value
}

/// The bytes of the small file `name` in the tarball at `path`.
fn read_entry(path: &Path, name: &str) -> Result<Vec<u8>, String> {
    let read_error = |e: std::io::Error| format!("reading {}: {e}", path.display());
    let mut archive = tar::Archive::new(File::open(path).map_err(read_error)?);
    for entry in archive.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        if entry.path().map_err(read_error)?.as_ref() == Path::new(name) {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(read_error)?;
            return Ok(bytes);
        }
    }
    Err(format!("{} has no {name}", path.display()))
}

fn append_bytes(tarball: &mut tar::Builder<File>, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    tarball.append_data(&mut header, name, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(bytes: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
    }

    /// A layout tarball with one manifest (and its config) under an index, like BuildKit's.
    fn part(dir: &Path, arch: &str, shared: &[u8]) -> (PathBuf, String) {
        let config = format!(r#"{{"architecture":"{arch}","os":"linux"}}"#).into_bytes();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"digest": digest(&config), "size": config.len()},
            "layers": [{"digest": digest(shared), "size": shared.len()}],
        }))
        .unwrap();
        let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest(&manifest), "size": manifest.len(),
                "platform": {"os": "linux", "architecture": arch}}]}))
        .unwrap();
        let layout = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [
            {"mediaType": OCI_INDEX, "digest": digest(&index), "size": index.len(),
             "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}))
        .unwrap();
        let path = dir.join(format!("{arch}.tar"));
        let mut tarball = tar::Builder::new(File::create(&path).unwrap());
        for blob in [&config, &manifest, &index, &shared.to_vec()] {
            append_bytes(&mut tarball, &blob_path(&digest(blob)).unwrap(), blob).unwrap();
        }
        append_bytes(&mut tarball, "index.json", &layout).unwrap();
        tarball.into_inner().unwrap();
        (path, digest(&manifest))
    }

    #[test]
    fn merges_every_platform_under_one_index_with_each_blob_once() {
        let dir = tempfile::tempdir().unwrap();
        let shared = b"a layer both platforms have".to_vec();
        let (amd, amd_manifest) = part(dir.path(), "amd64", &shared);
        let (arm, arm_manifest) = part(dir.path(), "arm64", &shared);
        let out = dir.path().join("merged.tar");
        let parts = [
            Part {
                path: amd,
                platform: Some("linux/amd64".into()),
            },
            Part {
                path: arm,
                platform: Some("linux/arm64".into()),
            },
        ];
        let merged = merge(&parts, &out).unwrap();

        let layout: Value =
            serde_json::from_slice(&read_entry(&out, "index.json").unwrap()).unwrap();
        assert_eq!(layout["manifests"][0]["digest"], merged.as_str());
        assert_eq!(
            layout["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
            "v1"
        );
        let index_bytes = read_entry(&out, &blob_path(&merged).unwrap()).unwrap();
        assert_eq!(digest(&index_bytes), merged);
        let index: Value = serde_json::from_slice(&index_bytes).unwrap();
        let listed: Vec<(&str, &str)> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["platform"]["architecture"].as_str().unwrap(),
                    m["digest"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                ("amd64", amd_manifest.as_str()),
                ("arm64", arm_manifest.as_str())
            ]
        );
        // Every blob is there once, and the shared layer is not duplicated.
        let mut names: Vec<String> = tar::Archive::new(File::open(&out).unwrap())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        let total = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), total);
        assert!(names.contains(&blob_path(&digest(&shared)).unwrap()));
        assert!(names.contains(&blob_path(&amd_manifest).unwrap()));
        assert!(names.contains(&"oci-layout".to_owned()));
        // Each part's config, manifest, index, the shared layer once, the new index, 2 files.
        assert_eq!(total, 3 + 3 + 1 + 1 + 2);
    }

    #[test]
    fn a_broken_part_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.tar");
        tar::Builder::new(File::create(&empty).unwrap())
            .into_inner()
            .unwrap();
        let parts = [Part {
            path: empty,
            platform: None,
        }];
        let error = merge(&parts, &dir.path().join("out.tar")).unwrap_err();
        assert!(error.contains("has no index.json"), "{error}");
    }
}
