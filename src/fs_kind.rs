//! Which runs live on filesystems whose changes inotify cannot see: NFS, Lustre, GPFS,
//! CIFS/SMB, FUSE (and Ceph, 9p, AFS). Writes from other nodes produce no local events there,
//! so those runs are polled. Some of them also stamp mtimes with the writing client's clock,
//! not a server's, so no probe ckptd writes can read the clock a trainer's writes carry.

use std::path::Path;

/// `statfs(2)` `f_type` magic numbers of network, cluster and FUSE filesystems (from
/// linux/magic.h and the filesystems' own headers).
const NETWORK_MAGICS: &[(u64, &str)] = &[
    (0x6969, "nfs"),
    (0x0BD0_0BD0, "lustre"),
    (0x4750_4653, "gpfs"),
    (0xFF53_4D42, "cifs"),
    (0xFE53_4D42, "smb2"),
    (0x517B, "smb"),
    (0x6573_5546, "fuse"),
    (0x00C3_6400, "ceph"),
    (0x0102_1997, "9p"),
    (0x5346_414F, "afs"),
    (0x1983_0326, "beegfs"),
    (0x2003_0528, "orangefs"),
    (0x0116_1970, "gfs2"),
    (0x7461_636F, "ocfs2"),
];

/// Filesystems on which a probe written from this node is stamped by the same clock as every
/// writer's files: local ones (the kernel's clock) and those whose server stamps writes (NFS,
/// SMB). Everything else, FUSE included (ceph-fuse, JuiceFS, gcsfuse stamp with the client's
/// clock), counts as an unknown clock: ckptd then trusts only the quiet time it saw itself.
const PROBE_READS_WRITERS_CLOCK: &[u64] = &[
    0xEF53,      // ext2/3/4
    0x5846_5342, // xfs
    0x9123_683E, // btrfs
    0x0102_1994, // tmpfs
    0x8584_58F6, // ramfs
    0x2FC1_2FC1, // zfs
    0x794C_7630, // overlayfs
    0xF2F5_2010, // f2fs
    0xCA45_1A4E, // bcachefs
    0x3153_464A, // jfs
    0x5265_4973, // reiserfs
    0x6969,      // nfs
    0xFF53_4D42, // cifs
    0xFE53_4D42, // smb2
    0x517B,      // smb
];

/// The name of the network filesystem `path` is on, or `None` for a local one (or when
/// `statfs` fails: events are the default).
pub fn network_filesystem(path: &Path) -> Option<&'static str> {
    let magic = magic(path)?;
    NETWORK_MAGICS
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|&(_, name)| name)
}

/// The `statfs(2)` magic number of the filesystem holding `path`.
fn magic(path: &Path) -> Option<u64> {
    let stat = rustix::fs::statfs(path).ok()?;
    #[allow(clippy::cast_sign_loss, clippy::unnecessary_cast)] // f_type's width differs by target
    Some((stat.f_type as u64) & 0xFFFF_FFFF)
}

/// Whether a probe written from this node reads the clock that stamps every writer's files
/// on the filesystem of `path` (see `PROBE_READS_WRITERS_CLOCK`).
pub fn probe_reads_writers_clock(path: &Path) -> bool {
    magic(path).is_some_and(|m| PROBE_READS_WRITERS_CLOCK.contains(&m))
}

/// Whether the filesystem of `path` is certainly local to this node: no other node can act on
/// it, so a lock taken here excludes everyone (on a network filesystem a directory lock may be
/// node-local while another node acts).
pub fn is_local(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok() && network_filesystem(path).is_none()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_temp_directory_is_local() {
        let dir = tempfile::tempdir().unwrap();
        // /tmp may be tmpfs or the root filesystem here, never a network one.
        assert_eq!(super::network_filesystem(dir.path()), None);
        assert!(super::is_local(dir.path()));
        assert!(super::probe_reads_writers_clock(dir.path()));
    }
}
