//! `nemo`: NeMo's `ModelCheckpoint`, with names built from its `filename` template, such as
//! `megatron_gpt--val_loss=2.15-step=1000-consumed_samples=8000.0`: a directory (NeMo 2 and
//! NeMo 1 distributed checkpoints) or a `.ckpt` file (NeMo 1). NeMo 1's default template,
//! `{name}--{val_loss:.2f}-{epoch}`, carries no step: such checkpoints have only an epoch, and
//! rules that need a step (`keep_every_steps`, run-level metrics) pass them by.
//!
//! Before saving (and before removing) a checkpoint NeMo touches `<name>-unfinished` beside it
//! (the name without `.ckpt` and without `-EMA`), and removes it once every rank is done, after
//! an async save too: while the marker exists the checkpoint is in progress. `save_last` writes
//! a second, full copy named `…-last` (`…-last.ckpt`): an alias of the checkpoint of the same
//! step, protected and never counted, so it never takes the place of the real one. `-EMA`
//! copies and `.nemo` archives are not recognised, so never touched. Metrics are `key=value`
//! parts of the name, as in Lightning.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use crate::checkpoint::{Kind, Marker};
use crate::metrics::MetricSource;
use crate::pattern::{NameFields, Recognition};

use super::{lightning, Layout};

const UNFINISHED: &str = "-unfinished";

static STEP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[-_])step=(?P<n>\d+)(?:[-_.]|$)").expect("fixed regex"));
static EPOCH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[-_])epoch=(?P<n>\d+)(?:[-_.]|$)").expect("fixed regex"));
static LAST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"-last(?:-v\d+)?(?:\.ckpt)?$").expect("fixed regex"));
static EMA: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"-EMA(?:\.ckpt)?$").expect("fixed regex"));

#[derive(Debug)]
pub struct NeMo;

impl NeMo {
    pub fn new() -> Self {
        Self
    }
}

fn number(re: &Regex, name: &str) -> Result<Option<u64>, String> {
    re.captures(name)
        .map(|c| {
            c["n"]
                .parse()
                .map_err(|_| format!("`{}` in `{name}` is too large", &c["n"]))
        })
        .transpose()
}

impl Layout for NeMo {
    fn name(&self) -> &'static str {
        "nemo"
    }

    #[allow(clippy::case_sensitive_file_extension_comparisons)] // NeMo writes exactly `.ckpt`
    fn recognise(&self, name: &str, kind: Kind) -> Recognition {
        if (kind == Kind::File && !name.ends_with(".ckpt")) || EMA.is_match(name) {
            return Recognition::NotACheckpoint;
        }
        match (number(&STEP, name), number(&EPOCH, name)) {
            (Ok(None), Ok(None)) => Recognition::NotACheckpoint,
            (Ok(step), Ok(epoch)) => Recognition::Checkpoint(NameFields {
                step,
                epoch,
                metrics: lightning::metrics_in(name),
            }),
            (Err(why), _) | (_, Err(why)) => Recognition::Unparsable(why),
        }
    }

    fn marker(&self, unit: &Path, _kind: Kind, _fields: &NameFields) -> Marker {
        let Some(name) = unit.file_name().and_then(|n| n.to_str()) else {
            return Marker::NotRequired;
        };
        let stem = name.strip_suffix(".ckpt").unwrap_or(name);
        let marker = format!("{stem}{UNFINISHED}");
        if unit.with_file_name(&marker).exists() {
            Marker::Missing(format!("`{marker}` exists: NeMo is writing or removing it"))
        } else {
            Marker::NotRequired
        }
    }

    fn is_alias(&self, name: &str) -> bool {
        LAST.is_match(name)
    }

    fn default_metric_source(&self) -> Option<MetricSource> {
        Some(MetricSource::Filename)
    }

    fn names_carry(&self, _metric: &str) -> bool {
        // Any `{metric}` of the filename template becomes `metric=value` in the name.
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(name: &str, kind: Kind) -> NameFields {
        match NeMo::new().recognise(name, kind) {
            Recognition::Checkpoint(f) => f,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn nemo2_directories_and_nemo1_files_give_step_and_metrics() {
        let f = fields(
            "megatron_gpt--val_loss=2.15-step=1000-consumed_samples=8000.0",
            Kind::Dir,
        );
        assert_eq!(f.step, Some(1000));
        assert_eq!(f.metric("val_loss"), Some(2.15));
        assert_eq!(f.metric("consumed_samples"), Some(8000.0));
        let f = fields(
            "megatron_gpt--val_loss=2.15-step=1000-consumed_samples=8000.0-last",
            Kind::Dir,
        );
        assert_eq!(f.step, Some(1000));
        let f = fields("model--val_loss=0.5-epoch=2-step=300.ckpt", Kind::File);
        assert_eq!((f.epoch, f.step), (Some(2), Some(300)));
        // NeMo 1's default template has an epoch and no step.
        let f = fields("megatron_gpt--val_loss=2.15-epoch=3.ckpt", Kind::File);
        assert_eq!((f.epoch, f.step), (Some(3), None));
        let f = fields("megatron_gpt--val_loss=2.15-epoch=3-last.ckpt", Kind::File);
        assert_eq!((f.epoch, f.step), (Some(3), None));
    }

    #[test]
    fn markers_ema_copies_archives_and_stepless_names_are_not_checkpoints() {
        let n = NeMo::new();
        for (name, kind) in [
            ("megatron_gpt--val_loss=2.15-step=1000.ckpt", Kind::Dir),
            ("megatron_gpt--val_loss=2.15-step=1000", Kind::File),
            ("megatron_gpt--val_loss=2.15-step=1000-EMA.ckpt", Kind::File),
            ("megatron_gpt--val_loss=2.15-step=1000-EMA", Kind::Dir),
            ("megatron_gpt.nemo", Kind::File),
            ("megatron_gpt--val_loss=2.15.ckpt", Kind::File),
            ("laststep=5", Kind::Dir),
        ] {
            if name == "megatron_gpt--val_loss=2.15-step=1000.ckpt" {
                // A directory may end in `.ckpt` (NeMo 1 distributed checkpoints do).
                assert!(matches!(
                    n.recognise(name, kind),
                    Recognition::Checkpoint(_)
                ));
                continue;
            }
            assert_eq!(
                n.recognise(name, kind),
                Recognition::NotACheckpoint,
                "{name}"
            );
        }
    }

    #[test]
    fn last_copies_are_aliases() {
        let n = NeMo::new();
        assert!(n.is_alias("megatron_gpt--val_loss=2.15-step=1000-consumed_samples=8000.0-last"));
        assert!(n.is_alias("model--val_loss=0.5-step=300-last.ckpt"));
        assert!(n.is_alias("model--val_loss=0.5-step=300-last-v1.ckpt"));
        assert!(!n.is_alias("model--val_loss=0.5-step=300.ckpt"));
        assert!(!n.is_alias("lastly--step=300"));
    }

    #[test]
    fn the_unfinished_marker_beside_it_means_in_progress() {
        let run = tempfile::tempdir().unwrap();
        let n = NeMo::new();
        let f = NameFields::default();
        let dir = run.path().join("m--val_loss=1.0-step=10");
        let file = run.path().join("m--val_loss=1.0-step=20.ckpt");
        assert_eq!(n.marker(&dir, Kind::Dir, &f), Marker::NotRequired);
        std::fs::write(run.path().join("m--val_loss=1.0-step=10-unfinished"), "").unwrap();
        std::fs::write(run.path().join("m--val_loss=1.0-step=20-unfinished"), "").unwrap();
        assert!(matches!(n.marker(&dir, Kind::Dir, &f), Marker::Missing(_)));
        assert!(matches!(
            n.marker(&file, Kind::File, &f),
            Marker::Missing(_)
        ));
    }
}
