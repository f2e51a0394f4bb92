//! The scanner: everything ckptd learns from disk about one run, as plain data for the planner.
//!
//! It lists the run's direct children (never following symlinks), lets the layout recognise
//! checkpoints, fingerprints each one, reads its marker and metric, and collects protections:
//! pins, symlink pointers, the layout's own pointer files and its aliases.

mod fingerprint;
mod open_writers;
mod pointers;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::checkpoint::{
    Checkpoint, Digest, Fingerprint, Kind, Marker, MetricObservation, Protection, Slim, Writers,
};
use crate::config::Watch;
use crate::layout::{is_never_a_checkpoint, Layout, Pointer};
use crate::metrics::{Interest, Metrics, Reading};
use crate::pattern::{NameFields, Recognition};
use crate::pins;

pub use fingerprint::fingerprint;
use fingerprint::fingerprint_and_writers;
use open_writers::OpenFiles;
pub use pointers::symlink_target;

/// A direct child of a run that the layout recognised, before it is examined.
struct Candidate {
    name: String,
    kind: Kind,
    fields: NameFields,
}

/// Scans `run` for `watch`. Fails only when the run directory itself cannot be listed.
pub fn scan_run(run: &Path, watch: &Watch) -> std::io::Result<Vec<Checkpoint>> {
    scan_run_knowing(run, watch, &|_| None)
}

/// [`scan_run`] for the daemon, which remembers the fingerprint at which it last `confirmed`
/// each checkpoint complete with no writer. The costly walk over every process's open files is
/// skipped only while every checkpoint still has exactly that fingerprint: any change (a
/// trainer re-saving the same name) makes the walk happen again.
pub fn scan_run_knowing(
    run: &Path,
    watch: &Watch,
    confirmed: &dyn Fn(&str) -> Option<Digest>,
) -> std::io::Result<Vec<Checkpoint>> {
    let (candidates, symlinks) = list(run, watch.layout.as_ref())?;
    // Pins that cannot be read protect nothing we know of: the run is not planned at all.
    let protections = protections(run, watch.layout.as_ref(), &candidates, &symlinks)?;
    let wants_metric = watch.policy.keep_best.as_ref().map(|b| b.metric.as_str());
    // Every checkpoint's metrics by name are read too, ranked or not: "checkpoint complete"
    // shows them (DESIGN "Logs").
    let interest = Interest::new(
        candidates.iter().filter_map(|c| c.fields.step).collect(),
        watch.metric_window,
    );
    let run_log = watch.metric_source.as_ref().and_then(|source| {
        source.load_run_log(run, wants_metric, watch.max_metric_bytes, &interest)
    });
    // The open-writer walk comes before the fingerprints it vouches for: a writer that
    // finishes and closes between the two then shows as a fresh mtime, never as an old
    // fingerprint with no writer. It is skipped only when every checkpoint was confirmed and
    // none changed; when one changed, the walk is made and everything fingerprinted again.
    let confirmed: Vec<Option<Digest>> = candidates.iter().map(|c| confirmed(&c.name)).collect();
    let every_name_confirmed = confirmed.iter().all(Option::is_some);
    let mut writers = (!every_name_confirmed).then(open_writers::open_for_writing);
    let mut fingerprints = fingerprint_all(run, &candidates, writers.as_deref());
    if writers.is_none() {
        let changed = confirmed
            .iter()
            .zip(&fingerprints)
            .any(|(confirmed, (f, _, _))| f.is_some() && f.map(|f| f.digest()) != *confirmed);
        if changed {
            writers = Some(open_writers::open_for_writing());
            fingerprints = fingerprint_all(run, &candidates, writers.as_deref());
        }
    }

    let checkpoints = candidates
        .into_iter()
        .zip(fingerprints)
        .zip(confirmed)
        .map(
            |((candidate, (fingerprint, open, scan_problem)), confirmed)| {
                let unit = run.join(&candidate.name);
                let marker = if fingerprint.is_some() {
                    watch
                        .layout
                        .marker(&unit, candidate.kind, &candidate.fields)
                } else {
                    Marker::NotRequired
                };
                let (metric, metrics) = match &watch.metric_source {
                    Some(source) => source.observe(
                        wants_metric,
                        &unit,
                        &candidate.fields,
                        run_log.as_ref(),
                        Reading {
                            metric_window: watch.metric_window,
                            max_bytes: watch.max_metric_bytes,
                            incomplete: matches!(marker, Marker::Missing(_)),
                        },
                    ),
                    None => (MetricObservation::NotWanted, Metrics::default()),
                };
                let slim = watch.slim_files.as_ref().map_or(Slim::Off, |set| {
                    crate::slim::observe(run, &candidate.name, candidate.kind, fingerprint, set)
                });
                let mut checkpoint = Checkpoint {
                    marker,
                    writers: if writers.is_some() {
                        Writers::Checked { open }
                    } else {
                        Writers::NotChecked
                    },
                    confirmed,
                    protections: protections
                        .get(&candidate.name)
                        .cloned()
                        .unwrap_or_default(),
                    name: candidate.name,
                    step: candidate.fields.step,
                    epoch: candidate.fields.epoch,
                    kind: candidate.kind,
                    stable_since: None,
                    fingerprint,
                    metric,
                    metrics,
                    scan_problem,
                    slim,
                };
                // A slimmed checkpoint is dated by its record: slimming moved its mtime.
                checkpoint.stable_since = checkpoint.completed_at();
                checkpoint
            },
        )
        .collect();
    Ok(checkpoints)
}

/// Each candidate's fingerprint and whether one of its files is in `writers` (when the
/// walk over `/proc` was made), or why it could not be read (a WARN).
fn fingerprint_all(
    run: &Path,
    candidates: &[Candidate],
    writers: Option<&OpenFiles>,
) -> Vec<(Option<Fingerprint>, bool, Option<String>)> {
    let none = HashSet::new();
    candidates
        .iter()
        .map(|candidate| {
            let unit = run.join(&candidate.name);
            let ids = writers.map_or(&none, |w| &w.ids);
            match fingerprint_and_writers(&unit, candidate.kind, ids) {
                Ok((f, open)) => {
                    let unnamed = candidate.kind == Kind::Dir
                        && writers.is_some_and(|w| w.unnamed_inside(&unit));
                    (Some(f), open || unnamed, None)
                }
                Err(problem) => {
                    tracing::warn!(
                        run = %run.display(),
                        checkpoint = %candidate.name,
                        reason = %problem,
                        "checkpoint unreadable: kept as incomplete: {} in {}: {problem}",
                        candidate.name,
                        run.display()
                    );
                    (None, false, Some(problem.to_string()))
                }
            }
        })
        .collect()
}

/// The recognised checkpoints of `run` in checkpoint-name order, and its symlinks.
fn list(run: &Path, layout: &dyn Layout) -> std::io::Result<(Vec<Candidate>, Vec<PathBuf>)> {
    let mut candidates = Vec::new();
    let mut symlinks = Vec::new();
    for entry in std::fs::read_dir(run)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            tracing::warn!(run = %run.display(), path = %entry.path().display(), "name is not UTF-8: ignored, never touched: {}", entry.path().display());
            continue;
        };
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        let kind = if file_type.is_symlink() {
            symlinks.push(entry.path());
            continue;
        } else if file_type.is_dir() {
            Kind::Dir
        } else if file_type.is_file() {
            Kind::File
        } else {
            continue;
        };
        if is_never_a_checkpoint(&name) {
            continue;
        }
        match layout.recognise(&name, kind) {
            Recognition::NotACheckpoint => {}
            Recognition::Checkpoint(fields) => candidates.push(Candidate { name, kind, fields }),
            Recognition::Unparsable(why) => tracing::warn!(
                run = %run.display(),
                checkpoint = %name,
                reason = %why,
                "name matches the pattern but its step cannot be read: not a checkpoint: {name} in {}: {why}",
                run.display()
            ),
        }
    }
    candidates.sort_by(|a, b| {
        a.fields
            .step
            .cmp(&b.fields.step)
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok((candidates, symlinks))
}

/// Pins, symlink pointers, the layout's pointers and aliases, by checkpoint name.
fn protections(
    run: &Path,
    layout: &dyn Layout,
    candidates: &[Candidate],
    symlinks: &[PathBuf],
) -> std::io::Result<HashMap<String, Vec<Protection>>> {
    let mut out: HashMap<String, Vec<Protection>> = HashMap::new();
    for name in pins::pinned_names(run)? {
        out.entry(name).or_default().push(Protection::Pinned);
    }
    for pointer in pointers_of(run, layout, candidates, symlinks) {
        out.entry(pointer.target)
            .or_default()
            .push(Protection::Pointer(pointer.why));
    }
    for candidate in candidates.iter().filter(|c| layout.is_alias(&c.name)) {
        out.entry(candidate.name.clone())
            .or_default()
            .push(Protection::Alias);
    }
    Ok(out)
}

fn pointers_of(
    run: &Path,
    layout: &dyn Layout,
    candidates: &[Candidate],
    symlinks: &[PathBuf],
) -> Vec<Pointer> {
    let names: Vec<(&str, Option<u64>)> = candidates
        .iter()
        .map(|c| (c.name.as_str(), c.fields.step))
        .collect();
    let mut pointers: Vec<Pointer> = symlinks
        .iter()
        .filter_map(|link| symlink_target(run, link))
        .collect();
    pointers.extend(layout.pointers(run, &names));
    pointers
}

/// Every checkpoint name that something points at right now; the executor re-reads this
/// during a pass (see `execute::recheck::Pointers`).
pub fn current_pointers(run: &Path, layout: &dyn Layout) -> std::io::Result<HashSet<String>> {
    let (candidates, symlinks) = list(run, layout)?;
    Ok(pointers_of(run, layout, &candidates, &symlinks)
        .into_iter()
        .map(|p| p.target)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn watch(dir: &Path) -> Watch {
        let text = "[[watch]]\nname = \"w\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"ckpt-{step}.pt\"\nkeep_last = 1\n";
        let mut config = Config::parse(text, &dir.join("ckptd.toml")).unwrap();
        config.watches.remove(0)
    }

    #[test]
    fn the_open_writer_walk_is_skipped_only_while_every_fingerprint_is_the_confirmed_one() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        std::fs::write(run.join("ckpt-1.pt"), b"one").unwrap();
        std::fs::write(run.join("ckpt-2.pt"), b"two").unwrap();
        let watch = watch(dir.path());
        let first = scan_run(&run, &watch).unwrap();
        // (Whether `open`: other tests of this process open and close files meanwhile, and a
        // snapshot up to 250 ms old may name an inode since reused — the safe direction.)
        assert!(first
            .iter()
            .all(|c| matches!(c.writers, Writers::Checked { .. })));
        let confirmed: HashMap<String, Digest> = first
            .iter()
            .map(|c| (c.name.clone(), c.fingerprint.unwrap().digest()))
            .collect();

        let confirmed = |name: &str| confirmed.get(name).copied();
        let unchanged = scan_run_knowing(&run, &watch, &confirmed).unwrap();
        assert!(unchanged.iter().all(|c| c.writers == Writers::NotChecked));

        // Re-saved in place and held open: the walk is made again and sees the writer (once
        // the shared /proc snapshot, at most 250 ms old, is taken after the open).
        let writer = std::fs::File::create(run.join("ckpt-2.pt")).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let rewritten = scan_run_knowing(&run, &watch, &confirmed).unwrap();
            let two = rewritten.iter().find(|c| c.name == "ckpt-2.pt").unwrap();
            assert_ne!(two.confirmed, two.fingerprint.map(|f| f.digest()));
            assert!(matches!(two.writers, Writers::Checked { .. }), "{two:?}");
            if two.writers == (Writers::Checked { open: true }) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "writer never seen");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        drop(writer);
    }
}
