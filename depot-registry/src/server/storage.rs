//! The filesystem blob store (the embedded default): content-addressed blobs shared by every
//! repository, and upload sessions that are hashed while they stream.
//!
//! Layout under the root:
//! - `blobs/<algorithm>/<first two hex>/<hex>`: complete, verified blobs;
//! - `uploads/<id>.data` and `uploads/<id>.repo`: in-progress uploads.
//!
//! A blob appears under `blobs/` only by `rename` of a fully written, fsynced and verified
//! upload, so a crash or a dropped connection never leaves a partial blob visible.

use std::collections::HashMap;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::fs::{self, File, OpenOptions};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use super::error::{ErrorCode, RegistryError, Result};
use crate::reference::{Algorithm, Digest, Hasher, Name};

const READ_CHUNK: usize = 256 * 1024;

/// Where an upload stands: bytes received and the SHA-256 of them so far.
#[derive(Clone)]
struct Progress {
    offset: u64,
    hasher: Hasher,
}

/// The filesystem store.
#[derive(Clone)]
pub struct FsStorage {
    root: Arc<PathBuf>,
    /// Hash state of uploads this process has seen; rebuilt from disk after a restart.
    progress: Arc<Mutex<HashMap<String, Progress>>>,
    /// One lock per upload, held while it is appended to or committed, so concurrent requests
    /// on one upload cannot interleave its bytes and its hash state.
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl FsStorage {
    /// A store rooted at `root` (created if needed).
    pub async fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(root.join("blobs")).await?;
        fs::create_dir_all(root.join("uploads")).await?;
        Ok(Self {
            root: Arc::new(root),
            progress: Arc::default(),
            locks: Arc::default(),
        })
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(&digest.hex()[..2])
            .join(digest.hex())
    }

    fn upload_data(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(format!("{id}.data"))
    }

    fn upload_repo(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(format!("{id}.repo"))
    }

    /// The size of a stored blob, if present.
    pub async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>> {
        match fs::metadata(self.blob_path(digest)).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Streams `len` bytes of a blob from `start`.
    pub async fn read_blob(
        &self,
        digest: &Digest,
        start: u64,
        len: u64,
    ) -> Result<impl Stream<Item = std::io::Result<Bytes>> + Send + 'static> {
        let mut file = File::open(self.blob_path(digest)).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                RegistryError::new(
                    ErrorCode::BlobUnknown,
                    format!("blob {digest} is not stored"),
                )
            } else {
                e.into()
            }
        })?;
        file.seek(SeekFrom::Start(start)).await?;
        Ok(ReaderStream::with_capacity(file.take(len), READ_CHUNK))
    }

    /// Reads a small blob (a manifest) whole.
    pub async fn read_small_blob(&self, digest: &Digest) -> Result<Bytes> {
        Ok(fs::read(self.blob_path(digest)).await?.into())
    }

    /// Stores a small blob (a manifest) given whole; returns its digest under `algorithm`.
    pub async fn write_small_blob(&self, data: &[u8], algorithm: Algorithm) -> Result<Digest> {
        let mut hasher = Hasher::new(algorithm);
        hasher.update(data);
        let digest = hasher.finish();
        if self.blob_size(&digest).await?.is_none() {
            let tmp = self
                .root
                .join("uploads")
                .join(format!("{}.manifest", crate::random_id()));
            write_synced(&tmp, data).await?;
            self.publish(&tmp, &digest).await?;
        }
        Ok(digest)
    }

    /// Starts an upload session for `repository`.
    pub async fn create_upload(&self, repository: &Name) -> Result<String> {
        let id = crate::random_id();
        write_synced(&self.upload_repo(&id), repository.as_str().as_bytes()).await?;
        File::create(self.upload_data(&id)).await?;
        Ok(id)
    }

    /// The repository an upload belongs to and its current size; `BLOB_UPLOAD_UNKNOWN` if the
    /// session does not exist.
    pub async fn upload_state(&self, id: &str) -> Result<(String, u64)> {
        let unknown = || RegistryError::new(ErrorCode::BlobUploadUnknown, "unknown upload session");
        if !crate::is_random_id(id) {
            return Err(unknown());
        }
        let repo = match fs::read_to_string(self.upload_repo(id)).await {
            Ok(repo) => repo,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(unknown()),
            Err(e) => return Err(e.into()),
        };
        let size = fs::metadata(self.upload_data(id))
            .await
            .map_err(|_| unknown())?
            .len();
        Ok((repo, size))
    }

    /// Appends a body to an upload, hashing as it writes: at `offset`, which must be the
    /// current size (chunked uploads), or at the current end when `None` (streamed uploads).
    /// With `expected_len`, a body of any other length is refused. If the body fails midway,
    /// the upload is truncated back so it stays consistent. Returns the new size.
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
        let lock = self.lock(id);
        let _guard = lock.lock().await;
        let mut progress = self.progress_of(id).await?;
        if let Some(offset) = offset
            && progress.offset != offset
        {
            return Err(RegistryError::new(
                ErrorCode::RangeInvalid,
                format!("the upload is at offset {}, not {offset}", progress.offset),
            ));
        }
        let path = self.upload_data(id);
        let mut file = OpenOptions::new().append(true).open(&path).await?;
        let start = progress.offset;
        let written = copy_hashing(body, &mut file, &mut progress)
            .await
            .and_then(|()| match expected_len {
                Some(len) if progress.offset - start != len => Err(RegistryError::new(
                    ErrorCode::SizeInvalid,
                    format!(
                        "Content-Range announced {len} bytes but the body had {}",
                        progress.offset - start
                    ),
                )),
                _ => Ok(()),
            });
        match written {
            Ok(()) => {
                file.flush().await?;
                let new = progress.offset;
                self.progress
                    .lock()
                    .expect("lock")
                    .insert(id.to_owned(), progress);
                Ok(new)
            }
            Err(err) => {
                file.set_len(start).await?;
                Err(err)
            }
        }
    }

    /// Completes an upload: verifies it against `digest`, then publishes it as a blob.
    /// A mismatch deletes the upload. Returns the blob's size.
    pub async fn commit(&self, id: &str, digest: &Digest) -> Result<u64> {
        let lock = self.lock(id);
        let _guard = lock.lock().await;
        let progress = self.progress_of(id).await?;
        let data = self.upload_data(id);
        if fs::metadata(&data).await?.len() != progress.offset {
            return Err(RegistryError::internal(format!(
                "upload {id} holds a different length than was hashed"
            )));
        }
        let actual = match digest.algorithm() {
            Algorithm::Sha256 => progress.hasher.finish(),
            other => hash_file(&self.upload_data(id), other).await?.1.finish(),
        };
        if actual != *digest {
            self.delete_upload(id).await?;
            return Err(RegistryError::new(
                ErrorCode::DigestInvalid,
                format!("the uploaded content has digest {actual}, not {digest}"),
            ));
        }
        File::open(&data).await?.sync_all().await?;
        if self.blob_size(digest).await?.is_some() {
            fs::remove_file(&data).await?;
        } else {
            self.publish(&data, digest).await?;
        }
        self.forget_upload(id).await?;
        Ok(progress.offset)
    }

    /// Cancels an upload.
    pub async fn delete_upload(&self, id: &str) -> Result<()> {
        match fs::remove_file(self.upload_data(id)).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        self.forget_upload(id).await
    }

    fn lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .expect("lock")
            .entry(id.to_owned())
            .or_default()
            .clone()
    }

    async fn forget_upload(&self, id: &str) -> Result<()> {
        self.progress.lock().expect("lock").remove(id);
        self.locks.lock().expect("lock").remove(id);
        match fs::remove_file(self.upload_repo(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn progress_of(&self, id: &str) -> Result<Progress> {
        if let Some(p) = self.progress.lock().expect("lock").get(id) {
            return Ok(p.clone());
        }
        // After a restart: rebuild the hash state from what is on disk.
        let (offset, hasher) = hash_file(&self.upload_data(id), Algorithm::Sha256)
            .await
            .map_err(|_| {
                RegistryError::new(ErrorCode::BlobUploadUnknown, "unknown upload session")
            })?;
        let progress = Progress { offset, hasher };
        self.progress
            .lock()
            .expect("lock")
            .insert(id.to_owned(), progress.clone());
        Ok(progress)
    }

    /// Moves a complete, synced file into place as `digest`, atomically.
    async fn publish(&self, file: &Path, digest: &Digest) -> Result<()> {
        let target = self.blob_path(digest);
        let dir = target.parent().expect("blob paths have a parent");
        fs::create_dir_all(dir).await?;
        fs::rename(file, &target).await?;
        File::open(dir).await?.sync_all().await?;
        Ok(())
    }
}

impl FsStorage {
    /// Every stored blob with its last modification time.
    pub async fn list_blobs(&self) -> Result<Vec<(Digest, std::time::SystemTime)>> {
        let mut blobs = Vec::new();
        let root = self.root.join("blobs");
        let mut algorithms = fs::read_dir(&root).await?;
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

    /// Deletes a blob's content (garbage collection).
    pub async fn delete_blob(&self, digest: &Digest) -> Result<u64> {
        let path = self.blob_path(digest);
        let size = match fs::metadata(&path).await {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        fs::remove_file(&path).await?;
        Ok(size)
    }

    /// Removes upload sessions (and leftover temporary files) untouched for `ttl`, skipping
    /// uploads a request is working on. Returns how many sessions were removed.
    pub async fn remove_stale_uploads(&self, ttl: std::time::Duration) -> Result<usize> {
        let cutoff = std::time::SystemTime::now() - ttl;
        let mut removed = 0;
        let mut entries = fs::read_dir(self.root.join("uploads")).await?;
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.metadata().await?.modified()? >= cutoff {
                continue;
            }
            match name.rsplit_once('.') {
                Some((id, "data")) if crate::is_random_id(id) => {
                    let lock = self.lock(id);
                    let Ok(_guard) = lock.try_lock() else {
                        continue;
                    };
                    self.delete_upload(id).await?;
                    removed += 1;
                }
                // Manifests being written, and session files whose data is gone.
                Some((_, "manifest" | "repo")) => {
                    let path = entry.path();
                    if name.ends_with(".manifest") || !path.with_extension("data").exists() {
                        let _ = fs::remove_file(path).await;
                    }
                }
                _ => {}
            }
        }
        Ok(removed)
    }
}

async fn copy_hashing<S, E>(mut body: S, file: &mut File, progress: &mut Progress) -> Result<()>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            RegistryError::new(
                ErrorCode::BlobUploadInvalid,
                format!("the upload body broke off: {e}"),
            )
        })?;
        file.write_all(&chunk).await?;
        progress.hasher.update(&chunk);
        progress.offset += chunk.len() as u64;
    }
    Ok(())
}

async fn hash_file(path: &Path, algorithm: Algorithm) -> std::io::Result<(u64, Hasher)> {
    let mut file = File::open(path).await?;
    let mut hasher = Hasher::new(algorithm);
    let mut buf = vec![0u8; READ_CHUNK];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok((total, hasher));
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
}

async fn write_synced(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut file = File::create(path).await?;
    file.write_all(data).await?;
    file.sync_all().await
}
