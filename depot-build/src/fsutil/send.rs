//! The sending side of a transfer: walk the tree, answer requests with file data.
//!
//! Three kinds of work run at once: the walk (one blocking task sending STATs), the file
//! readers ([`FILE_READERS`] blocking tasks, each sending one requested file at a time), and
//! the protocol loop (this task), which reads the receiver's packets and queues requests for
//! the readers. The walk and the readers send their packets straight into the outgoing
//! channel, whose bound keeps memory flat however big the tree is; only the id → path map of
//! the regular files sent so far is kept.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use bollard_buildkit_proto::fsutil::types::Packet;
use bollard_buildkit_proto::fsutil::types::packet::PacketType;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::counters::TransferCounters;
use super::filter::Filter;
use super::stat::can_request_data;
use super::walk::walk;
use super::{CHUNK_SIZE, Error, error_text, packet, packet_type, report};

/// How many requested files are read and sent at the same time.
const FILE_READERS: usize = 4;

/// A regular file the receiver may request.
#[derive(Debug, Clone)]
struct FileRef {
    /// Relative to the root.
    path: String,
    /// The size from the walk, to size the first read.
    size: u64,
}

/// What the walk, the readers and the protocol loop share.
struct Shared {
    root: PathBuf,
    files: Mutex<HashMap<u32, FileRef>>,
    cancel: AtomicBool,
    outgoing: mpsc::Sender<Packet>,
    counters: Arc<TransferCounters>,
}

impl Shared {
    /// Sends a packet from a blocking task.
    fn send_blocking(&self, packet: Packet) -> Result<(), Error> {
        self.outgoing
            .blocking_send(packet)
            .map_err(|_| Error::Closed)
    }
}

/// Stops the background tasks when the transfer ends, however it ends.
struct CancelOnDrop(Arc<Shared>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel.store(true, Ordering::Relaxed);
    }
}

/// Sends the tree at `root` to a receiver: the sender side of `FileSync.DiffCopy`.
///
/// `incoming` is the receiver's packets and `outgoing` takes ours. Every entry `filter`
/// includes is listed; the data of a regular file is sent when the receiver requests it, in
/// 32 KiB DATA packets, up to four files at a time. A requested file that cannot
/// be opened any more is sent as empty. Returns once the receiver's FIN has been answered.
///
/// An ERR from the receiver ends the transfer with [`Error::Receiver`]. A failure here (an
/// unreadable directory, a request for an unknown id, a protocol violation) is reported to the
/// receiver with an ERR packet before it is returned.
pub async fn send<S>(
    root: PathBuf,
    filter: Filter,
    incoming: S,
    outgoing: mpsc::Sender<Packet>,
    counters: Arc<TransferCounters>,
) -> Result<(), Error>
where
    S: Stream<Item = Result<Packet, tonic::Status>> + Unpin + Send,
{
    let shared = Arc::new(Shared {
        root,
        files: Mutex::new(HashMap::new()),
        cancel: AtomicBool::new(false),
        outgoing: outgoing.clone(),
        counters,
    });
    let _cancel = CancelOnDrop(shared.clone());
    let mut tasks = JoinSet::new();
    let walker = shared.clone();
    tasks.spawn_blocking(move || list(&walker, &filter));
    let (requests, queue) = std_mpsc::channel();
    let queue = Arc::new(Mutex::new(queue));
    for _ in 0..FILE_READERS {
        let (shared, queue) = (shared.clone(), queue.clone());
        tasks.spawn_blocking(move || read_files(&shared, &queue));
    }
    match serve(&shared, incoming, requests, &mut tasks).await {
        Ok(()) => Ok(()),
        Err(error) => {
            // Nothing more is sent after the ERR: the walk and the readers stop first (they
            // check for cancellation between packets).
            shared.cancel.store(true, Ordering::Relaxed);
            tasks.shutdown().await;
            Err(report(&outgoing, error).await)
        }
    }
}

/// The protocol loop: reads the receiver's packets until its FIN (answered) or an error.
async fn serve<S>(
    shared: &Shared,
    mut incoming: S,
    requests: std_mpsc::Sender<(u32, FileRef)>,
    tasks: &mut JoinSet<Result<(), Error>>,
) -> Result<(), Error>
where
    S: Stream<Item = Result<Packet, tonic::Status>> + Unpin,
{
    loop {
        tokio::select! {
            next = incoming.next() => {
                let received = match next {
                    Some(Ok(received)) => received,
                    Some(Err(status)) => return Err(Error::Transport(Box::new(status))),
                    None => {
                        return Err(Error::Protocol(
                            "the receiver ended the stream without FIN".to_owned(),
                        ));
                    }
                };
                match packet_type(&received)? {
                    PacketType::PacketReq => {
                        let file = shared
                            .files
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .get(&received.id)
                            .cloned()
                            .ok_or(Error::InvalidId(received.id))?;
                        if requests.send((received.id, file)).is_err() {
                            // Every reader stopped, which only an error does.
                            return Err(first_error(tasks).await);
                        }
                    }
                    PacketType::PacketFin => {
                        // The receiver has all it asked for: stop what still runs (a walk
                        // the receiver did not wait for), then answer.
                        shared.cancel.store(true, Ordering::Relaxed);
                        drop(requests);
                        while tasks.join_next().await.is_some() {}
                        return shared
                            .outgoing
                            .send(packet(PacketType::PacketFin, None, 0, Vec::new()))
                            .await
                            .map_err(|_| Error::Closed);
                    }
                    PacketType::PacketErr => return Err(Error::Receiver(error_text(&received))),
                    kind @ (PacketType::PacketStat | PacketType::PacketData) => {
                        return Err(Error::Protocol(format!(
                            "unexpected {} packet from the receiver",
                            kind.as_str_name()
                        )));
                    }
                }
            }
            Some(joined) = tasks.join_next() => joined_result(joined)?,
        }
    }
}

/// The first error among the tasks that end.
async fn first_error(tasks: &mut JoinSet<Result<(), Error>>) -> Error {
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = joined_result(joined) {
            return error;
        }
    }
    Error::Task("the file readers stopped".to_owned())
}

/// The result of a task that ended.
fn joined_result(joined: Result<Result<(), Error>, tokio::task::JoinError>) -> Result<(), Error> {
    joined.map_err(|error| Error::Task(error.to_string()))?
}

/// The walk: sends the STAT of every entry, then the end of the listing.
fn list(shared: &Shared, filter: &Filter) -> Result<(), Error> {
    let mut next_id: u32 = 0;
    walk(&shared.root, filter, &shared.cancel, &mut |stat| {
        let id = next_id;
        next_id = next_id
            .checked_add(1)
            .ok_or_else(|| Error::Protocol("too many entries for 32-bit ids".to_owned()))?;
        if can_request_data(stat.mode) {
            let file = FileRef {
                path: stat.path.clone(),
                size: u64::try_from(stat.size).unwrap_or(0),
            };
            shared
                .files
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id, file);
        }
        shared.send_blocking(packet(PacketType::PacketStat, Some(stat), 0, Vec::new()))?;
        shared.counters.add_entry();
        Ok(())
    })?;
    if shared.cancel.load(Ordering::Relaxed) {
        return Ok(());
    }
    shared.send_blocking(packet(PacketType::PacketStat, None, 0, Vec::new()))
}

/// A file reader: sends requested files until the queue closes or the transfer stops.
fn read_files(
    shared: &Shared,
    queue: &Mutex<std_mpsc::Receiver<(u32, FileRef)>>,
) -> Result<(), Error> {
    loop {
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((id, file)) = next else {
            return Ok(());
        };
        if shared.cancel.load(Ordering::Relaxed) {
            return Ok(());
        }
        send_file(shared, id, &file)?;
    }
}

/// Sends the data of one file and the empty DATA that ends it.
fn send_file(shared: &Shared, id: u32, file: &FileRef) -> Result<(), Error> {
    let path = shared.root.join(&file.path);
    // A file that went away or became unreadable since the walk is sent as empty, as Go does.
    if let Ok(opened) = File::open(&path) {
        send_data(shared, id, opened, file.size, &path)?;
        if shared.cancel.load(Ordering::Relaxed) {
            return Ok(());
        }
        shared.counters.add_file();
    }
    shared.send_blocking(packet(PacketType::PacketData, None, id, Vec::new()))
}

/// Sends the contents of an open file in [`CHUNK_SIZE`] packets, reading each chunk with as
/// few reads as the file allows: a file of the expected size takes one read per chunk and one
/// more to see its end.
fn send_data(
    shared: &Shared,
    id: u32,
    mut file: File,
    expected: u64,
    path: &Path,
) -> Result<(), Error> {
    let mut remaining = expected;
    loop {
        if shared.cancel.load(Ordering::Relaxed) {
            return Ok(());
        }
        let capacity = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
            .min(CHUNK_SIZE);
        let mut chunk = Vec::with_capacity(capacity);
        (&mut file)
            .take(CHUNK_SIZE as u64)
            .read_to_end(&mut chunk)
            .map_err(|source| Error::Io {
                path: path.to_owned(),
                source,
            })?;
        let read = chunk.len();
        if read == 0 {
            return Ok(());
        }
        remaining = remaining.saturating_sub(read as u64);
        shared.counters.add_bytes(read);
        shared.send_blocking(packet(PacketType::PacketData, None, id, chunk))?;
        if read < CHUNK_SIZE {
            // `read_to_end` stopped short of the chunk: the file ended.
            return Ok(());
        }
    }
}
