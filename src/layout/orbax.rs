//! `orbax`: `orbax.checkpoint.CheckpointManager` step directories: `{step}` (zero-padded when
//! `step_format_fixed_length` is set), or with `step_prefix` the watch's `pattern`, such as
//! `checkpoint_{step}`. Any `<word>_<digits>` is not accepted by default: an `eval_500/` beside
//! the steps would otherwise become the "newest" checkpoint and cost the real resume point.
//!
//! By default Orbax writes a step into `<name>.orbax-checkpoint-tmp` (with a `-<timestamp>`
//! suffix in older versions) and renames it when done: those names are never checkpoints.
//! Where a rename is not atomic (`CommitFileTemporaryPath`, the default on GCS) it writes the
//! final name directly and adds `commit_success.txt` last. Recent versions also keep
//! `_CHECKPOINT_METADATA` (JSON) in each step, created with `"commit_timestamp_nsecs": null`
//! and given the commit time just before the rename or the commit file: a step whose metadata
//! has no commit time is not finished. A step with neither file (older Orbax) must hold at least
//! one item directory (`default/`, `state/`…) and is complete once it settled, its final name
//! being proof of the rename; an empty or file-only directory is not Orbax's. Metrics saved with the step (for
//! `best_fn`) are the flat JSON object `metrics/metrics`.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use crate::checkpoint::{Kind, Marker};
use crate::metrics::json::{self, Json};
use crate::metrics::MetricSource;
use crate::pattern::{NameFields, NamePattern, Recognition};

use super::Layout;

const COMMIT_SUCCESS: &str = "commit_success.txt";
const STEP_METADATA: &str = "_CHECKPOINT_METADATA";

static NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?P<step>\d+)$").expect("fixed regex"));

#[derive(Debug)]
pub struct Orbax {
    /// The watch's `pattern`, for a `step_prefix` (e.g. `checkpoint_{step}`).
    prefixed: Option<NamePattern>,
}

impl Orbax {
    pub fn new(prefixed: Option<NamePattern>) -> Self {
        Self { prefixed }
    }
}

impl Layout for Orbax {
    fn name(&self) -> &'static str {
        "orbax"
    }

    fn recognise(&self, name: &str, kind: Kind) -> Recognition {
        match &self.prefixed {
            Some(_) if kind != Kind::Dir => Recognition::NotACheckpoint,
            Some(pattern) => pattern.recognise(name),
            None => super::step_directory(&NAME, name, kind),
        }
    }

    fn marker(&self, unit: &Path, _kind: Kind, _fields: &NameFields) -> Marker {
        if unit.join(COMMIT_SUCCESS).is_file() {
            return Marker::Present;
        }
        let text = match crate::regular_file::read_to_string(&unit.join(STEP_METADATA)) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return has_item_dir(unit),
            Err(e) => return Marker::Missing(format!("{STEP_METADATA} unreadable: {e}")),
        };
        match json::parse::<Json>(&text) {
            Err(_) => Marker::Missing(format!("{STEP_METADATA} not parseable yet")),
            Ok(doc)
                if doc
                    .get("commit_timestamp_nsecs")
                    .and_then(Json::as_number)
                    .is_some() =>
            {
                Marker::Present
            }
            Ok(_) => Marker::Missing(format!(
                "not committed yet: no commit_timestamp_nsecs in {STEP_METADATA}"
            )),
        }
    }

    fn has_step(&self) -> bool {
        self.prefixed.as_ref().is_none_or(NamePattern::has_step)
    }

    fn default_metric_source(&self) -> Option<MetricSource> {
        Some(MetricSource::CheckpointJson {
            path: "metrics/metrics".to_owned(),
        })
    }

    fn names_carry(&self, _metric: &str) -> bool {
        false
    }
}

/// Older Orbax writes no metadata file; what it always writes is one directory per item.
fn has_item_dir(unit: &Path) -> Marker {
    let has_dir = std::fs::read_dir(unit).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_type().is_ok_and(|t| t.is_dir()))
    });
    if has_dir {
        Marker::NotRequired
    } else {
        Marker::Missing(format!(
            "no {STEP_METADATA} and no item directory: not an Orbax step (yet)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step_of(name: &str) -> Option<u64> {
        match Orbax::new(None).recognise(name, Kind::Dir) {
            Recognition::Checkpoint(f) => f.step,
            _ => None,
        }
    }

    #[test]
    fn standard_names_with_prefix_and_padding() {
        assert_eq!(step_of("1000"), Some(1000));
        assert_eq!(step_of("0001000"), Some(1000));
        for name in [
            "checkpoint_1000",
            "eval_500",
            "metrics",
            "checkpoint_",
            "_1000",
            "1000.orbax-checkpoint-tmp",
            "step-1000",
        ] {
            assert_eq!(step_of(name), None, "{name}");
        }
        assert_eq!(
            Orbax::new(None).recognise("1000", Kind::File),
            Recognition::NotACheckpoint
        );
        let prefixed = Orbax::new(Some(
            NamePattern::placeholders("checkpoint_{step}").unwrap(),
        ));
        assert!(
            matches!(prefixed.recognise("checkpoint_0042", Kind::Dir), Recognition::Checkpoint(f) if f.step == Some(42))
        );
        assert_eq!(
            prefixed.recognise("1000", Kind::Dir),
            Recognition::NotACheckpoint
        );
        assert_eq!(
            prefixed.recognise("eval_500", Kind::Dir),
            Recognition::NotACheckpoint
        );
    }

    #[test]
    fn commit_file_and_step_metadata_decide_completeness() {
        let dir = tempfile::tempdir().unwrap();
        let o = Orbax::new(None);
        let f = NameFields::default();
        // Empty: not an Orbax step. With an item directory (older Orbax): settle decides.
        assert!(
            matches!(o.marker(dir.path(), Kind::Dir, &f), Marker::Missing(m) if m.contains("item directory"))
        );
        std::fs::create_dir(dir.path().join("default")).unwrap();
        assert_eq!(o.marker(dir.path(), Kind::Dir, &f), Marker::NotRequired);
        let meta = dir.path().join(STEP_METADATA);
        std::fs::write(&meta, r#"{"item_handlers": null, "metrics": {}, "init_timestamp_nsecs": 1700000000000000000, "commit_timestamp_nsecs": null}"#).unwrap();
        assert!(
            matches!(o.marker(dir.path(), Kind::Dir, &f), Marker::Missing(m) if m.contains("not committed"))
        );
        std::fs::write(&meta, r#"{"init_timestamp_nsecs": 1700000000000000000, "commit_timestamp_nsecs": 1700000001000000000}"#).unwrap();
        assert_eq!(o.marker(dir.path(), Kind::Dir, &f), Marker::Present);
        std::fs::write(&meta, r#"{"init_timestamp_nsecs": 17"#).unwrap();
        assert!(matches!(
            o.marker(dir.path(), Kind::Dir, &f),
            Marker::Missing(_)
        ));
        std::fs::write(
            dir.path().join(COMMIT_SUCCESS),
            "Checkpoint commit was successful",
        )
        .unwrap();
        assert_eq!(o.marker(dir.path(), Kind::Dir, &f), Marker::Present);
    }
}
