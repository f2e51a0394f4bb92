//! Which runs live on filesystems whose changes inotify cannot see: NFS, Lustre, GPFS,
//! CIFS/SMB, FUSE (and Ceph, 9p, AFS). Writes from other nodes produce no local events there,
//! so those runs are polled.

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

#[cfg(test)]
mod tests {
    #[test]
    fn a_temp_directory_is_local() {
        let dir = tempfile::tempdir().unwrap();
        // /tmp may be tmpfs or the root filesystem here, never a network one.
        assert_eq!(super::network_filesystem(dir.path()), None);
    }
}
