//! The object-store blob backend (S3 and S3-compatible stores through `object_store`):
//! `<prefix>/blobs/<algorithm>/<first two hex>/<hex>`.
//!
//! Uploads are staged and verified on the local disk, then streamed to the store: with a
//! single `PUT` up to [`MULTIPART_THRESHOLD`], else as a multipart upload with a bounded
//! number of parts in flight. The store makes an object visible only once the `PUT` or the
//! multipart completion succeeds, so readers never see a partial blob.

use std::path::Path as LocalPath;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::fs::{self, File};
use tokio::io::AsyncReadExt;

use super::{BlobStream, not_stored};
use crate::reference::Digest;
use crate::server::error::{RegistryError, Result};

/// Blobs up to this size are stored with one `PUT`.
const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
/// Size of each multipart part (S3 wants at least 5 MiB for all but the last).
const PART_SIZE: usize = 16 * 1024 * 1024;
/// Parts uploaded at once for one blob.
const PARTS_IN_FLIGHT: usize = 4;

/// Blobs in an object store.
#[derive(Clone)]
pub(super) struct ObjectBlobs {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

/// Splits `s3://<bucket>[/<prefix>]` into the bucket and the key prefix.
pub(super) fn parse_url(url: &str) -> std::result::Result<(&str, Path), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| format!("{url:?} is not an s3:// URL"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!(
            "{url:?} names no bucket: use s3://<bucket>[/<prefix>]"
        ));
    }
    let prefix = Path::parse(prefix.trim_matches('/'))
        .map_err(|e| format!("invalid key prefix in {url:?}: {e}"))?;
    Ok((bucket, prefix))
}

impl ObjectBlobs {
    /// Blobs in the bucket `url` names, with credentials, region and endpoint from the
    /// `AWS_*` environment variables.
    pub fn from_url(url: &str) -> std::io::Result<Self> {
        let (bucket, prefix) = parse_url(url).map_err(std::io::Error::other)?;
        // The store's HTTPS client uses the process-wide rustls provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Self {
            store: Arc::new(store),
            prefix: prefix.clone().join("blobs"),
        })
    }

    fn path(&self, digest: &Digest) -> Path {
        self.prefix
            .clone()
            .join(digest.algorithm().as_str())
            .join(&digest.hex()[..2])
            .join(digest.hex())
    }

    pub async fn size(&self, digest: &Digest) -> Result<Option<u64>> {
        match self.store.head(&self.path(digest)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn read(&self, digest: &Digest, start: u64, len: u64) -> Result<BlobStream> {
        if len == 0 {
            return Ok(futures_util::stream::empty().boxed());
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(start..start + len)),
            ..GetOptions::default()
        };
        let result = match self.store.get_opts(&self.path(digest), options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Err(not_stored(digest)),
            Err(e) => return Err(e.into()),
        };
        Ok(result.into_stream().map_err(std::io::Error::other).boxed())
    }

    pub async fn read_whole(&self, digest: &Digest) -> Result<Bytes> {
        let fetched = async { self.store.get(&self.path(digest)).await?.bytes().await };
        match fetched.await {
            Ok(data) => Ok(data),
            Err(object_store::Error::NotFound { .. }) => Err(not_stored(digest)),
            Err(e) => Err(e.into()),
        }
    }

    /// Streams a complete, verified local file to the store as `digest`, then removes the
    /// file; a blob already stored is not uploaded again.
    pub async fn publish(&self, file: &LocalPath, digest: &Digest) -> Result<()> {
        let location = self.path(digest);
        if self.size(digest).await?.is_none() {
            let size = fs::metadata(file).await?.len();
            if size <= MULTIPART_THRESHOLD {
                let data = fs::read(file).await?;
                self.store.put(&location, data.into()).await?;
            } else {
                self.put_multipart(file, &location).await?;
            }
        }
        fs::remove_file(file).await?;
        Ok(())
    }

    async fn put_multipart(&self, file: &LocalPath, location: &Path) -> Result<()> {
        let upload = self.store.put_multipart(location).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut source = File::open(file).await?;
        let copied = async {
            let mut buf = vec![0u8; 1024 * 1024];
            loop {
                let n = source.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<_, RegistryError>(());
                }
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                writer.write(&buf[..n]);
            }
        }
        .await;
        match copied {
            Ok(()) => {
                writer.finish().await?;
                Ok(())
            }
            Err(err) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(%abort, %location, "could not abort a multipart upload");
                }
                Err(err)
            }
        }
    }

    pub async fn list(&self) -> Result<Vec<(Digest, SystemTime)>> {
        let mut blobs = Vec::new();
        let mut listing = self.store.list(Some(&self.prefix));
        while let Some(meta) = listing.try_next().await? {
            let mut parts: Vec<_> = meta.location.parts().collect();
            let (Some(hex), Some(_), Some(algorithm)) = (parts.pop(), parts.pop(), parts.pop())
            else {
                continue;
            };
            // Anything that is not a digest is not ours to judge.
            if let Ok(digest) = format!("{}:{}", algorithm.as_ref(), hex.as_ref()).parse() {
                blobs.push((digest, meta.last_modified.into()));
            }
        }
        Ok(blobs)
    }

    pub async fn delete(&self, digest: &Digest) -> Result<u64> {
        let Some(size) = self.size(digest).await? else {
            return Ok(0);
        };
        match self.store.delete(&self.path(digest)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(size),
            Err(e) => Err(e.into()),
        }
    }
}
