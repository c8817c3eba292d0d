//! BuildKit's "fsutil" DiffCopy packet protocol, which transfers directory trees.
//!
//! A transfer has a sender and a receiver exchanging [`Packet`]s over one bidirectional stream:
//!
//! 1. The sender sends the STAT of every entry of the tree ([`Stat`]: a relative `/`-separated
//!    path, a Go `fs.FileMode` — see [`file_mode`] — owner, size, modification time in
//!    nanoseconds, symlink or hardlink target), depth-first with each directory's entries sorted
//!    by the bytes of their names, then a STAT without a stat to end the listing. An entry's id
//!    is its 0-based position in that listing.
//! 2. The receiver sends REQ with the id of each regular file whose data it wants, at any time
//!    after that file's STAT.
//! 3. The sender answers each REQ with the file's data as DATA packets of up to 32 KiB, then an
//!    empty DATA; the data of different files may interleave, and with STATs.
//! 4. Once it has everything it asked for, the receiver sends FIN; the sender answers FIN and
//!    the transfer is over. An ERR packet from either side aborts it.
//!
//! [`send`] is the sender (the client side of `FileSync.DiffCopy`, sending a build context to
//! the daemon) and [`receive`] the receiver (the client side of `FileSend.DiffCopy`, where the
//! daemon's `local` exporter sends the build result). [`Filter`] selects what a sender sends;
//! [`TransferCounters`] follows a transfer's progress.

mod counters;
mod filter;
mod follow;
mod order;
mod receive;
mod send;
pub mod stat;
mod walk;
mod writer;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use bollard_buildkit_proto::fsutil::types::packet::PacketType;
use bollard_buildkit_proto::fsutil::types::{Packet, Stat};

pub use counters::{TransferCounters, TransferStats};
pub use filter::Filter;
pub use receive::receive;
pub use send::send;
pub use stat::{
    MODE_APPEND, MODE_CHAR_DEVICE, MODE_DEVICE, MODE_DIR, MODE_EXCLUSIVE, MODE_IRREGULAR,
    MODE_NAMED_PIPE, MODE_PERM, MODE_SETGID, MODE_SETUID, MODE_SOCKET, MODE_STICKY, MODE_SYMLINK,
    MODE_TEMPORARY, MODE_TYPE, file_mode,
};

/// The most file data one DATA packet carries, as Go's fsutil sends it.
const CHUNK_SIZE: usize = 32 * 1024;

/// An error of a transfer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation on `path` failed.
    #[error("{}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The other side broke the protocol (a packet out of place, entries out of order).
    #[error("fsutil protocol error: {0}")]
    Protocol(String),
    /// The receiver aborted the transfer with an ERR packet.
    #[error("error from receiver: {0}")]
    Receiver(String),
    /// The sender aborted the transfer with an ERR packet.
    #[error("error from sender: {0}")]
    Sender(String),
    /// A REQ or DATA packet named a file id that cannot be requested or was not requested.
    #[error("invalid file id {0}")]
    InvalidId(u32),
    /// A path is not acceptable: absolute, not clean, with `..`, below something that is not a
    /// directory, not UTF-8.
    #[error("invalid path {path:?}: {reason}")]
    BadPath {
        /// The path as received or found.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An include or exclude pattern is malformed.
    #[error("invalid filter")]
    Pattern(#[from] crate::dockerignore::Error),
    /// The stream of incoming packets failed.
    #[error("transfer stream failed: {0}")]
    Transport(Box<tonic::Status>),
    /// The stream of outgoing packets was closed before the transfer ended.
    #[error("the outgoing packet stream was closed")]
    Closed,
    /// A background task of the transfer stopped unexpectedly (it panicked).
    #[error("transfer task failed: {0}")]
    Task(String),
}

impl Error {
    /// Whether the other side should hear about this error with an ERR packet: not when it
    /// sent the error itself or when the stream is gone.
    fn tell_peer(&self) -> bool {
        !matches!(
            self,
            Error::Receiver(_) | Error::Sender(_) | Error::Transport(_) | Error::Closed
        )
    }
}

/// The type of a packet, or a protocol error for an unknown one.
fn packet_type(packet: &Packet) -> Result<PacketType, Error> {
    PacketType::try_from(packet.r#type)
        .map_err(|_| Error::Protocol(format!("unknown packet type {}", packet.r#type)))
}

/// A packet of `kind` with the given fields.
fn packet(kind: PacketType, stat: Option<Stat>, id: u32, data: Vec<u8>) -> Packet {
    Packet {
        r#type: kind as i32,
        stat,
        id,
        data,
    }
}

/// The text an ERR packet carries.
fn error_text(packet: &Packet) -> String {
    String::from_utf8_lossy(&packet.data).into_owned()
}

/// Sends an ERR packet describing `error` when the peer should hear about it, and returns
/// `error`.
async fn report(outgoing: &tokio::sync::mpsc::Sender<Packet>, error: Error) -> Error {
    if error.tell_peer() {
        let message = depot_core::ErrorChain(&error).to_string().into_bytes();
        // The peer may be gone already; the error is returned either way.
        let _ = outgoing
            .send(packet(PacketType::PacketErr, None, 0, message))
            .await;
    }
    error
}
