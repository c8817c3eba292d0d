//! The filesystem blob backend (the embedded default): `blobs/<algorithm>/<first two hex>/<hex>`.
//!
//! A blob appears only by `rename` of a fully written, fsynced and verified file, followed by
//! an fsync of its directory, so a crash never leaves a partial blob visible.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::fs::{self, File};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::uploads::READ_CHUNK;
use super::{BlobStream, not_stored};
use crate::reference::Digest;
use crate::server::error::Result;

/// Blobs in a local directory.
#[derive(Clone)]
pub(super) struct FsBlobs {
    root: PathBuf,
}

impl FsBlobs {
    /// Blobs under `root/blobs` (created if needed).
    pub async fn open(root: &Path) -> std::io::Result<Self> {
        let root = root.join("blobs");
        fs::create_dir_all(&root).await?;
        Ok(Self { root })
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join(digest.algorithm().as_str())
            .join(&digest.hex()[..2])
            .join(digest.hex())
    }

    pub async fn size(&self, digest: &Digest) -> Result<Option<u64>> {
        match fs::metadata(self.path(digest)).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn read(&self, digest: &Digest, start: u64, len: u64) -> Result<BlobStream> {
        let mut file = File::open(self.path(digest)).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                not_stored(digest)
            } else {
                e.into()
            }
        })?;
        file.seek(SeekFrom::Start(start)).await?;
        Ok(ReaderStream::with_capacity(file.take(len), READ_CHUNK).boxed())
    }

    pub async fn read_whole(&self, digest: &Digest) -> Result<Bytes> {
        match fs::read(self.path(digest)).await {
            Ok(data) => Ok(data.into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(not_stored(digest)),
            Err(e) => Err(e.into()),
        }
    }

    /// Moves a complete, synced file into place as `digest`, atomically; a file whose blob is
    /// already stored is removed instead.
    pub async fn publish(&self, file: &Path, digest: &Digest) -> Result<()> {
        let target = self.path(digest);
        if fs::try_exists(&target).await? {
            fs::remove_file(file).await?;
            return Ok(());
        }
        let dir = target.parent().expect("blob paths have a parent");
        fs::create_dir_all(dir).await?;
        fs::rename(file, &target).await?;
        File::open(dir).await?.sync_all().await?;
        Ok(())
    }

    pub async fn list(&self) -> Result<Vec<(Digest, SystemTime)>> {
        let mut blobs = Vec::new();
        let mut algorithms = fs::read_dir(&self.root).await?;
        while let Some(algorithm) = algorithms.next_entry().await? {
            let mut prefixes = fs::read_dir(algorithm.path()).await?;
            while let Some(prefix) = prefixes.next_entry().await? {
                let mut files = fs::read_dir(prefix.path()).await?;
                while let Some(file) = files.next_entry().await? {
                    let name = format!(
                        "{}:{}",
                        algorithm.file_name().to_string_lossy(),
                        file.file_name().to_string_lossy()
                    );
                    // Anything that is not a digest is not ours to judge.
                    if let Ok(digest) = name.parse::<Digest>() {
                        blobs.push((digest, file.metadata().await?.modified()?));
                    }
                }
            }
        }
        Ok(blobs)
    }

    pub async fn delete(&self, digest: &Digest) -> Result<u64> {
        let path = self.path(digest);
        let size = match fs::metadata(&path).await {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        fs::remove_file(&path).await?;
        Ok(size)
    }
}
