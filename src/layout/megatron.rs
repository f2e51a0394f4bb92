//! `megatron`: Megatron-LM's `iter_{step:07}` directories under `--save`.
//!
//! Each save writes the whole directory, waits for every rank, and only then (in the
//! finalisation step, after an async save too) rank 0 writes
//! `latest_checkpointed_iteration.txt`: the iteration, or `release`, without a newline. An
//! iteration above the file's is still being written; the file's own iteration is the resume
//! point (a pointer). Inside, the format's last file must be there: `metadata.json` for
//! `torch_dist` (after `common.pt` and the `__R_I.distcp` shards), `.metadata` for `torch_dcp`;
//! the legacy `mp_rank_XX[_YYY]/model_optim_rng.pt` layout has none, so `settle` decides. The
//! `release/` directory has no iteration and is never a checkpoint, so never deleted.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use crate::checkpoint::{Kind, Marker};
use crate::pattern::{NameFields, Recognition};

use super::{read_pointer_file, Layout, Pointer};

const TRACKER: &str = "latest_checkpointed_iteration.txt";

static NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^iter_(?P<step>\d{7,})$").expect("fixed regex"));

/// What the tracker file says.
#[derive(Debug, PartialEq, Eq)]
enum Tracker {
    Iteration(u64),
    Release,
}

fn tracker(run: &Path) -> Option<Tracker> {
    let text = read_pointer_file(&run.join(TRACKER))?;
    if text == "release" {
        return Some(Tracker::Release);
    }
    text.parse().ok().map(Tracker::Iteration)
}

/// The marker of the checkpoint format found in `unit`.
fn format_marker(unit: &Path) -> Marker {
    let has = |name: &str| unit.join(name).is_file();
    if has("common.pt") {
        return if has("metadata.json") {
            Marker::Present
        } else {
            Marker::Missing("torch_dist: metadata.json not written yet".to_owned())
        };
    }
    let shards = std::fs::read_dir(unit).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().ends_with(".distcp"))
    });
    match (shards, has(".metadata")) {
        (true, false) => Marker::Missing("torch_dcp: .metadata not written yet".to_owned()),
        (true, true) => Marker::Present,
        (false, _) => Marker::NotRequired,
    }
}

#[derive(Debug)]
pub struct Megatron;

impl Megatron {
    pub fn new() -> Self {
        Self
    }
}

impl Layout for Megatron {
    fn name(&self) -> &'static str {
        "megatron"
    }

    fn recognise(&self, name: &str, kind: Kind) -> Recognition {
        super::step_directory(&NAME, name, kind)
    }

    fn marker(&self, unit: &Path, _kind: Kind, fields: &NameFields) -> Marker {
        let format = format_marker(unit);
        if let Marker::Missing(_) = format {
            return format;
        }
        match (unit.parent().and_then(tracker), fields.step) {
            (None, _) => Marker::Missing(format!("{TRACKER} not written yet")),
            (Some(Tracker::Iteration(latest)), Some(step)) if step > latest => {
                Marker::Missing(format!("being written: {TRACKER} says {latest}"))
            }
            _ => format,
        }
    }

    fn pointers(&self, run: &Path, _checkpoints: &[(&str, Option<u64>)]) -> Vec<Pointer> {
        match tracker(run) {
            Some(Tracker::Iteration(n)) => vec![Pointer {
                target: format!("iter_{n:07}"),
                why: format!("iteration in {TRACKER}"),
            }],
            // `release/` is not a checkpoint: nothing to protect by name.
            Some(Tracker::Release) | None => Vec::new(),
        }
    }

    fn names_carry(&self, _metric: &str) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iteration_directories_have_seven_or_more_digits() {
        let m = Megatron::new();
        assert_eq!(
            m.recognise("iter_0001000", Kind::Dir),
            Recognition::Checkpoint(NameFields::at_step(1000))
        );
        assert_eq!(
            m.recognise("iter_12345678", Kind::Dir),
            Recognition::Checkpoint(NameFields::at_step(12_345_678))
        );
        for name in [
            "iter_1000",
            "release",
            "iter_0001000.tmp",
            "latest_checkpointed_iteration.txt",
        ] {
            assert_eq!(
                m.recognise(name, Kind::Dir),
                Recognition::NotACheckpoint,
                "{name}"
            );
        }
        assert_eq!(
            m.recognise("iter_0001000", Kind::File),
            Recognition::NotACheckpoint
        );
    }

    #[test]
    fn the_tracker_bounds_completeness_and_names_the_resume_point() {
        let run = tempfile::tempdir().unwrap();
        let m = Megatron::new();
        let unit = |n: u64| {
            let dir = run.path().join(format!("iter_{n:07}"));
            std::fs::create_dir_all(dir.join("mp_rank_00")).unwrap();
            std::fs::write(dir.join("mp_rank_00/model_optim_rng.pt"), "x").unwrap();
            dir
        };
        let (u100, u200) = (unit(100), unit(200));
        assert!(matches!(
            m.marker(&u100, Kind::Dir, &NameFields::at_step(100)),
            Marker::Missing(_)
        ));
        std::fs::write(run.path().join(TRACKER), "100").unwrap();
        assert_eq!(
            m.marker(&u100, Kind::Dir, &NameFields::at_step(100)),
            Marker::NotRequired
        );
        assert_eq!(
            m.marker(&u200, Kind::Dir, &NameFields::at_step(200)),
            Marker::Missing(format!("being written: {TRACKER} says 100"))
        );
        assert_eq!(m.pointers(run.path(), &[])[0].target, "iter_0000100");
        std::fs::write(run.path().join(TRACKER), "release").unwrap();
        assert!(m.pointers(run.path(), &[]).is_empty());
        assert_eq!(
            m.marker(&u200, Kind::Dir, &NameFields::at_step(200)),
            Marker::NotRequired
        );
    }

    #[test]
    fn torch_dist_needs_metadata_json_and_torch_dcp_needs_dot_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let unit = dir.path();
        std::fs::write(unit.join("__0_0.distcp"), "x").unwrap();
        assert!(matches!(format_marker(unit), Marker::Missing(m) if m.contains(".metadata")));
        std::fs::write(unit.join(".metadata"), "x").unwrap();
        assert_eq!(format_marker(unit), Marker::Present);
        std::fs::write(unit.join("common.pt"), "x").unwrap();
        assert!(matches!(format_marker(unit), Marker::Missing(m) if m.contains("metadata.json")));
        std::fs::write(unit.join("metadata.json"), "{}").unwrap();
        assert_eq!(format_marker(unit), Marker::Present);
    }
}
