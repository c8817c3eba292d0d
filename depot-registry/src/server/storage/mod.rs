//! Blob storage: content-addressed blobs shared by every repository, on a pluggable backend,
//! and upload sessions that are hashed while they stream.
//!
//! Uploads are always staged in a local directory ([`uploads`]); a verified upload is then
//! published to the backend: the filesystem ([`fs`], the embedded default) or, with the `s3`
//! feature, an S3-compatible object store ([`object`]). Either way a blob becomes visible
//! only once complete.

mod fs;
#[cfg(feature = "s3")]
mod object;
mod staged;
mod uploads;

use std::path::PathBuf;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::Stream;
use futures_util::stream::BoxStream;

pub use staged::StagingLimits;

use super::error::{ErrorCode, RegistryError, Result};
use crate::reference::{Algorithm, Digest, Hasher, Name};

/// A stream of a blob's bytes.
pub type BlobStream = BoxStream<'static, std::io::Result<Bytes>>;

/// Where the registry keeps blobs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum BlobBackend {
    /// `<storage_dir>/blobs` on the local filesystem (the embedded default).
    #[default]
    Filesystem,
    /// An S3 or S3-compatible bucket, `s3://<bucket>[/<prefix>]`. Credentials, region and
    /// endpoint come from the standard `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, …).
    #[cfg(feature = "s3")]
    S3 {
        /// The bucket URL.
        url: String,
    },
}

impl std::str::FromStr for BlobBackend {
    type Err = String;

    /// `fs` (or `file`) for the filesystem; `s3://bucket[/prefix]` for S3.
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "fs" | "file" | "filesystem" => Ok(Self::Filesystem),
            #[cfg(feature = "s3")]
            url if url.starts_with("s3://") => {
                object::parse_url(url)?;
                Ok(Self::S3 {
                    url: url.to_owned(),
                })
            }
            other => Err(format!(
                "unknown blob store {other:?}: use `fs`{}",
                if cfg!(feature = "s3") {
                    " or `s3://<bucket>[/<prefix>]`"
                } else {
                    " (this build has no S3 support)"
                }
            )),
        }
    }
}

impl std::fmt::Display for BlobBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Filesystem => f.write_str("fs"),
            #[cfg(feature = "s3")]
            Self::S3 { url } => f.write_str(url),
        }
    }
}

#[derive(Clone)]
enum Backend {
    Fs(fs::FsBlobs),
    #[cfg(feature = "s3")]
    Object(object::ObjectBlobs),
}

/// The blob store: a backend for complete blobs and a local staging area for uploads.
#[derive(Clone)]
pub struct BlobStore {
    backend: Backend,
    uploads: uploads::Uploads,
}

impl BlobStore {
    /// Opens the store: uploads are staged in `<dir>/uploads`, each project within `staging`;
    /// blobs go to `<dir>/blobs` or to the object store `backend` names.
    pub async fn open(
        dir: impl Into<PathBuf>,
        backend: &BlobBackend,
        staging: StagingLimits,
    ) -> std::io::Result<Self> {
        let dir = dir.into();
        let uploads = uploads::Uploads::open(dir.join("uploads"), staging).await?;
        let backend = match backend {
            BlobBackend::Filesystem => Backend::Fs(fs::FsBlobs::open(&dir).await?),
            #[cfg(feature = "s3")]
            BlobBackend::S3 { url } => Backend::Object(object::ObjectBlobs::from_url(url)?),
        };
        Ok(Self { backend, uploads })
    }

    /// The size of a stored blob, if present.
    pub async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>> {
        match &self.backend {
            Backend::Fs(blobs) => blobs.size(digest).await,
            #[cfg(feature = "s3")]
            Backend::Object(blobs) => blobs.size(digest).await,
        }
    }

    /// Streams `len` bytes of a blob from `start`.
    pub async fn read_blob(&self, digest: &Digest, start: u64, len: u64) -> Result<BlobStream> {
        match &self.backend {
            Backend::Fs(blobs) => blobs.read(digest, start, len).await,
            #[cfg(feature = "s3")]
            Backend::Object(blobs) => blobs.read(digest, start, len).await,
        }
    }

    /// Reads a small blob (a manifest) whole, in one request to the backend.
    pub async fn read_small_blob(&self, digest: &Digest) -> Result<Bytes> {
        match &self.backend {
            Backend::Fs(blobs) => blobs.read_whole(digest).await,
            #[cfg(feature = "s3")]
            Backend::Object(blobs) => blobs.read_whole(digest).await,
        }
    }

    /// Stores a small blob (a manifest) given whole; returns its digest under `algorithm`.
    pub async fn write_small_blob(&self, data: &[u8], algorithm: Algorithm) -> Result<Digest> {
        let mut hasher = Hasher::new(algorithm);
        hasher.update(data);
        let digest = hasher.finish();
        if self.blob_size(&digest).await?.is_none() {
            let scratch = self.uploads.scratch_path();
            uploads::write_synced(&scratch, data).await?;
            let published = self.publish(&scratch, &digest).await;
            if published.is_err() {
                uploads::remove_if_present(&scratch).await?;
            }
            published?;
        }
        Ok(digest)
    }

    /// Starts an upload session for `repository`.
    pub async fn create_upload(&self, repository: &Name) -> Result<String> {
        self.uploads.create(repository).await
    }

    /// The repository an upload belongs to and its current size.
    pub async fn upload_state(&self, id: &str) -> Result<(String, u64)> {
        self.uploads.state(id).await
    }

    /// Appends a body to an upload at `offset` (chunked) or at its end (streamed), hashing as it
    /// writes; a body of another length than `expected_len` is refused. Returns the new size.
    pub async fn append<S, E>(
        &self,
        id: &str,
        offset: Option<u64>,
        expected_len: Option<u64>,
        body: S,
    ) -> Result<u64>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.uploads.append(id, offset, expected_len, body).await
    }

    /// Completes an upload: verifies it against `digest`, then publishes it as a blob.
    /// A mismatch deletes the upload. Returns the blob's size.
    pub async fn commit(&self, id: &str, digest: &Digest) -> Result<u64> {
        let verified = self.uploads.verify(id, digest).await?;
        self.publish(&verified.path, digest).await?;
        let size = verified.size;
        drop(verified);
        self.uploads.forget(id).await?;
        Ok(size)
    }

    /// Cancels an upload.
    pub async fn delete_upload(&self, id: &str) -> Result<()> {
        self.uploads.delete(id).await
    }

    /// Deletes an upload at once, without waiting (from a guard dropped halfway).
    pub fn discard_upload(&self, id: &str) {
        self.uploads.discard(id);
    }

    async fn publish(&self, file: &std::path::Path, digest: &Digest) -> Result<()> {
        match &self.backend {
            Backend::Fs(blobs) => blobs.publish(file, digest).await,
            #[cfg(feature = "s3")]
            Backend::Object(blobs) => blobs.publish(file, digest).await,
        }
    }

    /// Every stored blob with its last modification time.
    pub async fn list_blobs(&self) -> Result<Vec<(Digest, SystemTime)>> {
        match &self.backend {
            Backend::Fs(blobs) => blobs.list().await,
            #[cfg(feature = "s3")]
            Backend::Object(blobs) => blobs.list().await,
        }
    }

    /// Deletes a blob's content (garbage collection); returns the bytes freed.
    pub async fn delete_blob(&self, digest: &Digest) -> Result<u64> {
        match &self.backend {
            Backend::Fs(blobs) => blobs.delete(digest).await,
            #[cfg(feature = "s3")]
            Backend::Object(blobs) => blobs.delete(digest).await,
        }
    }

    /// Removes upload sessions untouched for `ttl`; returns how many.
    pub async fn remove_stale_uploads(&self, ttl: std::time::Duration) -> Result<usize> {
        self.uploads.remove_stale(ttl).await
    }
}

/// `BLOB_UNKNOWN` for a blob the backend does not hold.
fn not_stored(digest: &Digest) -> RegistryError {
    RegistryError::new(
        ErrorCode::BlobUnknown,
        format!("blob {digest} is not stored"),
    )
}

#[cfg(test)]
mod tests {
    use super::BlobBackend;

    #[test]
    fn backends_parse_from_flags() {
        assert_eq!("fs".parse::<BlobBackend>(), Ok(BlobBackend::Filesystem));
        assert!("gs://bucket".parse::<BlobBackend>().is_err());
        #[cfg(feature = "s3")]
        {
            let s3 = "s3://bucket/some/prefix".parse::<BlobBackend>().unwrap();
            assert_eq!(s3.to_string(), "s3://bucket/some/prefix");
            assert!("s3://".parse::<BlobBackend>().is_err());
            assert!("s3://bucket/../x".parse::<BlobBackend>().is_err());
        }
    }
}
