//! Upload sessions, staged on the local disk whatever the blob backend: each session is a
//! data file hashed while it streams, plus a file naming its repository.
//!
//! Layout under the staging directory: `<id>.data`, `<id>.repo`, and `<id>.manifest`
//! (manifests being written). The hash state lives in memory and is rebuilt from the data
//! file after a restart, so an acknowledged chunk survives a crash and the upload resumes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::fs::{self, File, OpenOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::OwnedMutexGuard;

use super::staged::{Staged, StagingLimits};
use crate::reference::{Algorithm, Digest, Hasher, Name};
use crate::server::error::{ErrorCode, RegistryError, Result};

/// Read size when hashing a staged file.
pub(super) const READ_CHUNK: usize = 256 * 1024;

/// Where an upload stands: bytes received and the SHA-256 of them so far.
#[derive(Clone)]
struct Progress {
    offset: u64,
    hasher: Hasher,
}

/// The staging directory for upload sessions.
#[derive(Clone)]
pub(super) struct Uploads {
    dir: Arc<PathBuf>,
    /// Hash state of uploads this process has seen; rebuilt from disk after a restart.
    progress: Arc<Mutex<HashMap<String, Progress>>>,
    /// One lock per upload, held while it is appended to or committed, so concurrent requests
    /// on one upload cannot interleave its bytes and its hash state.
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// What each project holds in unfinished uploads.
    staged: Arc<Mutex<Staged>>,
}

/// An upload whose content matched its digest, still locked: publish `path`, then
/// [`Uploads::forget`] it.
pub(super) struct Verified {
    /// The staged data file, synced to disk.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    _guard: OwnedMutexGuard<()>,
}

impl Uploads {
    /// A staging area in `dir` (created if needed), counting what each project already holds
    /// there against `limits`.
    pub async fn open(dir: PathBuf, limits: StagingLimits) -> std::io::Result<Self> {
        fs::create_dir_all(&dir).await?;
        let uploads = Self {
            dir: Arc::new(dir),
            progress: Arc::default(),
            locks: Arc::default(),
            staged: Arc::new(Mutex::new(Staged::new(limits))),
        };
        uploads.count_staged().await?;
        Ok(uploads)
    }

    /// Counts the sessions on disk (left by an earlier run) per project.
    async fn count_staged(&self) -> std::io::Result<()> {
        let mut entries = fs::read_dir(self.dir.as_path()).await?;
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name
                .strip_suffix(".repo")
                .filter(|id| crate::is_random_id(id))
            else {
                continue;
            };
            let Ok(repository) = fs::read_to_string(entry.path()).await else {
                continue;
            };
            let (Ok(repository), Ok(data)) = (
                repository.parse::<Name>(),
                fs::metadata(self.data(id)).await,
            ) else {
                continue;
            };
            self.staged_mut()
                .restore(id, repository.project(), data.len());
        }
        Ok(())
    }

    fn staged_mut(&self) -> std::sync::MutexGuard<'_, Staged> {
        self.staged.lock().expect("lock")
    }

    fn data(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.data"))
    }

    fn repo(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.repo"))
    }

    /// A fresh path for a small file written whole (a manifest); remove it when done.
    pub fn scratch_path(&self) -> PathBuf {
        self.dir.join(format!("{}.manifest", crate::random_id()))
    }

    /// Starts an upload session for `repository`, unless its project has as many open as
    /// allowed.
    pub async fn create(&self, repository: &Name) -> Result<String> {
        let id = crate::random_id();
        self.staged_mut().open(&id, repository.project())?;
        let created = async {
            write_synced(&self.repo(&id), repository.as_str().as_bytes()).await?;
            File::create(self.data(&id)).await?;
            std::io::Result::Ok(())
        }
        .await;
        if let Err(err) = created {
            self.discard(&id);
            return Err(err.into());
        }
        Ok(id)
    }

    /// The repository an upload belongs to and its current size; `BLOB_UPLOAD_UNKNOWN` if the
    /// session does not exist.
    pub async fn state(&self, id: &str) -> Result<(String, u64)> {
        if !crate::is_random_id(id) {
            return Err(unknown_upload());
        }
        let repo = match fs::read_to_string(self.repo(id)).await {
            Ok(repo) => repo,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(unknown_upload()),
            Err(e) => return Err(e.into()),
        };
        let on_disk = fs::metadata(self.data(id))
            .await
            .map_err(|_| unknown_upload())?
            .len();
        // What was acknowledged, when this process knows (see `append`).
        let acknowledged = self
            .progress
            .lock()
            .expect("lock")
            .get(id)
            .map(|p| p.offset);
        Ok((repo, acknowledged.unwrap_or(on_disk)))
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
        let _guard = self.lock(id).lock_owned().await;
        let mut progress = self.progress_of(id).await?;
        if let Some(offset) = offset
            && progress.offset != offset
        {
            return Err(RegistryError::new(
                ErrorCode::RangeInvalid,
                format!("the upload is at offset {}, not {offset}", progress.offset),
            ));
        }
        let mut file = OpenOptions::new().append(true).open(self.data(id)).await?;
        let start = progress.offset;
        // A write of an append abandoned halfway can land after it was cut back: what was
        // not acknowledged goes.
        if file.metadata().await?.len() != start {
            file.set_len(start).await?;
        }
        // Cuts the data back to `start` and uncounts it unless the append completes, also
        // when this future is dropped halfway (its client went away).
        let mut rollback = Rollback {
            uploads: self,
            id,
            start,
            counted: 0,
        };
        let written = copy_hashing(body, &mut file, &mut progress, &mut rollback)
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
        if written.is_err() {
            // A write still in flight must land before the rollback cuts the data back, or
            // it lands after and leaves part of the refused body staged.
            let _ = file.flush().await;
        }
        written?;
        file.flush().await?;
        let new = progress.offset;
        self.progress
            .lock()
            .expect("lock")
            .insert(id.to_owned(), progress);
        rollback.counted = 0;
        Ok(new)
    }

    /// Checks an upload against `digest` and syncs it to disk. A mismatch deletes the upload.
    /// The upload stays locked until the returned [`Verified`] is dropped.
    pub async fn verify(&self, id: &str, digest: &Digest) -> Result<Verified> {
        let guard = self.lock(id).lock_owned().await;
        let progress = self.progress_of(id).await?;
        let path = self.data(id);
        let on_disk = fs::metadata(&path).await?.len();
        if on_disk > progress.offset {
            // The late write of an append abandoned halfway (see `append`).
            OpenOptions::new()
                .write(true)
                .open(&path)
                .await?
                .set_len(progress.offset)
                .await?;
        } else if on_disk < progress.offset {
            return Err(RegistryError::internal(format!(
                "upload {id} holds less than was hashed"
            )));
        }
        let actual = match digest.algorithm() {
            Algorithm::Sha256 => progress.hasher.finish(),
            other => hash_file(&path, other).await?.1.finish(),
        };
        if actual != *digest {
            self.delete(id).await?;
            return Err(RegistryError::new(
                ErrorCode::DigestInvalid,
                format!("the uploaded content has digest {actual}, not {digest}"),
            ));
        }
        File::open(&path).await?.sync_all().await?;
        Ok(Verified {
            path,
            size: progress.offset,
            _guard: guard,
        })
    }

    /// Cancels an upload.
    pub async fn delete(&self, id: &str) -> Result<()> {
        remove_if_present(&self.data(id)).await?;
        self.forget(id).await
    }

    /// Drops what is known about an upload whose data file is gone (published or deleted).
    pub async fn forget(&self, id: &str) -> Result<()> {
        self.progress.lock().expect("lock").remove(id);
        self.locks.lock().expect("lock").remove(id);
        self.staged_mut().close(id);
        Ok(remove_if_present(&self.repo(id)).await?)
    }

    /// Deletes an upload at once, without waiting (for a request abandoned halfway: its
    /// session was never handed to the client, so nothing can resume it).
    pub fn discard(&self, id: &str) {
        for path in [self.data(id), self.repo(id)] {
            if let Err(err) = std::fs::remove_file(&path)
                && err.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), %err, "removing an abandoned upload failed");
            }
        }
        self.progress.lock().expect("lock").remove(id);
        self.locks.lock().expect("lock").remove(id);
        self.staged_mut().close(id);
    }

    fn lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .expect("lock")
            .entry(id.to_owned())
            .or_default()
            .clone()
    }

    async fn progress_of(&self, id: &str) -> Result<Progress> {
        if let Some(p) = self.progress.lock().expect("lock").get(id) {
            return Ok(p.clone());
        }
        // After a restart: rebuild the hash state from what is on disk.
        let (offset, hasher) = hash_file(&self.data(id), Algorithm::Sha256)
            .await
            .map_err(|_| unknown_upload())?;
        let progress = Progress { offset, hasher };
        self.progress
            .lock()
            .expect("lock")
            .insert(id.to_owned(), progress.clone());
        Ok(progress)
    }

    /// Removes upload sessions (and leftover scratch files) untouched for `ttl`, skipping
    /// uploads a request is working on. Returns how many sessions were removed.
    pub async fn remove_stale(&self, ttl: std::time::Duration) -> Result<usize> {
        let cutoff = std::time::SystemTime::now() - ttl;
        let mut removed = 0;
        let mut entries = fs::read_dir(self.dir.as_path()).await?;
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Gone since the listing (published, cancelled, or removed by another sweep).
            let Ok(modified) = entry.metadata().await.and_then(|m| m.modified()) else {
                continue;
            };
            if modified >= cutoff {
                continue;
            }
            match name.rsplit_once('.') {
                Some((id, "data")) if crate::is_random_id(id) => {
                    let lock = self.lock(id);
                    let Ok(_guard) = lock.try_lock() else {
                        continue;
                    };
                    self.delete(id).await?;
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

fn unknown_upload() -> RegistryError {
    RegistryError::new(ErrorCode::BlobUploadUnknown, "unknown upload session")
}

/// An append in progress: unless it completes, the upload's data is cut back to `start` and
/// the `counted` bytes are uncounted from its project, when it fails or is dropped halfway.
struct Rollback<'a> {
    uploads: &'a Uploads,
    id: &'a str,
    start: u64,
    counted: u64,
}

impl Rollback<'_> {
    /// Counts `bytes` about to be written against the project's limit.
    fn count(&mut self, bytes: u64) -> Result<()> {
        self.uploads.staged_mut().grow(self.id, bytes)?;
        self.counted += bytes;
        Ok(())
    }
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        if self.counted == 0 {
            return;
        }
        self.uploads.staged_mut().shrink(self.id, self.counted);
        let path = self.uploads.data(self.id);
        let cut = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|file| file.set_len(self.start));
        if let Err(err) = cut
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), %err, "cutting back a broken upload failed");
        }
    }
}

async fn copy_hashing<S, E>(
    mut body: S,
    file: &mut File,
    progress: &mut Progress,
    rollback: &mut Rollback<'_>,
) -> Result<()>
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
        rollback.count(chunk.len() as u64)?;
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

/// Writes `data` to a new file at `path` and syncs it.
pub(super) async fn write_synced(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut file = File::create(path).await?;
    file.write_all(data).await?;
    file.sync_all().await
}

/// Removes a file; a missing file is not an error.
pub(super) async fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
