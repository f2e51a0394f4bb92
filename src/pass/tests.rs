//! The engine through its seam: real run directories, hooks that record what they are told.

use std::path::{Path, PathBuf};

use super::*;
use crate::checkpoint::Checkpoint;
use crate::config::Config;
use crate::execute::Journal;
use crate::plan::Verdict;
use crate::shutdown::{self, Trigger};

/// Hooks that act (or not), and record the journal; `stop_after_first` stops the pass from
/// inside, right after the first deletion, as SIGTERM would.
#[derive(Default)]
struct Recorder {
    acting: bool,
    stop_after_first: Option<Trigger>,
    events: Vec<String>,
}

impl Recorder {
    fn acting() -> Self {
        Self {
            acting: true,
            ..Self::default()
        }
    }
}

impl Journal for Recorder {
    fn deleted(&mut self, _: &Path, _: &str, v: &Verdict) {
        self.events.push(format!("deleted {}", v.name));
        if let Some(trigger) = self.stop_after_first.take() {
            trigger.stop();
        }
    }
    fn not_deleted(&mut self, _: &Path, _: &str, v: &Verdict, error: &str, _: bool) {
        self.events
            .push(format!("not-deleted {} ({error})", v.name));
    }
}

impl Hooks for Recorder {
    fn acting(&self) -> bool {
        self.acting
    }
    fn lock_failed(&mut self, _: &Path, e: &io::Error) {
        self.events.push(format!("lock failed: {e}"));
    }
    /// Without what the open-writer check says: its `/proc` snapshot is shared by the whole
    /// process for 250 ms, and a file another test had open a moment ago may have had the
    /// inode number one of ours has now (the safe direction, but these tests count deletions).
    fn settle(
        &mut self,
        _: &Path,
        _: &Watch,
        checkpoints: &mut [Checkpoint],
        _: RunClock,
        _: bool,
    ) -> Settled {
        for c in checkpoints {
            c.writers = crate::checkpoint::Writers::Checked { open: false };
        }
        Settled::default()
    }
    fn planned(&mut self, _: &Path, _: &Watch, _: &Plan, _: RunClock) -> Option<Instant> {
        self.events.push("planned".to_owned());
        None
    }
}

/// A run of `count` old directory checkpoints of `files` files each, and its keep_last = 1
/// watch (`extra` added to the watch table).
fn run_of(dir: &Path, count: u64, files: usize, extra: &str) -> (PathBuf, Watch) {
    let run = dir.join("run");
    for step in 1..=count {
        let ckpt = run.join(format!("ckpt-{step}"));
        std::fs::create_dir_all(&ckpt).unwrap();
        for i in 0..files {
            std::fs::write(ckpt.join(format!("shard-{i:04}.bin")), b"x").unwrap();
        }
        let old =
            filetime::FileTime::from_unix_time(1_000_000_000 + i64::try_from(step).unwrap(), 0);
        for entry in std::fs::read_dir(&ckpt).unwrap() {
            filetime::set_file_mtime(entry.unwrap().path(), old).unwrap();
        }
        filetime::set_file_mtime(&ckpt, old).unwrap();
    }
    let text = format!("[[watch]]\nname = \"w\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"ckpt-{{step}}\"\nkeep_last = 1\n{extra}");
    let watch = Config::parse(&text, &dir.join("ckptd.toml"))
        .unwrap()
        .watches
        .remove(0);
    (run, watch)
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, Iterator::count)
}

fn names(run: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("ckpt-"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_shutdown_during_a_pass_finishes_the_deletion_in_flight_and_starts_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let (run, watch) = run_of(dir.path(), 4, 2000, "");
    let (trigger, shutdown) = shutdown::channel();
    let mut hooks = Recorder {
        acting: true,
        stop_after_first: Some(trigger),
        ..Recorder::default()
    };
    let report = run_pass(&run, &watch, &mut hooks, &shutdown);
    let planned: Vec<&str> = report.plan.deletions().map(|v| v.name.as_str()).collect();
    assert_eq!(planned, ["ckpt-1", "ckpt-2", "ckpt-3"]);
    let mut expected = vec!["planned".to_owned(), format!("deleted {}", planned[0])];
    for name in &planned[1..] {
        expected.push(format!("not-deleted {name} (ckptd is stopping)"));
    }
    assert_eq!(hooks.events, expected);
    assert_eq!(report.executed.deleted.len(), 1);
    // Nothing half deleted: the one deleted is gone, what is left is whole.
    assert!(!run.join(planned[0]).exists());
    let left = names(&run);
    assert_eq!(left.len(), 3, "{left:?}");
    for name in &left {
        assert_eq!(files_in(&run.join(name)), 2000, "{name}");
    }
    // Not a failure: the next pass plans them again.
    assert_eq!(report.failures(), 0);
}

#[test]
fn a_run_whose_lock_is_held_elsewhere_is_not_even_planned() {
    let dir = tempfile::tempdir().unwrap();
    let (run, watch) = run_of(dir.path(), 3, 1, "");
    let held = crate::lock::try_lock(&run).unwrap().unwrap();
    let mut hooks = Recorder::acting();
    let report = run_pass(&run, &watch, &mut hooks, &Shutdown::never());
    assert!(
        matches!(report.reached, Reached::Busy),
        "{:?}",
        report.reached
    );
    assert!(report.plan.verdicts.is_empty());
    assert!(hooks.events.is_empty(), "{:?}", hooks.events);
    assert_eq!(names(&run), ["ckpt-1", "ckpt-2", "ckpt-3"]);
    // Looking needs no lock.
    let mut looking = Recorder::default();
    let report = run_pass(&run, &watch, &mut looking, &Shutdown::never());
    assert_eq!(report.plan.deletions().count(), 2);
    assert_eq!(report.executed.would_delete.len(), 2);
    drop(held);
    let mut hooks = Recorder::acting();
    let report = run_pass(&run, &watch, &mut hooks, &Shutdown::never());
    assert_eq!(report.executed.deleted.len(), 2);
    assert_eq!(names(&run), ["ckpt-3"]);
}

#[test]
fn a_dry_run_watch_writes_nothing_even_when_the_caller_acts() {
    let dir = tempfile::tempdir().unwrap();
    let (run, watch) = run_of(dir.path(), 3, 1, "dry_run = true\n");
    let mut hooks = Recorder::acting();
    let report = run_pass(&run, &watch, &mut hooks, &Shutdown::never());
    assert_eq!(report.executed.would_delete.len(), 2);
    assert!(report.executed.deleted.is_empty());
    assert_eq!(names(&run), ["ckpt-1", "ckpt-2", "ckpt-3"]);
    // Not even the lock file (the clock probe).
    assert!(!run.join(".ckptd.lock").exists());
}

#[test]
fn pins_that_cannot_be_read_stop_the_pass_as_a_failure_with_nothing_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (run, watch) = run_of(dir.path(), 3, 1, "");
    // What an unreadable pins directory is to an unprivileged daemon; root reads any.
    std::fs::write(run.join(crate::pins::PINS_DIR), b"").unwrap();
    let mut hooks = Recorder::acting();
    let report = run_pass(&run, &watch, &mut hooks, &Shutdown::never());
    let Reached::Unscanned(e) = &report.reached else {
        panic!("{:?}", report.reached);
    };
    assert!(e.to_string().contains(".ckptd-pins"), "{e}");
    assert_eq!(report.failures(), 1);
    assert_eq!(names(&run), ["ckpt-1", "ckpt-2", "ckpt-3"]);
}

#[test]
fn a_gone_run_is_reported_gone_not_failed() {
    let dir = tempfile::tempdir().unwrap();
    let (run, watch) = run_of(dir.path(), 1, 1, "");
    std::fs::remove_dir_all(&run).unwrap();
    let mut hooks = Recorder::acting();
    let report = run_pass(&run, &watch, &mut hooks, &Shutdown::never());
    assert!(matches!(report.reached, Reached::Gone));
    assert_eq!(report.failures(), 0);
}

/// `super::run`, named so that it does not read as the run directory.
fn run_pass(run: &Path, watch: &Watch, hooks: &mut Recorder, shutdown: &Shutdown) -> PassReport {
    super::run(run, watch, hooks, shutdown)
}
