//! The safety conditions re-checked at the moment of deleting, against the disk as it is now:
//! a direct child of the run, not a symlink, still matching the pattern, not pinned or pointed
//! at, and unchanged since it was planned.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rustix::fs::FileType;

use super::action::{ActionError, ActionErrorKind, ActionErrorKind::Changed};
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

/// What the run's pointers (symlinks, the layout's pointer files) name, re-read during a pass.
///
/// Reading them lists the whole run (and for some layouts stats a file in every checkpoint),
/// so reading them afresh before each of N deletions costs O(N²): 32 s for 10,000. Instead they
/// are re-read whenever the last reading is at least as old as that reading took. A pointer
/// made during a pass is then honoured by every deletion that starts more than about two
/// readings' time after it (milliseconds, the same order as re-reading before every deletion,
/// which also missed a pointer made during its own reading), and the re-reading costs at most
/// as much time again as the deletions themselves.
pub struct Pointers {
    names: HashSet<String>,
    read_at: Instant,
    took: Duration,
}

impl Pointers {
    /// Reads them now.
    pub fn read(dir: &RunDir, watch: &Watch) -> std::io::Result<Self> {
        let started = Instant::now();
        let names = scan::current_pointers(&dir.path, watch.layout.as_ref())?;
        Ok(Self {
            names,
            read_at: Instant::now(),
            took: started.elapsed(),
        })
    }

    /// Reads them again when the last reading is due. Called before a deletion's walks, so
    /// the listing is not inside the window between the victim's check and its rename.
    pub fn refresh(&mut self, dir: &RunDir, watch: &Watch) -> std::io::Result<()> {
        if self.due(Instant::now()) {
            *self = Self::read(dir, watch)?;
        }
        Ok(())
    }

    /// Whether the last reading has a pointer naming `name`.
    fn name(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// A reading is due once the last one is as old as it took.
    fn due(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.read_at) >= self.took
    }
}

/// `Ok` when `checkpoint` is still what was planned: a direct child, the same kind, matching
/// the pattern, with the same fingerprint; otherwise why not, as a skip (gone, changed) or a
/// failure (it cannot be read).
pub fn still_deletable(
    dir: &RunDir,
    watch: &Watch,
    checkpoint: &Checkpoint,
) -> Result<(), ActionError> {
    let name = checkpoint.name.as_str();
    let path = dir.path.join(name);
    let changed = |why: String| Err(ActionError::new(name, path.clone(), Changed(why)));
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || is_never_a_checkpoint(name)
    {
        return changed(format!("`{name}` is not a direct child checkpoint name"));
    }
    let kind = match dir.child_type(name) {
        Ok(FileType::Directory) => Kind::Dir,
        Ok(FileType::RegularFile) => Kind::File,
        Ok(FileType::Symlink) => return changed("it is a symlink now".to_owned()),
        Ok(other) => return changed(format!("it is a {other:?} now")),
        Err(e) => return Err(ActionError::from_io(name, path, e, true)),
    };
    if kind != checkpoint.kind {
        return changed("it changed between file and directory".to_owned());
    }
    if !matches!(
        watch.layout.recognise(name, kind),
        Recognition::Checkpoint(_)
    ) {
        return changed("it no longer matches the checkpoint pattern".to_owned());
    }
    let now = scan::fingerprint(&path, kind).map_err(|e| {
        let is_root = e.path == path;
        ActionError::from_io(name, e.path, e.source, is_root)
    })?;
    if Some(now) != checkpoint.fingerprint {
        return changed("its files changed since planning".to_owned());
    }
    Ok(())
}

/// `Ok` when nothing protects `name` now: checked after the walk of the checkpoint, right
/// before the newest ones are checked and the rename: a pin (read from disk here) or a
/// pointer (in the reading [`Pointers::refresh`] keeps fresh) made meanwhile counts. Pins that
/// cannot be read are a failure: the checkpoint is kept.
pub fn still_unprotected(dir: &RunDir, pointers: &Pointers, name: &str) -> Result<(), ActionError> {
    let path = dir.path.join(name);
    match pins::is_pinned(&dir.path, name) {
        Ok(false) => {}
        Ok(true) => {
            return Err(ActionError::new(
                name,
                path,
                Changed("it was pinned".to_owned()),
            ));
        }
        Err(e) => {
            let pins = dir.path.join(pins::PINS_DIR);
            return Err(ActionError::new(name, pins, ActionErrorKind::Io(e)));
        }
    }
    if pointers.name(name) {
        return Err(ActionError::new(
            name,
            path,
            Changed("a pointer names it now".to_owned()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_is_due_once_the_last_is_as_old_as_it_took() {
        let read_at = Instant::now();
        let pointers = Pointers {
            names: HashSet::new(),
            read_at,
            took: Duration::from_millis(40),
        };
        assert!(!pointers.due(read_at));
        assert!(!pointers.due(read_at + Duration::from_millis(39)));
        assert!(pointers.due(read_at + Duration::from_millis(40)));
        // A cheap reading (a small run) is made again before every deletion.
        let cheap = Pointers {
            took: Duration::ZERO,
            ..pointers
        };
        assert!(cheap.due(read_at));
    }

    #[test]
    fn a_due_reading_sees_a_pointer_made_since_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        std::fs::write(run.join("ckpt-4.pt"), b"x").unwrap();
        let text = "[[watch]]\nname = \"w\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"ckpt-{step}.pt\"\nkeep_last = 1\n";
        let watch = crate::config::Config::parse(text, &dir.path().join("ckptd.toml"))
            .unwrap()
            .watches
            .remove(0);
        let run_dir = RunDir::open(&run).unwrap();
        let mut pointers = Pointers::read(&run_dir, &watch).unwrap();
        assert!(still_unprotected(&run_dir, &pointers, "ckpt-4.pt").is_ok());
        std::fs::write(run.join(pins::PINS_DIR), b"").unwrap();
        // Pins that cannot be read keep it, as a failure.
        let unreadable = still_unprotected(&run_dir, &pointers, "ckpt-4.pt").unwrap_err();
        assert!(unreadable.is_failure(), "{unreadable}");
        std::fs::remove_file(run.join(pins::PINS_DIR)).unwrap();
        std::os::unix::fs::symlink("ckpt-4.pt", run.join("best")).unwrap();
        // As if the last reading had taken no time: the next refresh reads again.
        pointers.took = Duration::ZERO;
        pointers.refresh(&run_dir, &watch).unwrap();
        let named = still_unprotected(&run_dir, &pointers, "ckpt-4.pt").unwrap_err();
        assert!(!named.is_failure());
        assert_eq!(named.to_string(), "a pointer names it now");
    }
}
