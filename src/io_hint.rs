//! What to do about an I/O error, said in the message itself: under systemd the commonest
//! causes of EROFS and EACCES are the unit's own sandbox (`ReadWritePaths=`, `User=`), and
//! an operator reading `journalctl -u ckptd` sees the MESSAGE, not the fields.

use std::io;

/// A hint to append to a message about `e` ("" when there is none to give).
pub fn hint(e: &io::Error) -> &'static str {
    // By kind, not only by errno: errors that name their path carry the kind alone.
    let read_only = e.kind() == io::ErrorKind::ReadOnlyFilesystem
        || e.raw_os_error() == Some(rustix::io::Errno::ROFS.raw_os_error());
    let not_permitted = e.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error());
    let denied = e.kind() == io::ErrorKind::PermissionDenied;
    if read_only {
        " (read-only filesystem: under systemd, the run must be in the unit's ReadWritePaths=)"
    } else if not_permitted {
        // What root meets: an immutable or append-only file (`lsattr`), or a sandbox.
        " (not permitted: an immutable or append-only file, see lsattr; or, under systemd, the unit's sandbox)"
    } else if denied {
        " (permission denied: under systemd, check the unit's User= and ReadWritePaths=)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::hint;

    #[test]
    fn a_sandboxed_write_says_where_to_look() {
        let rofs = std::io::Error::from_raw_os_error(rustix::io::Errno::ROFS.raw_os_error());
        assert!(hint(&rofs).contains("ReadWritePaths="));
        let acces = std::io::Error::from_raw_os_error(rustix::io::Errno::ACCESS.raw_os_error());
        assert!(hint(&acces).contains("User="));
        assert_eq!(hint(&std::io::Error::other("x")), "");
        // An error that names its path keeps only the kind.
        let named = std::io::Error::new(rofs.kind(), "cannot open /r/.ckptd.lock: read-only");
        assert!(hint(&named).contains("ReadWritePaths="));
    }
}
