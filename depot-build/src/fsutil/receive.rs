//! The receiving side of a transfer: check the listing, request every regular file, write the
//! tree under the destination.
//!
//! This task runs the protocol and checks everything the sender says; the filesystem work is
//! done in order by a blocking [writer](super::writer) fed through a bounded channel, so a slow
//! disk slows the transfer down instead of filling memory.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use bollard_buildkit_proto::fsutil::types::packet::PacketType;
use bollard_buildkit_proto::fsutil::types::{Packet, Stat};
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::counters::TransferCounters;
use super::order::{Order, validate_path};
use super::stat::{MODE_DIR, MODE_SYMLINK, can_request_data};
use super::writer::{self, Op};
use super::{Error, error_text, packet, packet_type, report};

/// How many operations may wait for the disk.
const QUEUED_OPS: usize = 64;

/// Receives a tree from a sender into `dest`: the receiver side of `FileSend.DiffCopy`, which
/// BuildKit's `local` exporter uses.
///
/// `incoming` is the sender's packets and `outgoing` takes ours. `dest` is created if missing
/// and merged into: entries already there that the sender also sends are replaced, others are
/// kept. Every regular file is requested; directories, symlinks and hardlinks are created as
/// listed, with their modes and (except for symlinks) modification times; ownership is not
/// changed, so everything belongs to the current user. Device nodes, FIFOs and sockets are
/// skipped. Once all the data is written FIN is sent, and this returns when the sender answers
/// with FIN or ends the stream.
///
/// Paths are checked before anything is written: an absolute path, a path with `..`, an
/// unclean path or one out of walk order (which includes any path below something that was not
/// sent as a directory, such as a symlink) fails the transfer, which is reported to the sender
/// with an ERR packet. Files are written to temporary files and renamed into place when
/// complete, so a failed transfer leaves no partial file behind.
pub async fn receive<S>(
    dest: PathBuf,
    incoming: S,
    outgoing: mpsc::Sender<Packet>,
    counters: Arc<TransferCounters>,
) -> Result<(), Error>
where
    S: Stream<Item = Result<Packet, tonic::Status>> + Unpin + Send,
{
    let result = run(dest, incoming, &outgoing, counters).await;
    match result {
        Ok(()) => Ok(()),
        Err(error) => Err(report(&outgoing, error).await),
    }
}

/// The transfer, up to the sender's FIN; errors are reported to the sender by the caller.
async fn run<S>(
    dest: PathBuf,
    mut incoming: S,
    outgoing: &mpsc::Sender<Packet>,
    counters: Arc<TransferCounters>,
) -> Result<(), Error>
where
    S: Stream<Item = Result<Packet, tonic::Status>> + Unpin,
{
    tokio::fs::create_dir_all(&dest)
        .await
        .map_err(|source| Error::Io {
            path: dest.clone(),
            source,
        })?;
    let (ops, queue) = mpsc::channel(QUEUED_OPS);
    let disk = Disk {
        ops,
        handle: tokio::task::spawn_blocking(move || writer::run(dest, queue)),
        joined: false,
    };
    let mut receiver = Receiver {
        disk,
        outgoing,
        counters,
        order: Order::new(),
        regular: HashMap::new(),
        requests: VecDeque::new(),
        outstanding: HashSet::new(),
        next_id: 0,
        listed: false,
    };
    let result = receiver.transfer(&mut incoming).await;
    match result {
        Ok(()) => receiver.disk.finish().await?,
        Err(error) => {
            receiver.disk.abort().await;
            return Err(error);
        }
    }
    outgoing
        .send(packet(PacketType::PacketFin, None, 0, Vec::new()))
        .await
        .map_err(|_| Error::Closed)?;
    // The sender answers FIN with FIN; the end of the stream is as good.
    match incoming.next().await {
        None => Ok(()),
        Some(Err(status)) => Err(Error::Transport(Box::new(status))),
        Some(Ok(packet)) => match packet_type(&packet)? {
            PacketType::PacketFin => Ok(()),
            PacketType::PacketErr => Err(Error::Sender(error_text(&packet))),
            kind => Err(unexpected(kind)),
        },
    }
}

/// The blocking writer and the channel feeding it.
struct Disk {
    ops: mpsc::Sender<Op>,
    handle: JoinHandle<Result<(), Error>>,
    /// Whether `handle` has been awaited to the end.
    joined: bool,
}

impl Disk {
    /// Queues an operation; if the writer has stopped, returns the error that stopped it.
    async fn submit(&mut self, op: Op) -> Result<(), Error> {
        if self.ops.send(op).await.is_ok() {
            return Ok(());
        }
        Err(self
            .join()
            .await
            .err()
            .unwrap_or_else(|| Error::Task("the disk writer stopped".to_owned())))
    }

    /// Waits for the writer to end (at once if it already has).
    async fn join(&mut self) -> Result<(), Error> {
        if self.joined {
            return Ok(());
        }
        let result = (&mut self.handle).await;
        self.joined = true;
        result.map_err(|error| Error::Task(error.to_string()))?
    }

    /// Lets the writer finish the directories and waits for it.
    async fn finish(mut self) -> Result<(), Error> {
        self.submit(Op::Done).await?;
        self.join().await
    }

    /// Stops the writer, which removes its temporary files, and waits for it.
    async fn abort(self) {
        let Disk {
            ops,
            mut handle,
            joined,
        } = self;
        drop(ops);
        if !joined {
            // The transfer already failed; how the writer ended does not matter.
            let _ = (&mut handle).await;
        }
    }
}

/// The state of a receiving transfer.
struct Receiver<'a> {
    disk: Disk,
    outgoing: &'a mpsc::Sender<Packet>,
    counters: Arc<TransferCounters>,
    order: Order,
    /// The regular files listed so far, by path, for hardlinks.
    regular: HashMap<String, u32>,
    /// Files to request, whose REQ has not been sent yet.
    requests: VecDeque<u32>,
    /// Requested files whose data has not ended.
    outstanding: HashSet<u32>,
    next_id: u32,
    /// Whether the end of the listing has arrived.
    listed: bool,
}

impl Receiver<'_> {
    /// Reads packets until the listing has ended and every requested file is complete.
    async fn transfer<S>(&mut self, incoming: &mut S) -> Result<(), Error>
    where
        S: Stream<Item = Result<Packet, tonic::Status>> + Unpin,
    {
        while !self.listed || !self.requests.is_empty() || !self.outstanding.is_empty() {
            let next = tokio::select! {
                // Requests go out first when there is room for them, but without holding up
                // the packets coming in: a sender that stops reading requests until its data
                // is read would otherwise wait for us while we wait for it.
                biased;
                permit = self.outgoing.reserve(), if !self.requests.is_empty() => {
                    let permit = permit.map_err(|_| Error::Closed)?;
                    if let Some(id) = self.requests.pop_front() {
                        permit.send(packet(PacketType::PacketReq, None, id, Vec::new()));
                        self.outstanding.insert(id);
                    }
                    continue;
                }
                next = incoming.next() => next,
                ended = self.disk.join(), if !self.disk.joined => {
                    return Err(ended.err().unwrap_or_else(|| {
                        Error::Task("the disk writer stopped".to_owned())
                    }));
                }
            };
            let packet = match next {
                Some(Ok(packet)) => packet,
                Some(Err(status)) => return Err(Error::Transport(Box::new(status))),
                None => {
                    return Err(Error::Protocol(
                        "the sender ended the stream before the transfer was complete".to_owned(),
                    ));
                }
            };
            match packet_type(&packet)? {
                PacketType::PacketStat => self.stat(packet.stat).await?,
                PacketType::PacketData => self.data(packet.id, packet.data).await?,
                PacketType::PacketErr => return Err(Error::Sender(error_text(&packet))),
                PacketType::PacketFin => {
                    return Err(Error::Protocol(
                        "the sender sent FIN before the transfer was complete".to_owned(),
                    ));
                }
                kind @ PacketType::PacketReq => return Err(unexpected(kind)),
            }
        }
        Ok(())
    }

    /// Handles a STAT: checks it, has the entry created, requests a regular file's data.
    async fn stat(&mut self, stat: Option<Stat>) -> Result<(), Error> {
        if self.listed {
            return Err(Error::Protocol(
                "STAT after the end of the listing".to_owned(),
            ));
        }
        let Some(stat) = stat else {
            self.listed = true;
            return Ok(());
        };
        let id = self.next_id;
        self.next_id = id
            .checked_add(1)
            .ok_or_else(|| Error::Protocol("too many entries for 32-bit ids".to_owned()))?;
        self.counters.add_entry();
        let Stat {
            path,
            mode,
            mod_time: mtime,
            linkname,
            ..
        } = stat;
        self.order.check(&path, mode & MODE_DIR != 0)?;
        if mode & MODE_DIR != 0 {
            self.disk.submit(Op::Dir { path, mode, mtime }).await
        } else if mode & MODE_SYMLINK != 0 {
            if linkname.is_empty() || linkname.contains('\0') {
                return Err(Error::BadPath {
                    path,
                    reason: format!("invalid symlink target {linkname:?}"),
                });
            }
            let op = Op::Symlink {
                path,
                target: linkname,
            };
            self.disk.submit(op).await
        } else if !can_request_data(mode) {
            // Device nodes, FIFOs, sockets: not recreated.
            Ok(())
        } else if !linkname.is_empty() {
            validate_path(&linkname)?;
            let Some(&target) = self.regular.get(&linkname) else {
                return Err(Error::BadPath {
                    path,
                    reason: format!("hardlink to {linkname:?}, which is not a file listed before"),
                });
            };
            self.disk.submit(Op::Link { path, target }).await
        } else {
            self.regular.insert(path.clone(), id);
            let op = Op::File {
                id,
                path,
                mode,
                mtime,
            };
            self.disk.submit(op).await?;
            self.requests.push_back(id);
            Ok(())
        }
    }

    /// Handles DATA: the next bytes of a requested file, or its end when empty.
    async fn data(&mut self, id: u32, data: Vec<u8>) -> Result<(), Error> {
        if !self.outstanding.contains(&id) {
            return Err(Error::InvalidId(id));
        }
        if data.is_empty() {
            self.outstanding.remove(&id);
            self.counters.add_file();
            self.disk.submit(Op::Finish { id }).await
        } else {
            self.counters.add_bytes(data.len());
            self.disk.submit(Op::Data { id, data }).await
        }
    }
}

/// The error for a packet a receiver never expects.
fn unexpected(kind: PacketType) -> Error {
    Error::Protocol(format!(
        "unexpected {} packet from the sender",
        kind.as_str_name()
    ))
}
