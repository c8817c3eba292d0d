//! Reading an image from a registry: its manifest (or index and child manifests) fetched byte
//! for byte, and the blobs they reference.

use oci_client::Reference;
use serde_json::Value;

use super::{ClientError, Endpoint};

/// Media types accepted when fetching manifests, the index types first.
pub(crate) const ACCEPTED: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// A manifest or index as the registry served it.
pub(crate) struct Manifest {
    /// Its digest.
    pub digest: String,
    /// Its media type (from the document, else guessed from its shape).
    pub media_type: String,
    /// Its bytes.
    pub bytes: bytes::Bytes,
    /// The parsed document.
    pub value: Value,
}

impl Manifest {
    /// The entries of an index (empty for an image manifest).
    pub fn entries(&self) -> &[Value] {
        self.value["manifests"]
            .as_array()
            .map_or(&[], Vec::as_slice)
    }

    /// Whether this is an index.
    pub fn is_index(&self) -> bool {
        self.value["manifests"].is_array()
    }

    /// The config and layers of an image manifest (none for an index).
    pub fn blobs(&self, reference: &Reference) -> Result<Vec<Blob>, ClientError> {
        let config = self.value["config"]
            .is_object()
            .then_some(&self.value["config"]);
        let layers = self.value["layers"].as_array().into_iter().flatten();
        config
            .into_iter()
            .chain(layers)
            .map(|d| descriptor(d, reference))
            .collect()
    }
}

/// A blob a manifest references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Blob {
    /// Its digest.
    pub digest: String,
    /// Its size.
    pub size: u64,
}

/// The digest and size of a descriptor.
pub(crate) fn descriptor(value: &Value, reference: &Reference) -> Result<Blob, ClientError> {
    match (value["digest"].as_str(), value["size"].as_u64()) {
        (Some(digest), Some(size)) => Ok(Blob {
            digest: digest.to_owned(),
            size,
        }),
        _ => Err(ClientError::Manifest {
            reference: reference.whole(),
            message: "a descriptor lacks its digest or size".into(),
        }),
    }
}

/// The distinct blobs of `manifests`, in order of first appearance.
pub(crate) fn distinct_blobs<'a>(
    manifests: impl IntoIterator<Item = &'a Manifest>,
    reference: &Reference,
) -> Result<Vec<Blob>, ClientError> {
    let mut blobs: Vec<Blob> = Vec::new();
    for manifest in manifests {
        for blob in manifest.blobs(reference)? {
            if !blobs.iter().any(|b| b.digest == blob.digest) {
                blobs.push(blob);
            }
        }
    }
    Ok(blobs)
}

/// Fetches every child manifest of `index` (none for an image manifest).
pub(crate) async fn fetch_children(
    client: &oci_client::Client,
    source: &Endpoint,
    index: &Manifest,
) -> Result<Vec<Manifest>, ClientError> {
    let mut children = Vec::new();
    for entry in index.entries() {
        let child = descriptor(entry, &source.reference)?;
        children.push(
            fetch(
                client,
                source,
                &with_digest(&source.reference, &child.digest),
            )
            .await?,
        );
    }
    Ok(children)
}

/// Fetches one manifest of `source`'s repository.
pub(crate) async fn fetch(
    client: &oci_client::Client,
    source: &Endpoint,
    reference: &Reference,
) -> Result<Manifest, ClientError> {
    let (bytes, digest) = client
        .pull_manifest_raw(reference, &source.auth, &ACCEPTED)
        .await
        .map_err(|e| registry_error("fetching the manifest of", &reference.whole(), e))?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| ClientError::Manifest {
        reference: reference.whole(),
        message: format!("the manifest is not JSON: {e}"),
    })?;
    let media_type = value["mediaType"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| {
            if value.get("manifests").is_some() {
                ACCEPTED[0]
            } else {
                ACCEPTED[2]
            }
            .to_owned()
        });
    Ok(Manifest {
        digest,
        media_type,
        bytes,
        value,
    })
}

/// `reference`'s repository at `digest`.
pub(crate) fn with_digest(reference: &Reference, digest: &str) -> Reference {
    Reference::with_digest(
        reference.registry().to_owned(),
        reference.repository().to_owned(),
        digest.to_owned(),
    )
}

/// A [`ClientError::Registry`].
pub(crate) fn registry_error(
    operation: &'static str,
    reference: &str,
    source: oci_client::errors::OciDistributionError,
) -> ClientError {
    ClientError::Registry {
        operation,
        reference: reference.to_owned(),
        source,
    }
}
