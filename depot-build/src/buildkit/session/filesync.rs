//! `moby.filesync.v1.FileSync/DiffCopy`: the daemon pulls a local directory (the context, the
//! Dockerfile's directory, a named context) and this client sends it with the fsutil
//! protocol, filtered as the daemon's metadata asks.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use bollard_buildkit_proto::fsutil::types::Packet;
use bollard_buildkit_proto::moby::filesync::v1::file_sync_server;
use futures_util::stream::{BoxStream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

use crate::fsutil::{self, Filter, TransferCounters};

/// One local directory the daemon may ask for, with its transfer counters.
#[derive(Clone, Debug)]
pub(crate) struct LocalDir {
    /// The directory.
    pub(crate) path: PathBuf,
    /// What was sent from it, summed over every transfer of this session.
    pub(crate) counters: Arc<TransferCounters>,
}

/// The session's FileSync service.
pub(super) struct FileSync {
    pub(super) locals: HashMap<String, LocalDir>,
}

type PacketStream = BoxStream<'static, Result<Packet, Status>>;

#[tonic::async_trait]
impl file_sync_server::FileSync for FileSync {
    type DiffCopyStream = PacketStream;

    async fn diff_copy(
        &self,
        request: Request<Streaming<Packet>>,
    ) -> Result<Response<PacketStream>, Status> {
        let metadata = request.metadata();
        let name = values(metadata, "dir-name")
            .into_iter()
            .next()
            .unwrap_or_default();
        let local = self
            .locals
            .get(&name)
            .ok_or_else(|| Status::not_found(format!("no access allowed to dir {name:?}")))?;
        let filter = Filter::new(
            &local.path,
            values(metadata, "include-patterns"),
            values(metadata, "exclude-patterns"),
            values(metadata, "followpaths"),
        )
        .map_err(|err| Status::invalid_argument(depot_core::ErrorChain(&err).to_string()))?;
        let (sender, receiver) = mpsc::channel(256);
        let sending = tokio::spawn(fsutil::send(
            local.path.clone(),
            filter,
            request.into_inner(),
            sender,
            local.counters.clone(),
        ));
        let outcome = super::outcome(sending, "sending files");
        Ok(Response::new(
            ReceiverStream::new(receiver).map(Ok).chain(outcome).boxed(),
        ))
    }

    type TarStreamStream = PacketStream;

    async fn tar_stream(
        &self,
        _request: Request<Streaming<Packet>>,
    ) -> Result<Response<PacketStream>, Status> {
        Err(Status::unimplemented(
            "only the diffcopy protocol is offered",
        ))
    }
}

/// All values of a multi-valued metadata key, query-unescaped when `<key>-encoded` says
/// BuildKit (0.12+) escaped them.
fn values(metadata: &MetadataMap, key: &str) -> Vec<String> {
    let encoded = metadata
        .get(format!("{key}-encoded"))
        .is_some_and(|v| v.as_bytes() == b"1");
    metadata
        .get_all(key)
        .iter()
        .map(|value| {
            let raw = String::from_utf8_lossy(value.as_bytes());
            if encoded {
                query_unescape(&raw)
            } else {
                raw.into_owned()
            }
        })
        .collect()
}

/// Reverses Go's `url.QueryEscape`: `+` is a space, `%XX` a byte. Malformed escapes are kept
/// as they are.
fn query_unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_go_query_escaping() {
        assert_eq!(query_unescape("a+b%2Fc%C3%A9"), "a b/cé");
        assert_eq!(query_unescape("100%"), "100%");
        assert_eq!(query_unescape("%zz%4"), "%zz%4");
        assert_eq!(query_unescape("plain/*.go"), "plain/*.go");
    }

    #[test]
    fn reads_multi_valued_and_encoded_metadata() {
        let mut metadata = MetadataMap::new();
        metadata.append("followpaths", "Dockerfile".parse().unwrap());
        metadata.append("followpaths", ".dockerignore".parse().unwrap());
        metadata.append("exclude-patterns", "a%20b".parse().unwrap());
        metadata.insert("exclude-patterns-encoded", "1".parse().unwrap());
        assert_eq!(
            values(&metadata, "followpaths"),
            ["Dockerfile", ".dockerignore"]
        );
        assert_eq!(values(&metadata, "exclude-patterns"), ["a b"]);
        assert!(values(&metadata, "include-patterns").is_empty());
    }
}
