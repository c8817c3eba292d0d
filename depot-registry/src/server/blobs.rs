//! Blobs and uploads: `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>` (with `Range`), and the
//! upload session API (monolithic, single-`POST`, chunked and streamed uploads, status, cancel,
//! cross-repository mount).

use axum::body::Body;
use axum::http::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE,
};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::Registry;
use super::auth::{Action, Caller};
use super::error::{ErrorCode, RegistryError, Result};
use super::routes::Request;
use crate::reference::{Digest, Name};

/// Parses a digest parameter; `DIGEST_INVALID` if malformed.
pub fn parse_digest(text: &str) -> Result<Digest> {
    text.parse().map_err(|()| {
        RegistryError::new(
            ErrorCode::DigestInvalid,
            format!("invalid digest {text:?}: expected sha256:<64 hex> or sha512:<128 hex>"),
        )
    })
}

impl Registry {
    pub(super) async fn get_blob(
        &self,
        name: &Name,
        digest: &str,
        request: &Request,
    ) -> Result<Response> {
        let digest = parse_digest(digest)?;
        let size = self
            .inner
            .metadata
            .blob_link(name, &digest)
            .await?
            .ok_or_else(|| {
                RegistryError::new(
                    ErrorCode::BlobUnknown,
                    format!("blob {digest} is not in {name}"),
                )
            })?;
        let range = match request.headers.get(RANGE) {
            Some(value) => parse_range(value.to_str().unwrap_or(""), size)
                .map_err(|err| err.with_header(CONTENT_RANGE, format!("bytes */{size}")))?,
            None => None,
        };
        let (start, len) = range.map_or((0, size), |(start, end)| (start, end - start + 1));
        let mut headers = HeaderMap::new();
        headers.insert("Docker-Content-Digest", header(&digest.to_string()));
        headers.insert(CONTENT_TYPE, header("application/octet-stream"));
        headers.insert(ACCEPT_RANGES, header("bytes"));
        headers.insert(CONTENT_LENGTH, header(&len.to_string()));
        let status = if let Some((start, end)) = range {
            headers.insert(
                CONTENT_RANGE,
                header(&format!("bytes {start}-{end}/{size}")),
            );
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        };
        if request.method == axum::http::Method::HEAD {
            return Ok((status, headers).into_response());
        }
        let stream = self.inner.storage.read_blob(&digest, start, len).await?;
        Ok((status, headers, Body::from_stream(stream)).into_response())
    }

    pub(super) async fn delete_blob(&self, name: &Name, digest: &str) -> Result<Response> {
        let digest = parse_digest(digest)?;
        if !self.inner.metadata.unlink_blob(name, &digest).await? {
            return Err(RegistryError::new(
                ErrorCode::BlobUnknown,
                format!("blob {digest} is not in {name}"),
            ));
        }
        Ok(StatusCode::ACCEPTED.into_response())
    }

    pub(super) async fn start_upload(
        &self,
        name: &Name,
        caller: &Caller,
        request: &Request,
        body: Body,
    ) -> Result<Response> {
        if let Some(mount) = request.param("mount") {
            let digest = parse_digest(mount)?;
            if let Some(size) = self
                .mountable(&digest, request.param("from"), caller)
                .await?
            {
                let _in_use = self.inner.gc_lock.read().await;
                if !self.inner.metadata.digest_in_use(&digest).await? {
                    // Collected since `mountable` looked: upload it instead.
                    let id = self.inner.storage.create_upload(name).await?;
                    return Ok(upload_accepted(name, &id, 0));
                }
                self.inner.metadata.link_blob(name, &digest, size).await?;
                return Ok(blob_created(name, &digest));
            }
            // Not mountable: the spec says to fall back to a regular upload session.
        }
        if let Some(digest) = request.param("digest") {
            let digest = parse_digest(digest)?;
            let storage = &self.inner.storage;
            let id = storage.create_upload(name).await?;
            // Nothing can resume this session (its id is never handed out): it goes at once
            // unless published, also when the request is abandoned halfway.
            let session = Abandoned {
                storage,
                id: Some(&id),
            };
            storage
                .append(&id, Some(0), None, body.into_data_stream())
                .await?;
            self.publish_upload(name, &id, &digest).await?;
            session.published();
            return Ok(blob_created(name, &digest));
        }
        let id = self.inner.storage.create_upload(name).await?;
        Ok(upload_accepted(name, &id, 0))
    }

    /// The size of `digest` if the caller may mount it: it must be in `from` (or, without
    /// `from`, in any repository) that the caller can pull from.
    async fn mountable(
        &self,
        digest: &Digest,
        from: Option<&str>,
        caller: &Caller,
    ) -> Result<Option<u64>> {
        let inner = &self.inner;
        let candidates = match from {
            Some(from) => match from.parse::<Name>() {
                Ok(from) => vec![from],
                Err(()) => return Ok(None),
            },
            None => inner
                .metadata
                .repositories_with_blob(digest)
                .await?
                .into_iter()
                .filter_map(|r| r.parse().ok())
                .collect(),
        };
        for repo in candidates {
            if caller.may(&inner.store, &repo, Action::Pull).await
                && let Some(size) = inner.metadata.blob_link(&repo, digest).await?
            {
                return Ok(Some(size));
            }
        }
        Ok(None)
    }

    pub(super) async fn upload_status(&self, name: &Name, id: &str) -> Result<Response> {
        let size = self.upload_of(name, id).await?;
        let mut response = upload_accepted(name, id, size);
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok(response)
    }

    pub(super) async fn patch_upload(
        &self,
        name: &Name,
        id: &str,
        request: &Request,
        body: Body,
    ) -> Result<Response> {
        self.upload_of(name, id).await?;
        let (offset, expected_len) = chunk_range(&request.headers)?;
        let size = self
            .inner
            .storage
            .append(id, offset, expected_len, body.into_data_stream())
            .await?;
        Ok(upload_accepted(name, id, size))
    }

    pub(super) async fn finish_upload(
        &self,
        name: &Name,
        id: &str,
        request: &Request,
        body: Body,
    ) -> Result<Response> {
        self.upload_of(name, id).await?;
        let digest = request
            .param("digest")
            .ok_or_else(|| {
                RegistryError::new(
                    ErrorCode::DigestInvalid,
                    "completing an upload needs ?digest=",
                )
            })
            .and_then(parse_digest);
        // A completion with a bad digest ends the session, as one whose content does not match
        // it does: the client starts over.
        let digest = match digest {
            Ok(digest) => digest,
            Err(err) => {
                self.inner.storage.delete_upload(id).await?;
                return Err(err);
            }
        };
        let storage = &self.inner.storage;
        let (offset, expected_len) = chunk_range(&request.headers)?;
        storage
            .append(id, offset, expected_len, body.into_data_stream())
            .await?;
        self.publish_upload(name, id, &digest).await?;
        Ok(blob_created(name, &digest))
    }

    /// Verifies and publishes an upload, and links it to `name`, with garbage collection held
    /// off in between.
    async fn publish_upload(&self, name: &Name, id: &str, digest: &Digest) -> Result<()> {
        let _in_use = self.inner.gc_lock.read().await;
        let size = self.inner.storage.commit(id, digest).await?;
        self.inner.metadata.link_blob(name, digest, size).await
    }

    pub(super) async fn cancel_upload(&self, name: &Name, id: &str) -> Result<Response> {
        self.upload_of(name, id).await?;
        self.inner.storage.delete_upload(id).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    /// The upload's current size, checking it belongs to `name`.
    async fn upload_of(&self, name: &Name, id: &str) -> Result<u64> {
        let (repo, size) = self.inner.storage.upload_state(id).await?;
        if repo != name.as_str() {
            return Err(RegistryError::new(
                ErrorCode::BlobUploadUnknown,
                "unknown upload session",
            ));
        }
        Ok(size)
    }
}

/// A monolithic upload's session, deleted when dropped unless it was published.
struct Abandoned<'a> {
    storage: &'a super::storage::BlobStore,
    id: Option<&'a str>,
}

impl Abandoned<'_> {
    fn published(mut self) {
        self.id = None;
    }
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.storage.discard_upload(id);
        }
    }
}

fn blob_created(name: &Name, digest: &Digest) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(LOCATION, header(&format!("/v2/{name}/blobs/{digest}")));
    headers.insert("Docker-Content-Digest", header(&digest.to_string()));
    headers.insert(CONTENT_LENGTH, header("0"));
    (StatusCode::CREATED, headers).into_response()
}

fn upload_accepted(name: &Name, id: &str, size: u64) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(LOCATION, header(&format!("/v2/{name}/blobs/uploads/{id}")));
    headers.insert(RANGE, header(&format!("0-{}", size.saturating_sub(1))));
    headers.insert("Docker-Upload-UUID", header(id));
    headers.insert(CONTENT_LENGTH, header("0"));
    (StatusCode::ACCEPTED, headers).into_response()
}

fn header(value: &str) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_str(value).expect("registry header values are ASCII")
}

/// Where a chunk goes and how long it must be: from `Content-Range` when given (chunked
/// uploads), else at the end of the upload with any length (streamed uploads).
fn chunk_range(headers: &HeaderMap) -> Result<(Option<u64>, Option<u64>)> {
    match headers.get(CONTENT_RANGE) {
        Some(value) => {
            let (start, end) = parse_content_range(value.to_str().unwrap_or(""))?;
            Ok((Some(start), Some(end - start + 1)))
        }
        None => Ok((None, None)),
    }
}

/// Parses an upload `Content-Range` (`<start>-<end>`, inclusive; `bytes ` prefixes tolerated).
fn parse_content_range(value: &str) -> Result<(u64, u64)> {
    let text = value
        .trim()
        .trim_start_matches("bytes")
        .trim_start_matches(['=', ' ']);
    let text = text.split('/').next().unwrap_or(text);
    let invalid = || {
        RegistryError::new(
            ErrorCode::RangeInvalid,
            format!("invalid Content-Range {value:?}"),
        )
    };
    let (start, end) = text.split_once('-').ok_or_else(invalid)?;
    let (start, end): (u64, u64) = (
        start.parse().map_err(|_| invalid())?,
        end.parse().map_err(|_| invalid())?,
    );
    if end < start {
        return Err(invalid());
    }
    Ok((start, end))
}

/// What a `Range` header asks of a blob of `size` bytes, read as RFC 9110 § 14.2 has it:
/// `Ok(Some)` for one satisfiable byte range (inclusive), `Ok(None)` for a header to ignore
/// (another unit, a malformed value, several ranges: the whole blob is served), `Err` for a
/// byte range that cannot be served from `size` bytes (416).
fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.split_once('-') else {
        return Ok(None);
    };
    let number = |text: &str| text.trim().parse::<u64>().ok();
    let unsatisfiable = || {
        RegistryError::new(
            ErrorCode::RangeInvalid,
            format!("range {value:?} cannot be served from {size} bytes"),
        )
    };
    let last = size.checked_sub(1);
    let range = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let Some(suffix) = number(suffix) else {
                return Ok(None);
            };
            match last {
                Some(last) if suffix > 0 => (size.saturating_sub(suffix), last),
                _ => return Err(unsatisfiable()),
            }
        }
        (start, end) => {
            let Some(start) = number(start) else {
                return Ok(None);
            };
            let end = match end {
                "" => None,
                end => match number(end) {
                    Some(end) if end >= start => Some(end),
                    _ => return Ok(None),
                },
            };
            match last {
                Some(last) if start <= last => (start, end.map_or(last, |end| end.min(last))),
                _ => return Err(unsatisfiable()),
            }
        }
    };
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_like_http() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some((90, 99)));
        assert_eq!(parse_range("bytes=-1000", 100).unwrap(), Some((0, 99)));
        assert_eq!(parse_range("bytes=95-200", 100).unwrap(), Some((95, 99)));
        // Ignored: the whole blob is served.
        for ignored in [
            "items=0-5",
            "bytes=0-1,3-4",
            "bytes=5-2",
            "bytes=x-",
            "bytes=5",
        ] {
            assert_eq!(parse_range(ignored, 100).unwrap(), None, "{ignored}");
        }
        // Unsatisfiable: 416.
        for bad in ["bytes=100-", "bytes=-0", "bytes=200-300"] {
            assert!(parse_range(bad, 100).is_err(), "{bad}");
        }
        assert!(parse_range("bytes=0-", 0).is_err());
        assert_eq!(parse_content_range("0-99").unwrap(), (0, 99));
        assert_eq!(parse_content_range("bytes 10-19/*").unwrap(), (10, 19));
        assert!(parse_content_range("9-1").is_err());
    }
}
