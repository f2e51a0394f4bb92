//! Which runs live on filesystems whose changes inotify cannot see: NFS, Lustre, GPFS,
//! CIFS/SMB, FUSE (and Ceph, 9p, AFS). Writes from other nodes produce no local events there,
//! so those runs are polled. Some of them also stamp mtimes with the writing client's clock,
//! not a server's, so no probe ckptd writes can read the clock a trainer's writes carry.

use std::path::Path;

/// `statfs(2)` `f_type` magic numbers of network and FUSE filesystems (from linux/magic.h and
/// the filesystems' own headers).
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
];

/// The name of the network filesystem `path` is on, or `None` for a local one (or when
/// `statfs` fails: events are the default).
pub fn network_filesystem(path: &Path) -> Option<&'static str> {
    let stat = rustix::fs::statfs(path).ok()?;
    #[allow(clippy::cast_sign_loss, clippy::unnecessary_cast)] // f_type's width differs by target
    let magic = (stat.f_type as u64) & 0xFFFF_FFFF;
    NETWORK_MAGICS
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|&(_, name)| name)
}

/// Filesystems whose clients stamp mtimes with their own clocks (Lustre, GPFS, CephFS): a
/// trainer on another node writes with that node's clock, which a probe written from here
/// cannot read. On these, ckptd counts only the quiet time it observed itself.
const CLIENT_CLOCK_FILESYSTEMS: &[&str] = &["lustre", "gpfs", "ceph"];

/// Whether a probe written from this node reads the clock that stamps every writer's files
/// on the filesystem of `path`.
pub fn probe_reads_writers_clock(path: &Path) -> bool {
    !network_filesystem(path).is_some_and(|fs| CLIENT_CLOCK_FILESYSTEMS.contains(&fs))
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
    }
}
