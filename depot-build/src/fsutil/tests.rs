//! Transfers end to end: a sender and a receiver connected in process, and each side against a
//! scripted peer.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, Permissions};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard_buildkit_proto::fsutil::types::packet::PacketType;
use bollard_buildkit_proto::fsutil::types::{Packet, Stat};
use futures_util::Stream;
use tokio::sync::mpsc;

use super::*;

/// The packets of a channel as the incoming stream of a transfer.
fn stream(
    mut rx: mpsc::Receiver<Packet>,
) -> impl Stream<Item = Result<Packet, tonic::Status>> + Unpin + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|p| p.map(Ok)))
}

fn kind(packet: &Packet) -> PacketType {
    PacketType::try_from(packet.r#type).unwrap()
}

fn stat_packet(stat: Option<Stat>) -> Packet {
    packet(PacketType::PacketStat, stat, 0, Vec::new())
}

fn stat(path: &str, mode: u32, linkname: &str) -> Stat {
    Stat {
        path: path.to_owned(),
        mode,
        linkname: linkname.to_owned(),
        ..Default::default()
    }
}

/// Bytes that do not repeat with any short period.
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect()
}

fn set_mtime(path: &Path, secs: u64, nanos: u32) {
    let time = UNIX_EPOCH + Duration::new(secs, nanos);
    File::open(path).unwrap().set_modified(time).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, Permissions::from_mode(mode)).unwrap();
}

/// Size of the big file: many chunks and a partial last one.
const BIG: usize = 5 * 1024 * 1024 + 123;

/// A tree with every kind of entry the protocol carries. Returns (regular files to transfer,
/// their total size).
fn make_source(root: &Path) -> (u64, u64) {
    fs::create_dir_all(root.join("bin")).unwrap();
    chmod(&root.join("bin"), 0o755);
    fs::write(root.join("bin/tool"), "#!/bin/sh\necho hi\n").unwrap();
    chmod(&root.join("bin/tool"), 0o755);
    fs::create_dir_all(root.join("data")).unwrap();
    fs::write(root.join("data/big.bin"), pseudo_random(BIG)).unwrap();
    fs::write(root.join("data/empty"), "").unwrap();
    chmod(&root.join("data/empty"), 0o600);
    fs::create_dir_all(root.join("docs")).unwrap();
    fs::write(root.join("docs/readme.md"), "# hello\n").unwrap();
    fs::create_dir_all(root.join("emptydir")).unwrap();
    chmod(&root.join("emptydir"), 0o700);
    fs::create_dir_all(root.join("locked")).unwrap();
    fs::write(root.join("locked/inside"), "read only").unwrap();
    chmod(&root.join("locked/inside"), 0o444);
    fs::write(root.join("a-first"), "linked twice").unwrap();
    fs::create_dir_all(root.join("z")).unwrap();
    fs::hard_link(root.join("a-first"), root.join("z/second")).unwrap();
    fs::write(root.join("setuid"), "s").unwrap();
    chmod(&root.join("setuid"), 0o4755);
    fs::create_dir_all(root.join("tmpdir")).unwrap();
    chmod(&root.join("tmpdir"), 0o1777);
    symlink("docs/readme.md", root.join("link-rel")).unwrap();
    symlink("/nonexistent/target", root.join("link-abs")).unwrap();
    symlink("docs", root.join("link-dir")).unwrap();

    let files = [
        "bin/tool",
        "data/big.bin",
        "data/empty",
        "docs/readme.md",
        "locked/inside",
        "a-first",
        "setuid",
    ];
    for (i, file) in files.iter().enumerate() {
        set_mtime(&root.join(file), 1_600_000_000 + i as u64, 123_456_789);
    }
    for (i, dir) in ["bin", "data", "docs", "emptydir", "z", "tmpdir"]
        .iter()
        .enumerate()
    {
        set_mtime(&root.join(dir), 1_500_000_000 + i as u64, 987_654_321);
    }
    set_mtime(&root.join("locked"), 1_400_000_000, 5);
    chmod(&root.join("locked"), 0o555);
    let bytes = files
        .iter()
        .map(|f| fs::metadata(root.join(f)).unwrap().len())
        .sum();
    (files.len() as u64, bytes)
}

/// What matters of one entry of a tree.
#[derive(Debug, PartialEq)]
enum Entry {
    Dir {
        mode: u32,
        mtime: (i64, i64),
    },
    File {
        mode: u32,
        mtime: (i64, i64),
        data: Vec<u8>,
    },
    Symlink {
        target: String,
    },
}

/// Every entry below `root`, by relative path.
fn snapshot(root: &Path) -> BTreeMap<String, Entry> {
    fn visit(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let metadata = fs::symlink_metadata(&path).unwrap();
            let mode = metadata.mode() & 0o7777;
            let mtime = (metadata.mtime(), metadata.mtime_nsec());
            let entry = if metadata.file_type().is_symlink() {
                let target = fs::read_link(&path).unwrap();
                Entry::Symlink {
                    target: target.to_str().unwrap().to_owned(),
                }
            } else if metadata.is_dir() {
                visit(root, &path, out);
                Entry::Dir { mode, mtime }
            } else {
                Entry::File {
                    mode,
                    mtime,
                    data: fs::read(&path).unwrap(),
                }
            };
            out.insert(relative, entry);
        }
    }
    let mut out = BTreeMap::new();
    visit(root, root, &mut out);
    out
}

/// Runs a sender and a receiver against each other.
async fn transfer(
    source: &Path,
    dest: &Path,
    filter: Filter,
) -> (
    Result<(), Error>,
    Result<(), Error>,
    TransferStats,
    TransferStats,
) {
    let (to_receiver, from_sender) = mpsc::channel(16);
    let (to_sender, from_receiver) = mpsc::channel(16);
    let sent = Arc::new(TransferCounters::default());
    let received = Arc::new(TransferCounters::default());
    let (send_result, receive_result) = tokio::join!(
        send(
            source.to_owned(),
            filter,
            stream(from_receiver),
            to_receiver,
            sent.clone()
        ),
        receive(
            dest.to_owned(),
            stream(from_sender),
            to_sender,
            received.clone()
        ),
    );
    (
        send_result,
        receive_result,
        sent.snapshot(),
        received.snapshot(),
    )
}

#[tokio::test]
async fn round_trip_reproduces_the_tree() {
    let source = tempfile::tempdir().unwrap();
    let (files, bytes) = make_source(source.path());
    let target = tempfile::tempdir().unwrap();
    let dest = target.path().join("out");

    let (sent, received, sent_stats, received_stats) =
        transfer(source.path(), &dest, Filter::default()).await;
    sent.unwrap();
    received.unwrap();

    let expected = snapshot(source.path());
    assert_eq!(snapshot(&dest), expected);
    let first = fs::metadata(dest.join("a-first")).unwrap();
    assert_eq!(
        first.ino(),
        fs::metadata(dest.join("z/second")).unwrap().ino()
    );
    let stats = TransferStats {
        entries: expected.len() as u64,
        files,
        bytes,
    };
    assert_eq!(sent_stats, stats);
    assert_eq!(received_stats, stats);
    assert!(bytes > BIG as u64);

    // Again into the same destination: the same tree, replaced in place.
    let (sent, received, _, _) = transfer(source.path(), &dest, Filter::default()).await;
    sent.unwrap();
    received.unwrap();
    assert_eq!(snapshot(&dest), expected);
    // Directories stay writable for the cleanup of the temporary directories.
    chmod(&dest.join("locked"), 0o755);
}

#[tokio::test]
async fn round_trip_merges_and_replaces() {
    let source = tempfile::tempdir().unwrap();
    make_source(source.path());
    let target = tempfile::tempdir().unwrap();
    let dest = target.path().join("out");
    let outside = target.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::create_dir_all(dest.join("data/big.bin/nested")).unwrap();
    fs::write(dest.join("docs"), "a file where a directory comes").unwrap();
    fs::create_dir_all(dest.join("link-dir")).unwrap();
    symlink(&outside, dest.join("bin")).unwrap();
    fs::write(dest.join("extra.txt"), "kept").unwrap();

    let (sent, received, _, _) = transfer(source.path(), &dest, Filter::default()).await;
    sent.unwrap();
    received.unwrap();

    let mut expected = snapshot(source.path());
    let extra = Entry::File {
        mode: fs::metadata(dest.join("extra.txt")).unwrap().mode() & 0o7777,
        mtime: {
            let m = fs::metadata(dest.join("extra.txt")).unwrap();
            (m.mtime(), m.mtime_nsec())
        },
        data: b"kept".to_vec(),
    };
    expected.insert("extra.txt".to_owned(), extra);
    assert_eq!(snapshot(&dest), expected);
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    chmod(&dest.join("locked"), 0o755);
}

#[tokio::test]
async fn round_trip_with_filters() {
    let source = tempfile::tempdir().unwrap();
    let root = source.path();
    fs::create_dir_all(root.join("node_modules/pkg")).unwrap();
    fs::create_dir_all(root.join("sub")).unwrap();
    for file in [
        "app.log",
        "keep.log",
        "main.js",
        "node_modules/pkg/index.js",
        "node_modules/pkg/other.js",
        "sub/real.Dockerfile",
    ] {
        fs::write(root.join(file), file).unwrap();
    }
    symlink("sub/real.Dockerfile", root.join("Dockerfile")).unwrap();
    let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let filter = Filter::new(
        root,
        vec![],
        strings(&[
            "*.log",
            "!keep.log",
            "node_modules",
            "!node_modules/pkg/index.js",
        ]),
        vec![],
    )
    .unwrap();
    let target = tempfile::tempdir().unwrap();
    let (sent, received, sent_stats, _) = transfer(root, target.path(), filter).await;
    sent.unwrap();
    received.unwrap();
    let paths: Vec<String> = snapshot(target.path()).into_keys().collect();
    assert_eq!(
        paths,
        [
            "Dockerfile",
            "keep.log",
            "main.js",
            "node_modules",
            "node_modules/pkg",
            "node_modules/pkg/index.js",
            "sub",
            "sub/real.Dockerfile"
        ]
    );
    assert_eq!(sent_stats.files, 4);

    let filter = Filter::new(root, vec![], vec![], strings(&["Dockerfile"])).unwrap();
    let target = tempfile::tempdir().unwrap();
    let (sent, received, _, _) = transfer(root, target.path(), filter).await;
    sent.unwrap();
    received.unwrap();
    let paths: Vec<String> = snapshot(target.path()).into_keys().collect();
    assert_eq!(paths, ["Dockerfile", "sub", "sub/real.Dockerfile"]);
    assert_eq!(
        fs::read_to_string(target.path().join("Dockerfile")).unwrap(),
        "sub/real.Dockerfile"
    );
}

/// A scripted receiver: requests only some files, as a daemon with a warm cache does.
#[tokio::test]
async fn sends_only_requested_files() {
    let source = tempfile::tempdir().unwrap();
    make_source(source.path());
    let (to_driver, mut from_sender) = mpsc::channel(16);
    let (to_sender, from_driver) = mpsc::channel(16);
    let counters = Arc::new(TransferCounters::default());
    let sending = tokio::spawn(send(
        source.path().to_owned(),
        Filter::default(),
        stream(from_driver),
        to_driver,
        counters.clone(),
    ));

    let wanted = ["data/big.bin", "docs/readme.md"];
    let mut stats = Vec::new();
    let mut requested = HashMap::new();
    let mut data: HashMap<u32, Vec<u8>> = HashMap::new();
    let mut complete = 0;
    let mut listed = false;
    while !listed || complete < wanted.len() {
        let packet = from_sender.recv().await.unwrap();
        match kind(&packet) {
            PacketType::PacketStat => match packet.stat {
                Some(stat) => {
                    let id = stats.len() as u32;
                    if wanted.contains(&stat.path.as_str()) {
                        // Requested right away, while the listing goes on.
                        requested.insert(id, stat.path.clone());
                        to_sender
                            .send(packet_of(PacketType::PacketReq, id))
                            .await
                            .unwrap();
                    }
                    stats.push(stat);
                }
                None => listed = true,
            },
            PacketType::PacketData => {
                assert!(requested.contains_key(&packet.id), "{}", packet.id);
                assert!(packet.data.len() <= CHUNK_SIZE);
                if packet.data.is_empty() {
                    complete += 1;
                } else {
                    data.entry(packet.id).or_default().extend(packet.data);
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    to_sender
        .send(packet_of(PacketType::PacketFin, 0))
        .await
        .unwrap();
    let fin = from_sender.recv().await.unwrap();
    assert_eq!(kind(&fin), PacketType::PacketFin);
    sending.await.unwrap().unwrap();

    for (id, path) in &requested {
        assert_eq!(
            data[id],
            fs::read(source.path().join(path)).unwrap(),
            "{path}"
        );
    }
    let bytes = BIG as u64 + 8;
    assert_eq!(
        counters.snapshot(),
        TransferStats {
            entries: stats.len() as u64,
            files: 2,
            bytes
        }
    );
    // Ids are positions in the listing, directories and symlinks included.
    let positions: Vec<&str> = stats.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(positions[0], "a-first");
    assert_eq!(positions[1], "bin");
    assert_eq!(stats[1].mode, MODE_DIR | 0o755);
    chmod(&source.path().join("locked"), 0o755);
}

fn packet_of(kind: PacketType, id: u32) -> Packet {
    packet(kind, None, id, Vec::new())
}

/// Runs a sender against a scripted receiver that sends `script` at once; returns the result
/// and everything the sender sent.
async fn send_against(script: Vec<Packet>, close: bool) -> (Result<(), Error>, Vec<Packet>) {
    let source = tempfile::tempdir().unwrap();
    fs::create_dir_all(source.path().join("a")).unwrap();
    fs::write(source.path().join("a/file"), "x").unwrap();
    let (to_driver, mut from_sender) = mpsc::channel(16);
    let (to_sender, from_driver) = mpsc::channel(16);
    for packet in script {
        to_sender.send(packet).await.unwrap();
    }
    // Unless asked to close it, the stream stays open until the sender is done.
    let open = (!close).then_some(to_sender);
    let sending = tokio::spawn(send(
        source.path().to_owned(),
        Filter::default(),
        stream(from_driver),
        to_driver,
        Arc::default(),
    ));
    let mut sent = Vec::new();
    while let Some(packet) = from_sender.recv().await {
        sent.push(packet);
    }
    let result = sending.await.unwrap();
    drop(open);
    (result, sent)
}

#[tokio::test]
async fn sender_errors() {
    let error_packet = |text: &str| packet(PacketType::PacketErr, None, 0, text.into());

    let (result, sent) = send_against(vec![error_packet("boom")], false).await;
    let error = result.unwrap_err();
    assert_eq!(error.to_string(), "error from receiver: boom");
    assert!(sent.iter().all(|p| kind(p) != PacketType::PacketErr));

    for id in [9999, 0] {
        // 0 is the directory `a`, whose data cannot be requested.
        let (result, sent) = send_against(vec![packet_of(PacketType::PacketReq, id)], false).await;
        let error = result.unwrap_err();
        assert!(matches!(error, Error::InvalidId(i) if i == id), "{error}");
        assert_eq!(error.to_string(), format!("invalid file id {id}"));
        let last = sent.last().unwrap();
        assert_eq!(kind(last), PacketType::PacketErr);
        assert_eq!(error_text(last), format!("invalid file id {id}"));
    }

    let (result, _) = send_against(vec![], true).await;
    assert!(matches!(result, Err(Error::Protocol(_))), "{result:?}");

    let (result, _) = send_against(vec![stat_packet(None)], false).await;
    assert!(matches!(result, Err(Error::Protocol(_))), "{result:?}");

    let (to_driver, _from_sender) = mpsc::channel(16);
    let (_to_sender, from_driver) = mpsc::channel(16);
    let missing = tempfile::tempdir().unwrap().path().join("missing");
    let result = send(
        missing.clone(),
        Filter::default(),
        stream(from_driver),
        to_driver,
        Arc::default(),
    )
    .await;
    assert!(
        matches!(&result, Err(Error::Io { path, .. }) if *path == missing),
        "{result:?}"
    );
}

/// Runs a receiver against a scripted sender; returns the result and what the receiver sent.
async fn receive_against(dest: &Path, script: Vec<Packet>) -> (Result<(), Error>, Vec<Packet>) {
    let (to_receiver, from_driver) = mpsc::channel(64);
    let (to_driver, mut from_receiver) = mpsc::channel(64);
    for packet in script {
        to_receiver.send(packet).await.unwrap();
    }
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        receive(
            dest.to_owned(),
            stream(from_driver),
            to_driver,
            Arc::default(),
        ),
    )
    .await
    .expect("the receiver stopped on its own");
    drop(to_receiver);
    let mut sent = Vec::new();
    while let Some(packet) = from_receiver.recv().await {
        sent.push(packet);
    }
    (result, sent)
}

#[tokio::test]
async fn receiver_refuses_unsafe_or_disordered_input() {
    let file = |path: &str| stat_packet(Some(stat(path, 0o644, "")));
    let dir = |path: &str| stat_packet(Some(stat(path, MODE_DIR | 0o755, "")));
    let link =
        |path: &str, target: &str| stat_packet(Some(stat(path, MODE_SYMLINK | 0o777, target)));
    let outer = tempfile::tempdir().unwrap();
    let outside = outer.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    let outside_text = outside.to_str().unwrap().to_owned();

    let cases: Vec<(Vec<Packet>, &str)> = vec![
        (vec![file("../evil")], "`..`"),
        (vec![dir("d"), file("d/../../evil")], "`..`"),
        (vec![file("/abs")], "absolute"),
        (vec![file("./x")], "not clean"),
        (vec![file("b"), file("a")], "out of order"),
        (vec![file("a/x")], "out of order"),
        (
            vec![dir("d"), link("d/link", &outside_text), file("d/link/file")],
            "out of order",
        ),
        (
            vec![link("link", "/etc"), file("link/passwd")],
            "out of order",
        ),
        (
            vec![
                file("f"),
                stat_packet(None),
                packet_of(PacketType::PacketData, 7),
            ],
            "invalid file id 7",
        ),
        (
            vec![stat_packet(Some(stat("h", 0o644, "nowhere")))],
            "hardlink",
        ),
        (vec![link("l", "")], "symlink target"),
        (
            vec![packet(PacketType::PacketErr, None, 0, b"boom".to_vec())],
            "error from sender: boom",
        ),
        (
            vec![packet_of(PacketType::PacketReq, 0)],
            "unexpected PACKET_REQ",
        ),
        (
            vec![file("f"), stat_packet(None), stat_packet(None)],
            "after the end of the listing",
        ),
    ];
    for (i, (script, message)) in cases.into_iter().enumerate() {
        let dest = outer.path().join(format!("dest{i}"));
        let (result, sent) = receive_against(&dest, script).await;
        let error = result.unwrap_err();
        assert!(error.to_string().contains(message), "case {i}: {error}");
        if !matches!(error, Error::Sender(_)) {
            let last = sent.last().unwrap();
            assert_eq!(kind(last), PacketType::PacketErr, "case {i}");
        }
    }
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    let mut names: Vec<String> = fs::read_dir(outer.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| !name.starts_with("dest"))
        .collect();
    names.sort();
    assert_eq!(names, ["outside"]);
    // No file was requested below the symlink, and nothing is left half written.
    assert!(!outer.path().join("dest6/d/link/file").exists());
    assert!(
        fs::read_dir(outer.path().join("dest8"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[tokio::test]
async fn receiver_finishes_empty_and_partial_transfers() {
    let outer = tempfile::tempdir().unwrap();
    let dest = outer.path().join("new/dest");
    let (result, sent) = receive_against(
        &dest,
        vec![stat_packet(None), packet_of(PacketType::PacketFin, 0)],
    )
    .await;
    result.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(kind(&sent[0]), PacketType::PacketFin);
    assert!(dest.is_dir());

    // FIN from the sender before a requested file is complete.
    let (result, sent) = receive_against(
        &dest,
        vec![
            stat_packet(Some(stat("f", 0o644, ""))),
            stat_packet(None),
            packet(PacketType::PacketData, None, 0, b"part".to_vec()),
            packet_of(PacketType::PacketFin, 0),
        ],
    )
    .await;
    assert!(matches!(result, Err(Error::Protocol(_))), "{result:?}");
    assert_eq!(kind(&sent[0]), PacketType::PacketReq);
    assert!(fs::read_dir(&dest).unwrap().next().is_none());

    // Devices and FIFOs are listed but not created; a hardlink to a file still arriving.
    let (result, sent) = receive_against(
        &dest,
        vec![
            stat_packet(Some(stat(
                "dev",
                MODE_DEVICE | MODE_CHAR_DEVICE | 0o666,
                "",
            ))),
            stat_packet(Some(stat("f", 0o640, ""))),
            stat_packet(Some(stat("fifo", MODE_NAMED_PIPE | 0o644, ""))),
            stat_packet(Some(stat("g", 0o640, "f"))),
            stat_packet(None),
            packet(PacketType::PacketData, None, 1, b"data".to_vec()),
            packet_of(PacketType::PacketData, 1),
            packet_of(PacketType::PacketFin, 0),
        ],
    )
    .await;
    result.unwrap();
    let kinds: Vec<(PacketType, u32)> = sent.iter().map(|p| (kind(p), p.id)).collect();
    assert_eq!(
        kinds,
        [(PacketType::PacketReq, 1), (PacketType::PacketFin, 0)]
    );
    let mut names: Vec<_> = fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["f", "g"]);
    assert_eq!(fs::read(dest.join("g")).unwrap(), b"data");
    let metadata = fs::metadata(dest.join("g")).unwrap();
    assert_eq!(metadata.nlink(), 2);
    assert_eq!(metadata.mode() & 0o777, 0o640);
    assert_eq!(metadata.modified().unwrap(), SystemTime::UNIX_EPOCH);
}

/// A sender that reads no request until it has listed everything, over channels with room for
/// two packets: the receiver must keep reading while its requests wait.
#[tokio::test]
async fn receiver_keeps_reading_while_requests_wait() {
    let dest = tempfile::tempdir().unwrap();
    let (to_receiver, from_driver) = mpsc::channel(2);
    let (to_driver, mut from_receiver) = mpsc::channel(2);
    let counters = Arc::new(TransferCounters::default());
    let receiving = tokio::spawn(receive(
        dest.path().to_owned(),
        stream(from_driver),
        to_driver,
        counters.clone(),
    ));
    let driver = async {
        for i in 0..50 {
            let name = format!("f{i:02}");
            to_receiver
                .send(stat_packet(Some(stat(&name, 0o644, ""))))
                .await
                .unwrap();
        }
        to_receiver.send(stat_packet(None)).await.unwrap();
        for _ in 0..50 {
            let request = from_receiver.recv().await.unwrap();
            assert_eq!(kind(&request), PacketType::PacketReq);
            let data = format!("data of {}", request.id).into_bytes();
            to_receiver
                .send(packet(PacketType::PacketData, None, request.id, data))
                .await
                .unwrap();
            to_receiver
                .send(packet_of(PacketType::PacketData, request.id))
                .await
                .unwrap();
        }
        let fin = from_receiver.recv().await.unwrap();
        assert_eq!(kind(&fin), PacketType::PacketFin);
        to_receiver
            .send(packet_of(PacketType::PacketFin, 0))
            .await
            .unwrap();
    };
    tokio::time::timeout(Duration::from_secs(10), driver)
        .await
        .expect("no deadlock");
    receiving.await.unwrap().unwrap();
    assert_eq!(
        fs::read_to_string(dest.path().join("f07")).unwrap(),
        "data of 7"
    );
    let stats = counters.snapshot();
    assert_eq!((stats.entries, stats.files), (50, 50));
}
