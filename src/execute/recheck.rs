//! The safety conditions re-checked at the moment of deleting, against the disk as it is now:
//! a direct child of the run, not a symlink, still matching the pattern, not pinned or pointed
//! at, and unchanged since it was planned.

use rustix::fs::FileType;

use super::trash::RunDir;
use crate::checkpoint::{Checkpoint, Kind};
use crate::config::Watch;
use crate::layout::is_never_a_checkpoint;
use crate::pattern::Recognition;
use crate::{pins, scan};

/// Whether `checkpoint` is still there, the same kind, with the fingerprint it was planned with.
pub fn unchanged(dir: &RunDir, checkpoint: &Checkpoint) -> bool {
    checkpoint.fingerprint.is_some()
        && scan::fingerprint(&dir.path.join(&checkpoint.name), checkpoint.kind).ok()
            == checkpoint.fingerprint
}

/// `Ok` when `checkpoint` may still be deleted; otherwise why not.
pub fn still_deletable(dir: &RunDir, watch: &Watch, checkpoint: &Checkpoint) -> Result<(), String> {
    let name = checkpoint.name.as_str();
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || is_never_a_checkpoint(name)
    {
        return Err(format!("`{name}` is not a direct child checkpoint name"));
    }
    let kind = match dir.child_type(name).map_err(|e| e.to_string())? {
        FileType::Directory => Kind::Dir,
        FileType::RegularFile => Kind::File,
        FileType::Symlink => return Err("it is a symlink now".to_owned()),
        other => return Err(format!("it is a {other:?} now")),
    };
    if kind != checkpoint.kind {
        return Err("it changed between file and directory".to_owned());
    }
    if !matches!(
        watch.layout.recognise(name, kind),
        Recognition::Checkpoint(_)
    ) {
        return Err("it no longer matches the checkpoint pattern".to_owned());
    }
    if pins::is_pinned(&dir.path, name) {
        return Err("it was pinned".to_owned());
    }
    let pointed_at =
        scan::current_pointers(&dir.path, watch.layout.as_ref()).map_err(|e| e.to_string())?;
    if pointed_at.contains(name) {
        return Err("a pointer names it now".to_owned());
    }
    let now = scan::fingerprint(&dir.path.join(name), kind)?;
    if Some(now) != checkpoint.fingerprint {
        return Err("its files changed since planning".to_owned());
    }
    Ok(())
}
