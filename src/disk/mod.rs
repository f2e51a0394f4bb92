//! Disk-aware retention, the shell: which configured filesystem each run is on (same
//! `st_dev`), what `statvfs` says about it, and the pressure step run over every run on it.
//! The pure decisions are `pressure`'s; this module measures and groups.

mod describe;
mod unshown;

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::config::Filesystem;
use crate::pressure::{self, FilesystemTarget, FsState, Order, Relief, RunSummary};

pub use describe::{amount, describe, describe_state, log_unmet, percent, unmet_text};
pub use unshown::{Unshown, HOLD};

/// What an unprivileged writer can use on the filesystem holding `path`.
pub fn measure(path: &Path) -> io::Result<FsState> {
    let s = rustix::fs::statvfs(path)?;
    let block = s.f_frsize.max(1);
    Ok(FsState {
        total_bytes: s.f_blocks.saturating_mul(block),
        free_bytes: s.f_bavail.saturating_mul(block),
        total_inodes: s.f_files,
        free_inodes: s.f_favail,
    })
}

/// The configured filesystems, each with its device once known.
#[derive(Debug, Clone, Default)]
pub struct Disks {
    known: Vec<(Filesystem, Option<u64>)>,
}

impl Disks {
    pub fn new(filesystems: &[Filesystem]) -> Self {
        Self {
            known: filesystems
                .iter()
                .map(|fs| (fs.clone(), device(&fs.target.path)))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// The index of the configured filesystem `run` is on, if any.
    pub fn index_of(&self, run: &Path) -> Option<usize> {
        self.index_of_device(device(run)?)
    }

    /// The index of the configured filesystem with device `dev`, if any.
    pub fn index_of_device(&self, dev: u64) -> Option<usize> {
        self.known.iter().position(|(_, d)| *d == Some(dev))
    }

    /// What `statvfs` says about table `index`'s filesystem, if its path is still on the
    /// device it was on when the config was loaded: a path mounted over or unmounted since
    /// names another filesystem, whose runs were not grouped under it, and the one the table
    /// was meant for cannot be measured there. No pressure decision then (reload to re-bind).
    pub fn measure(&self, index: usize) -> io::Result<FsState> {
        let (fs, loaded) = &self.known[index];
        let path = &fs.target.path;
        let now = std::fs::metadata(path)?.dev();
        if *loaded != Some(now) {
            return Err(io::Error::other(format!(
                "{} is on another filesystem than when the config was loaded (mounted or \
                 unmounted since?); reload ckptd to take the one there now",
                path.display()
            )));
        }
        measure(path)
    }

    pub fn target(&self, index: usize) -> &FilesystemTarget {
        &self.known[index].0.target
    }

    pub fn len(&self) -> usize {
        self.known.len()
    }
}

/// The highest directory above `run` still on device `dev`: the mount point, as `df` would
/// name it (bind mounts aside).
pub fn mount_point(run: &Path, dev: u64) -> PathBuf {
    run.ancestors()
        .take_while(|dir| crate::disk::device(dir) == Some(dev))
        .last()
        .unwrap_or(run)
        .to_owned()
}

/// The device of the filesystem holding `path` (following symlinks, as `statvfs` does).
pub fn device(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.dev())
}

/// One configured filesystem after a pressure step.
#[derive(Debug)]
pub struct FsOutcome {
    pub target: FilesystemTarget,
    pub state: io::Result<FsState>,
    /// The runs on it, in the order the relief's orders index them.
    pub runs: Vec<PathBuf>,
    pub relief: Relief,
    /// Deleted bytes and inodes not shown free yet, counted as coming free.
    pub coming: (u64, u64),
    /// Bytes and inodes the runs on it hold, as their passes left them: with the free space,
    /// what a later measure compares against to see deletions that have not come free yet.
    pub held: (u64, u64),
}

impl FsOutcome {
    /// The orders for each run, by run directory.
    pub fn orders(&self) -> impl Iterator<Item = (&Path, &Order)> {
        self.relief
            .orders
            .iter()
            .map(|o| (self.runs[o.run].as_path(), o))
    }
}

/// Measures every configured filesystem and runs the pressure step over the runs on it.
/// `summaries` holds every run looked at; the ones on no configured filesystem are ignored
/// (their own `max_bytes` is the pass's business). `unshown`, by filesystem (or empty),
/// says what deletions made since an earlier measure still have to free.
pub fn relieve_each(
    disks: &Disks,
    summaries: Vec<RunSummary>,
    now: SystemTime,
    unshown: &mut [Unshown],
) -> Vec<FsOutcome> {
    let at = tokio::time::Instant::now();
    relieve_grouped(
        disks,
        summaries,
        now,
        |run| disks.index_of(run),
        |index, (free, held)| {
            unshown
                .get_mut(index)
                .map_or((0, 0), |u| u.update(at, free, held))
        },
    )
}

/// What each outcome measured (its free space and what its runs hold), as the baseline
/// against which a later measure sees deleted space come back: `prune` measures before its
/// first pass and again after it.
pub fn unshown_since(outcomes: &[FsOutcome]) -> Vec<Unshown> {
    let at = tokio::time::Instant::now();
    outcomes
        .iter()
        .map(|outcome| {
            let mut unshown = Unshown::default();
            if let Ok(state) = &outcome.state {
                unshown.update(at, (state.free_bytes, state.free_inodes), outcome.held);
            }
            unshown
        })
        .collect()
}

/// As [`relieve_each`], with the filesystem of each run given by `fs_of` (the daemon knows
/// it already), and `coming(index, (free, held))` saying what deletions already made will
/// still free on filesystem `index`, given its free bytes and inodes and what its runs hold.
pub fn relieve_grouped(
    disks: &Disks,
    summaries: impl IntoIterator<Item = RunSummary>,
    now: SystemTime,
    fs_of: impl Fn(&Path) -> Option<usize>,
    mut coming: impl FnMut(usize, ((u64, u64), (u64, u64))) -> (u64, u64),
) -> Vec<FsOutcome> {
    let mut groups: Vec<Vec<RunSummary>> = (0..disks.len()).map(|_| Vec::new()).collect();
    for mut summary in summaries {
        if let Some(index) = fs_of(&summary.run) {
            // Budgets were met inside each run's own pass.
            summary.max_bytes = None;
            groups[index].push(summary);
        }
    }
    groups
        .into_iter()
        .enumerate()
        .map(|(index, runs)| {
            let target = disks.target(index).clone();
            let state = disks.measure(index);
            let held = runs
                .iter()
                .fold((0, 0), |(b, i), r| (b + r.on_disk.0, i + r.on_disk.1));
            let (relief, coming) = match &state {
                Ok(state) => {
                    let free = (state.free_bytes, state.free_inodes);
                    let coming = coming(index, (free, held));
                    let fs = pressure::Filesystem {
                        target: &target,
                        state: *state,
                        coming,
                    };
                    (pressure::relieve(&runs, Some(fs), now), coming)
                }
                Err(_) => (Relief::default(), (0, 0)),
            };
            FsOutcome {
                target,
                state,
                runs: runs.into_iter().map(|r| r.run).collect(),
                relief,
                coming,
                held,
            }
        })
        .collect()
}

/// Every outcome's orders, by run.
pub fn orders_by_run(outcomes: &[FsOutcome]) -> HashMap<PathBuf, Vec<Order>> {
    let mut by_run: HashMap<PathBuf, Vec<Order>> = HashMap::new();
    for outcome in outcomes {
        for (run, order) in outcome.orders() {
            by_run
                .entry(run.to_owned())
                .or_default()
                .push(order.clone());
        }
    }
    by_run
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_point_is_the_highest_directory_on_the_same_device() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("a/b");
        std::fs::create_dir_all(&run).unwrap();
        let dev = crate::disk::device(&run).unwrap();
        let mount = mount_point(&run, dev);
        assert!(run.starts_with(&mount));
        assert_eq!(crate::disk::device(&mount), Some(dev));
        if let Some(parent) = mount.parent() {
            assert_ne!(crate::disk::device(parent), Some(dev));
        }
    }
}
