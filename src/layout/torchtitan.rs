//! `torchtitan`: `CheckpointManager` step directories `step-{step}` under the job's
//! `checkpoint.folder`.
//!
//! A save is one `torch.distributed.checkpoint` write, which ends with `.metadata`; a save in
//! Hugging Face format (`last_save_in_hf`) ends with `model.safetensors.index.json` instead.
//! torchtitan itself only loads a `step-N` that has one of them, so neither means in progress.
//! torchtitan has no metric file of its own: its TensorBoard directory is configured per job,
//! so `keep_best` needs a `metric_source`.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use crate::checkpoint::{Kind, Marker};
use crate::pattern::{NameFields, Recognition};

use super::Layout;

static NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^step-(?P<step>\d+)$").expect("fixed regex"));

#[derive(Debug)]
pub struct TorchTitan;

impl TorchTitan {
    pub fn new() -> Self {
        Self
    }
}

impl Layout for TorchTitan {
    fn name(&self) -> &'static str {
        "torchtitan"
    }

    fn recognise(&self, name: &str, kind: Kind) -> Recognition {
        super::step_directory(&NAME, name, kind)
    }

    fn marker(&self, unit: &Path, _kind: Kind, _fields: &NameFields) -> Marker {
        if unit.join(".metadata").is_file() || unit.join("model.safetensors.index.json").is_file() {
            Marker::Present
        } else {
            Marker::Missing(
                ".metadata (or model.safetensors.index.json) not written yet".to_owned(),
            )
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
    fn step_directories_only() {
        let t = TorchTitan::new();
        assert!(matches!(
            t.recognise("step-1000", Kind::Dir),
            Recognition::Checkpoint(NameFields {
                step: Some(1000),
                ..
            })
        ));
        for name in ["step-1000-old", "ft-replicat-0", "step-", "step_1000"] {
            assert_eq!(
                t.recognise(name, Kind::Dir),
                Recognition::NotACheckpoint,
                "{name}"
            );
        }
        assert_eq!(
            t.recognise("step-1000", Kind::File),
            Recognition::NotACheckpoint
        );
    }

    #[test]
    fn dcp_or_hf_index_marks_a_finished_save() {
        let f = NameFields::default();
        let t = TorchTitan::new();
        let dcp = tempfile::tempdir().unwrap();
        std::fs::write(dcp.path().join("__0_0.distcp"), "x").unwrap();
        assert!(matches!(
            t.marker(dcp.path(), Kind::Dir, &f),
            Marker::Missing(_)
        ));
        std::fs::write(dcp.path().join(".metadata"), "x").unwrap();
        assert_eq!(t.marker(dcp.path(), Kind::Dir, &f), Marker::Present);
        let hf = tempfile::tempdir().unwrap();
        std::fs::write(hf.path().join("model-00001-of-00002.safetensors"), "x").unwrap();
        assert!(matches!(
            t.marker(hf.path(), Kind::Dir, &f),
            Marker::Missing(_)
        ));
        std::fs::write(hf.path().join("model.safetensors.index.json"), "{}").unwrap();
        assert_eq!(t.marker(hf.path(), Kind::Dir, &f), Marker::Present);
    }
}
