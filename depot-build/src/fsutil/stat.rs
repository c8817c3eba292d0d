//! File metadata as the fsutil protocol carries it: Go's `io/fs.FileMode` bits and [`Stat`].
//!
//! The protocol's `Stat.mode` is not a POSIX `st_mode`: the file type lives in Go's high bits
//! ([`MODE_DIR`], [`MODE_SYMLINK`], …) and only the permission bits (`0o777`) keep their POSIX
//! values. [`file_mode`] converts an `st_mode` the way Go's `os.Lstat` does, and
//! [`unix_permissions`] goes back to the `chmod` bits.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

use bollard_buildkit_proto::fsutil::types::Stat;

/// Go `fs.ModeDir`: a directory.
pub const MODE_DIR: u32 = 1 << 31;
/// Go `fs.ModeAppend`: append-only.
pub const MODE_APPEND: u32 = 1 << 30;
/// Go `fs.ModeExclusive`: exclusive use.
pub const MODE_EXCLUSIVE: u32 = 1 << 29;
/// Go `fs.ModeTemporary`: a temporary file (Plan 9 only).
pub const MODE_TEMPORARY: u32 = 1 << 28;
/// Go `fs.ModeSymlink`: a symbolic link.
pub const MODE_SYMLINK: u32 = 1 << 27;
/// Go `fs.ModeDevice`: a device node (block devices, and character devices with
/// [`MODE_CHAR_DEVICE`]).
pub const MODE_DEVICE: u32 = 1 << 26;
/// Go `fs.ModeNamedPipe`: a FIFO.
pub const MODE_NAMED_PIPE: u32 = 1 << 25;
/// Go `fs.ModeSocket`: a Unix domain socket.
pub const MODE_SOCKET: u32 = 1 << 24;
/// Go `fs.ModeSetuid`: set-user-ID (`S_ISUID`).
pub const MODE_SETUID: u32 = 1 << 23;
/// Go `fs.ModeSetgid`: set-group-ID (`S_ISGID`).
pub const MODE_SETGID: u32 = 1 << 22;
/// Go `fs.ModeCharDevice`: a character device, always together with [`MODE_DEVICE`].
pub const MODE_CHAR_DEVICE: u32 = 1 << 21;
/// Go `fs.ModeSticky`: the sticky bit (`S_ISVTX`).
pub const MODE_STICKY: u32 = 1 << 20;
/// Go `fs.ModeIrregular`: a file of unknown type.
pub const MODE_IRREGULAR: u32 = 1 << 19;
/// Go `fs.ModeType`: the bits that give the type; none of them is set for a regular file.
pub const MODE_TYPE: u32 = MODE_DIR
    | MODE_SYMLINK
    | MODE_NAMED_PIPE
    | MODE_SOCKET
    | MODE_DEVICE
    | MODE_CHAR_DEVICE
    | MODE_IRREGULAR;
/// Go `fs.ModePerm`: the Unix permission bits.
pub const MODE_PERM: u32 = 0o777;

/// POSIX `st_mode` file type mask and types, as Linux and the BSDs define them.
const S_IFMT: u32 = 0o170_000;
const S_IFSOCK: u32 = 0o140_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFREG: u32 = 0o100_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFIFO: u32 = 0o010_000;
const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_ISVTX: u32 = 0o1000;

/// Converts a POSIX `st_mode` (type and permission bits) to Go's `fs.FileMode`, as Go's
/// `os.Lstat` does: `0o100644` (a regular file) gives `0o644` (420), `0o040755` (a directory)
/// gives `0x800001ED`.
pub fn file_mode(st_mode: u32) -> u32 {
    let mut mode = st_mode & MODE_PERM;
    mode |= match st_mode & S_IFMT {
        S_IFREG => 0,
        S_IFDIR => MODE_DIR,
        S_IFLNK => MODE_SYMLINK,
        S_IFBLK => MODE_DEVICE,
        S_IFCHR => MODE_DEVICE | MODE_CHAR_DEVICE,
        S_IFIFO => MODE_NAMED_PIPE,
        S_IFSOCK => MODE_SOCKET,
        _ => MODE_IRREGULAR,
    };
    if st_mode & S_ISUID != 0 {
        mode |= MODE_SETUID;
    }
    if st_mode & S_ISGID != 0 {
        mode |= MODE_SETGID;
    }
    if st_mode & S_ISVTX != 0 {
        mode |= MODE_STICKY;
    }
    mode
}

/// The `chmod` bits for a Go `fs.FileMode`: the permission bits plus set-user-ID, set-group-ID
/// and sticky.
pub fn unix_permissions(mode: u32) -> u32 {
    let mut permissions = mode & MODE_PERM;
    if mode & MODE_SETUID != 0 {
        permissions |= S_ISUID;
    }
    if mode & MODE_SETGID != 0 {
        permissions |= S_ISGID;
    }
    if mode & MODE_STICKY != 0 {
        permissions |= S_ISVTX;
    }
    permissions
}

/// Whether a receiver may request the data of an entry with this mode: only regular files.
pub fn can_request_data(mode: u32) -> bool {
    mode & MODE_TYPE == 0
}

/// Builds the [`Stat`] of the entry at `path` (relative, `/`-separated) from its `lstat`
/// metadata. `linkname` is the symlink target or, for a hardlink, the earlier path.
///
/// Sizes follow Go's fsutil: directories have size 0, everything else the `lstat` size (for a
/// symlink, the length of its target), except hardlinks to an earlier path, which have size 0
/// (the caller passes `hardlink: true`). Extended attributes are not sent.
pub(crate) fn stat_from_metadata(
    path: String,
    metadata: &Metadata,
    linkname: String,
    hardlink: bool,
) -> Stat {
    let mode = file_mode(metadata.mode());
    let (devmajor, devminor) = if mode & MODE_DEVICE != 0 {
        device_numbers(metadata.rdev())
    } else {
        (0, 0)
    };
    let size = if mode & MODE_DIR != 0 || hardlink {
        0
    } else {
        i64::try_from(metadata.size()).unwrap_or(i64::MAX)
    };
    Stat {
        path,
        mode,
        uid: metadata.uid(),
        gid: metadata.gid(),
        size,
        mod_time: metadata
            .mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(metadata.mtime_nsec()),
        linkname,
        devmajor,
        devminor,
        xattrs: Default::default(),
    }
}

/// Splits a device number into major and minor numbers (glibc's encoding).
#[cfg(not(any(target_os = "macos", target_os = "ios", target_os = "freebsd")))]
fn device_numbers(rdev: u64) -> (i64, i64) {
    let major = ((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0x0fff);
    let minor = ((rdev >> 12) & 0xffff_ff00) | (rdev & 0xff);
    // Both fit in 32 bits.
    (major as i64, minor as i64)
}

/// Splits a device number into major and minor numbers (the BSD encoding).
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
fn device_numbers(rdev: u64) -> (i64, i64) {
    (((rdev >> 24) & 0xff) as i64, (rdev & 0xff_ffff) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_st_mode_like_go() {
        assert_eq!(file_mode(0o100_644), 420);
        assert_eq!(file_mode(0o040_755), 0x8000_01ED);
        assert_eq!(file_mode(0o120_777), MODE_SYMLINK | 0o777);
        assert_eq!(file_mode(0o104_755), MODE_SETUID | 0o755);
        assert_eq!(file_mode(0o102_755), MODE_SETGID | 0o755);
        assert_eq!(file_mode(0o041_777), MODE_DIR | MODE_STICKY | 0o777);
        assert_eq!(file_mode(0o020_666), MODE_DEVICE | MODE_CHAR_DEVICE | 0o666);
        assert_eq!(file_mode(0o060_660), MODE_DEVICE | 0o660);
        assert_eq!(file_mode(0o010_644), MODE_NAMED_PIPE | 0o644);
        assert_eq!(file_mode(0o140_755), MODE_SOCKET | 0o755);
    }

    #[test]
    fn converts_back_to_chmod_bits() {
        assert_eq!(unix_permissions(420), 0o644);
        assert_eq!(unix_permissions(MODE_SETUID | MODE_DIR | 0o755), 0o4755);
        assert_eq!(unix_permissions(MODE_SETGID | MODE_STICKY | 0o700), 0o3700);
        for st_mode in [0o100_644, 0o104_711, 0o041_777, 0o102_750] {
            assert_eq!(unix_permissions(file_mode(st_mode)), st_mode & 0o7777);
        }
    }

    #[test]
    fn only_regular_files_have_data() {
        assert!(can_request_data(0o644));
        assert!(can_request_data(MODE_SETUID | 0o755));
        for kind in [
            MODE_DIR,
            MODE_SYMLINK,
            MODE_DEVICE,
            MODE_NAMED_PIPE,
            MODE_SOCKET,
        ] {
            assert!(!can_request_data(kind | 0o644));
        }
    }

    #[test]
    fn stats_a_file_and_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"hello").unwrap();
        let metadata = std::fs::symlink_metadata(&file).unwrap();
        let stat = stat_from_metadata("f".into(), &metadata, String::new(), false);
        assert_eq!(stat.path, "f");
        assert_eq!(stat.size, 5);
        assert_eq!(stat.mode & MODE_TYPE, 0);
        assert_eq!(stat.uid, metadata.uid());
        assert_eq!(
            stat.mod_time,
            metadata.mtime() * 1_000_000_000 + metadata.mtime_nsec()
        );
        let linked = stat_from_metadata("g".into(), &metadata, "f".into(), true);
        assert_eq!((linked.size, linked.linkname.as_str()), (0, "f"));

        let metadata = std::fs::symlink_metadata(dir.path()).unwrap();
        let stat = stat_from_metadata("d".into(), &metadata, String::new(), false);
        assert_eq!(stat.size, 0);
        assert_ne!(stat.mode & MODE_DIR, 0);
    }

    #[test]
    fn splits_device_numbers() {
        // /dev/null is 1:3 on Linux.
        #[cfg(target_os = "linux")]
        assert_eq!(device_numbers(0x103), (1, 3));
        assert_eq!(device_numbers(0), (0, 0));
    }
}
