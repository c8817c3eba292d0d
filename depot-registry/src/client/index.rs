//! Merging images into one index, as `docker buildx imagetools create` does: the manifests of
//! images already in a repository (a multi-platform build's per-platform results, pushed by
//! digest) listed in a new OCI image index, pushed to every tag.

use oci_client::RegistryOperation;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::copy::push_manifest;
use super::manifests::{self, Manifest, registry_error};
use super::{ClientError, Endpoint, oci_client};

/// The media type of the merged index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// An image to list in the index.
#[derive(Clone, Debug)]
pub struct IndexSource {
    /// The image, by digest, in a repository of the index's registry.
    pub image: Endpoint,
    /// The platform of its manifest (`linux/arm64`, `linux/arm/v7`) when it is a single
    /// manifest; an index brings its own entries (platforms and attestations) as they are.
    pub platform: Option<String>,
}

/// The index pushed by [`push_index`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedIndex {
    /// Its digest, the same at every tag.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its media type ([`OCI_INDEX`]).
    pub media_type: String,
}

/// Lists the manifests of `sources` in one index and pushes it to every target tag. Each
/// target's repository must already hold the sources' manifests (a build pushes them there
/// by digest).
pub async fn push_index(
    sources: &[IndexSource],
    targets: &[Endpoint],
) -> Result<PushedIndex, ClientError> {
    if targets.is_empty() {
        return Err(ClientError::NoDestination);
    }
    let mut entries = Vec::new();
    for source in sources {
        let client = oci_client(source.image.reference.resolve_registry());
        let manifest = manifests::fetch(&client, &source.image, &source.image.reference).await?;
        entries.extend(index_entries(&manifest, source)?);
    }
    let bytes = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": entries,
    }))
    .expect("a JSON value serializes");
    let index = Manifest {
        digest: format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
        media_type: OCI_INDEX.to_owned(),
        value: Value::Null,
        bytes: bytes.into(),
    };
    for target in targets {
        let client = oci_client(target.reference.resolve_registry());
        client
            .auth(&target.reference, &target.auth, RegistryOperation::Push)
            .await
            .map_err(|e| registry_error("authenticating to", &target.reference.whole(), e))?;
        push_manifest(&client, &target.reference, &index).await?;
    }
    Ok(PushedIndex {
        size: index.bytes.len() as u64,
        digest: index.digest,
        media_type: index.media_type,
    })
}

/// The index entries `source` contributes: an index's own entries, or the one manifest with
/// its platform.
fn index_entries(manifest: &Manifest, source: &IndexSource) -> Result<Vec<Value>, ClientError> {
    let reference = source.image.reference.whole();
    if manifest.is_index() {
        return Ok(manifest.entries().to_vec());
    }
    let platform = source
        .platform
        .as_deref()
        .ok_or_else(|| ClientError::Manifest {
            reference: reference.clone(),
            message: "an image manifest needs its platform to be listed in an index".into(),
        })?;
    let mut parts = platform.splitn(3, '/');
    let (Some(os), Some(architecture)) = (parts.next(), parts.next()) else {
        return Err(ClientError::Manifest {
            reference,
            message: format!("{platform:?} is not a platform (os/architecture[/variant])"),
        });
    };
    let mut platform = json!({ "architecture": architecture, "os": os });
    if let Some(variant) = parts.next() {
        platform["variant"] = json!(variant);
    }
    Ok(vec![json!({
        "mediaType": manifest.media_type,
        "digest": manifest.digest,
        "size": manifest.bytes.len(),
        "platform": platform,
    })])
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_client::secrets::RegistryAuth;

    fn manifest(value: Value) -> Manifest {
        let bytes = serde_json::to_vec(&value).unwrap();
        Manifest {
            digest: format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
            media_type: value["mediaType"].as_str().unwrap().to_owned(),
            bytes: bytes.into(),
            value,
        }
    }

    fn source(platform: Option<&str>) -> IndexSource {
        IndexSource {
            image: Endpoint::parse("127.0.0.1:5000/p/app:1", RegistryAuth::Anonymous).unwrap(),
            platform: platform.map(str::to_owned),
        }
    }

    #[test]
    fn a_manifest_is_listed_with_its_platform_and_an_index_brings_its_entries() {
        let image = manifest(json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {}, "layers": []
        }));
        let entries = index_entries(&image, &source(Some("linux/arm/v7"))).unwrap();
        assert_eq!(entries[0]["digest"], json!(image.digest));
        assert_eq!(entries[0]["size"], json!(image.bytes.len()));
        assert_eq!(
            entries[0]["platform"],
            json!({"architecture": "arm", "os": "linux", "variant": "v7"})
        );
        assert!(index_entries(&image, &source(None)).is_err());
        assert!(index_entries(&image, &source(Some("linux"))).is_err());

        let entry = json!({"mediaType": "m", "digest": "sha256:1", "size": 1,
            "platform": {"architecture": "unknown", "os": "unknown"}});
        let index = manifest(json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [entry.clone()]}));
        assert_eq!(index_entries(&index, &source(None)).unwrap(), [entry]);
    }
}
