//! Plain progress: one line per layer event, none for byte counts, so logs stay readable.

use depot_registry::client::ProgressEvent;

use super::Direction;

/// The line for `event`, if it gets one.
pub fn line(direction: Direction, event: &ProgressEvent<'_>) -> Option<String> {
    let size = |size: Option<u64>| size.map(|s| format!(" ({s} bytes)")).unwrap_or_default();
    let line = match *event {
        ProgressEvent::BlobStarted {
            target,
            digest,
            size: bytes,
        } => format!(
            "{}{digest} {}{}",
            direction.label(target),
            direction.active(),
            size(bytes)
        ),
        ProgressEvent::BlobProgress { .. } => return None,
        ProgressEvent::BlobStatus {
            target,
            digest,
            status,
        } => format!("{}{digest} {status}", direction.label(target)),
        ProgressEvent::BlobDone {
            target,
            digest,
            size: bytes,
            transfer,
        } => format!(
            "{}{digest} {}{}",
            direction.label(target),
            direction.done(transfer),
            size(bytes)
        ),
        ProgressEvent::Manifest { target, digest } => format!(
            "{}manifest {digest} {}",
            direction.label(target),
            direction.manifest()
        ),
        ProgressEvent::Message { target, text } => format!("{}{text}", direction.label(target)),
    };
    Some(format!("  {line}"))
}

#[cfg(test)]
mod tests {
    use depot_registry::client::BlobTransfer;

    use super::*;

    #[test]
    fn lines_name_the_blob_and_what_happened() {
        let done = ProgressEvent::BlobDone {
            target: "r.example/app:v1",
            digest: "sha256:ab",
            size: Some(3),
            transfer: BlobTransfer::Mounted,
        };
        assert_eq!(
            line(Direction::Push, &done).unwrap(),
            "  r.example/app:v1: sha256:ab mounted (3 bytes)"
        );
        let started = ProgressEvent::BlobStarted {
            target: "out",
            digest: "sha256:ab",
            size: Some(3),
        };
        assert_eq!(
            line(Direction::Pull, &started).unwrap(),
            "  sha256:ab downloading (3 bytes)"
        );
        let bytes = ProgressEvent::BlobProgress {
            target: "out",
            digest: "sha256:ab",
            current: 1,
            total: Some(3),
        };
        assert_eq!(line(Direction::Pull, &bytes), None);
    }
}
