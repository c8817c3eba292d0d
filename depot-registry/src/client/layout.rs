//! An OCI Image Layout directory (image-spec `image-layout.md`): the `oci-layout` marker,
//! content-addressed blobs at `blobs/<algorithm>/<hex>`, and `index.json` naming manifests.
//!
//! Every file appears whole or not at all: content is written to a temporary file in the layout
//! (removed again if anything fails), checked, and renamed into place.

use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

use super::ClientError;
use crate::reference::{Digest, Hasher};

/// The annotation naming an `index.json` entry.
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";

const LAYOUT_VERSION: &str = "1.0.0";
const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const TEMP_PREFIX: &str = ".depot-partial-";

/// An image layout directory.
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Opens the layout at `root`, creating the directory and its `oci-layout` file if needed.
    pub async fn create(root: &Path) -> Result<Layout, ClientError> {
        let layout = Layout {
            root: root.to_owned(),
        };
        let marker = root.join("oci-layout");
        match tokio::fs::read(&marker).await {
            Ok(bytes) => {
                let version = serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .and_then(|v| v["imageLayoutVersion"].as_str().map(str::to_owned));
                if version.as_deref() != Some(LAYOUT_VERSION) {
                    return Err(ClientError::Layout {
                        path: marker,
                        message: format!("not an image layout of version {LAYOUT_VERSION}"),
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tokio::fs::create_dir_all(root)
                    .await
                    .map_err(|e| io_error(root, e))?;
                let content = json!({ "imageLayoutVersion": LAYOUT_VERSION }).to_string();
                layout.replace(&marker, content.as_bytes()).await?;
            }
            Err(e) => return Err(io_error(&marker, e)),
        }
        Ok(layout)
    }

    /// Where the blob `digest` lives.
    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// Whether the layout holds the blob `digest` with `size` bytes (its content is not
    /// re-hashed: blobs only ever appear verified).
    pub async fn has_blob(&self, digest: &Digest, size: u64) -> Result<bool, ClientError> {
        let path = self.blob_path(digest);
        match tokio::fs::metadata(&path).await {
            Ok(meta) => Ok(meta.is_file() && meta.len() == size),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error(&path, e)),
        }
    }

    /// Starts writing the blob `digest` of `size` bytes.
    pub async fn blob_writer(&self, digest: Digest, size: u64) -> Result<BlobWriter, ClientError> {
        let (file, temp) = self.temp_file()?;
        let destination = self.blob_path(&digest);
        let parent = destination.parent().unwrap_or(&self.root);
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| io_error(parent, e))?;
        Ok(BlobWriter {
            file: tokio::fs::File::from_std(file),
            temp,
            hasher: Hasher::new(digest.algorithm()),
            expected: digest,
            size,
            written: 0,
            destination,
        })
    }

    /// Writes a blob held in memory (a manifest), unless it is present already.
    pub async fn put_blob(&self, digest: Digest, bytes: &[u8]) -> Result<(), ClientError> {
        let size = bytes.len() as u64;
        if self.has_blob(&digest, size).await? {
            return Ok(());
        }
        let mut writer = self.blob_writer(digest, size).await?;
        writer.write(bytes).await?;
        writer.commit().await
    }

    /// Names the manifest `descriptor` in `index.json` once per `ref_names` (or once, unnamed,
    /// if there are none), replacing entries of the same names (or the same unnamed digest) and
    /// keeping every other entry.
    pub async fn name(&self, descriptor: &Value, ref_names: &[String]) -> Result<(), ClientError> {
        let path = self.root.join("index.json");
        let mut index = match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice::<Value>(&bytes)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| ClientError::Layout {
                    path: path.clone(),
                    message: "not a JSON object".into(),
                })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                json!({ "schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE })
            }
            Err(e) => return Err(io_error(&path, e)),
        };
        let mut entries = match index["manifests"].take() {
            Value::Array(entries) => entries,
            Value::Null => Vec::new(),
            _ => {
                return Err(ClientError::Layout {
                    path,
                    message: "`manifests` is not an array".into(),
                });
            }
        };
        entries.retain(|entry| match entry["annotations"][REF_NAME].as_str() {
            Some(name) => !ref_names.iter().any(|n| n == name),
            None => !ref_names.is_empty() || entry["digest"] != descriptor["digest"],
        });
        if ref_names.is_empty() {
            entries.push(descriptor.clone());
        }
        for name in ref_names {
            let mut entry = descriptor.clone();
            entry["annotations"][REF_NAME] = Value::String(name.clone());
            entries.push(entry);
        }
        index["manifests"] = Value::Array(entries);
        let bytes = serde_json::to_vec_pretty(&index).map_err(|e| ClientError::Layout {
            path: path.clone(),
            message: e.to_string(),
        })?;
        self.replace(&path, &bytes).await
    }

    /// Replaces the file at `path` with `bytes`, atomically.
    async fn replace(&self, path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
        let (file, temp) = self.temp_file()?;
        let mut file = tokio::fs::File::from_std(file);
        file.write_all(bytes)
            .await
            .map_err(|e| io_error(&temp, e))?;
        file.sync_all().await.map_err(|e| io_error(&temp, e))?;
        persist(temp, path)
    }

    /// A temporary file in the layout, deleted when its path is dropped unpersisted.
    fn temp_file(&self) -> Result<(std::fs::File, tempfile::TempPath), ClientError> {
        tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&self.root)
            .map(tempfile::NamedTempFile::into_parts)
            .map_err(|e| io_error(&self.root, e))
    }
}

/// A blob being written: hashed as it streams to a temporary file, then checked against its
/// digest and size and renamed into place. Dropping it unfinished removes the temporary file.
pub(crate) struct BlobWriter {
    file: tokio::fs::File,
    temp: tempfile::TempPath,
    hasher: Hasher,
    expected: Digest,
    size: u64,
    written: u64,
    destination: PathBuf,
}

impl BlobWriter {
    /// Appends `chunk`; fails as soon as the blob outgrows its size.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), ClientError> {
        self.written += chunk.len() as u64;
        if self.written > self.size {
            return Err(self.integrity(format!("more than the {} bytes expected", self.size)));
        }
        self.hasher.update(chunk);
        self.file
            .write_all(chunk)
            .await
            .map_err(|e| io_error(&self.temp, e))
    }

    /// Checks size and digest, then puts the blob in place.
    pub async fn commit(self) -> Result<(), ClientError> {
        if self.written != self.size {
            return Err(self.integrity(format!("{} bytes instead of {}", self.written, self.size)));
        }
        let actual = self.hasher.finish();
        if actual != self.expected {
            return Err(ClientError::Integrity {
                digest: self.expected.to_string(),
                message: format!("the content's digest is {actual}"),
            });
        }
        self.file
            .sync_all()
            .await
            .map_err(|e| io_error(&self.temp, e))?;
        persist(self.temp, &self.destination)
    }

    fn integrity(&self, message: String) -> ClientError {
        ClientError::Integrity {
            digest: self.expected.to_string(),
            message,
        }
    }
}

fn persist(temp: tempfile::TempPath, path: &Path) -> Result<(), ClientError> {
    temp.persist(path).map_err(|e| io_error(path, e.error))
}

fn io_error(path: &Path, source: io::Error) -> ClientError {
    ClientError::LayoutIo {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(digest: &str) -> Value {
        json!({ "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 2 })
    }

    fn names(index: &Value) -> Vec<(String, String)> {
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["annotations"][REF_NAME].as_str().unwrap_or("").to_owned(),
                    e["digest"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn blobs_appear_only_when_verified() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).await.unwrap();
        let digest = Digest::sha256_of(b"hello");
        assert!(!layout.has_blob(&digest, 5).await.unwrap());

        // Wrong content: refused, nothing left behind.
        let mut writer = layout.blob_writer(digest.clone(), 5).await.unwrap();
        writer.write(b"hellO").await.unwrap();
        assert!(matches!(
            writer.commit().await,
            Err(ClientError::Integrity { .. })
        ));
        // Too long: refused while streaming.
        let mut writer = layout.blob_writer(digest.clone(), 5).await.unwrap();
        writer.write(b"hel").await.unwrap();
        assert!(writer.write(b"lo!").await.is_err());
        drop(writer);
        assert!(!layout.has_blob(&digest, 5).await.unwrap());

        let mut writer = layout.blob_writer(digest.clone(), 5).await.unwrap();
        writer.write(b"hel").await.unwrap();
        writer.write(b"lo").await.unwrap();
        writer.commit().await.unwrap();
        assert!(layout.has_blob(&digest, 5).await.unwrap());
        assert!(
            !layout.has_blob(&digest, 6).await.unwrap(),
            "sizes must match"
        );
        assert_eq!(
            std::fs::read(dir.path().join("blobs/sha256").join(digest.hex())).unwrap(),
            b"hello"
        );
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files, ["blobs", "oci-layout"], "no temporary file remains");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("oci-layout")).unwrap(),
            r#"{"imageLayoutVersion":"1.0.0"}"#
        );
    }

    #[tokio::test]
    async fn index_entries_are_replaced_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).await.unwrap();
        let (a, b, c) = ("sha256:aa", "sha256:bb", "sha256:cc");
        layout
            .name(&entry(a), &["v1".into(), "latest".into()])
            .await
            .unwrap();
        layout.name(&entry(b), &["latest".into()]).await.unwrap();
        layout.name(&entry(c), &[]).await.unwrap();
        layout.name(&entry(c), &[]).await.unwrap();
        let index: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        assert_eq!(index["schemaVersion"], 2);
        assert_eq!(
            names(&index),
            [
                ("v1".to_owned(), a.to_owned()),
                ("latest".to_owned(), b.to_owned()),
                (String::new(), c.to_owned()),
            ]
        );
        // A layout of another version is refused rather than overwritten.
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"2.0.0"}"#,
        )
        .unwrap();
        assert!(matches!(
            Layout::create(dir.path()).await,
            Err(ClientError::Layout { .. })
        ));
    }
}
