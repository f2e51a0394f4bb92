//! `lightning`: PyTorch Lightning `ModelCheckpoint` files.
//!
//! Default names are `epoch={epoch}-step={step}.ckpt`, with `-{metric}={value}` parts when the
//! filename template names metrics and `-v1` when a name repeats; a user prefix may come first.
//! Sharded strategies save a directory of that name with `meta.pt` written last. `last.ckpt` is
//! a symlink in recent versions (protected as a pointer by the scanner) and a copy in older ones
//! (it has no step, so it is never a checkpoint and never touched).

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use crate::checkpoint::{Kind, Marker};
use crate::metrics::MetricSource;
use crate::pattern::{self, NameFields, NamePattern, Recognition};

use super::Layout;

static DEFAULT_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:.*[-_])?epoch=(?P<epoch>\d+)[-_]step=(?P<step>\d+)(?:[-_].*)?\.ckpt$")
        .expect("fixed regex")
});

static METRIC_PART: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?:^|[-_])(?P<key>[A-Za-z_][A-Za-z0-9_./]*)=(?P<value>{})(?:[-_]|\.ckpt$|$)",
        pattern::NUMBER
    ))
    .expect("fixed regex")
});

#[derive(Debug)]
pub struct Lightning {
    /// The watch's own pattern, when its `ModelCheckpoint(filename=…)` differs from the default.
    custom: Option<NamePattern>,
}

impl Lightning {
    pub fn new(custom: Option<NamePattern>) -> Self {
        Self { custom }
    }
}

impl Layout for Lightning {
    fn name(&self) -> &'static str {
        "lightning"
    }

    fn recognise(&self, name: &str, _kind: Kind) -> Recognition {
        if let Some(custom) = &self.custom {
            return custom.recognise(name);
        }
        let Some(captures) = DEFAULT_NAME.captures(name) else {
            return Recognition::NotACheckpoint;
        };
        let (Ok(step), Ok(epoch)) = (
            captures["step"].parse::<u64>(),
            captures["epoch"].parse::<u64>(),
        ) else {
            return Recognition::Unparsable(format!("step or epoch of `{name}` is too large"));
        };
        Recognition::Checkpoint(NameFields {
            step: Some(step),
            epoch: Some(epoch),
            metrics: metrics_in(name),
        })
    }

    fn marker(&self, unit: &Path, kind: Kind, _fields: &NameFields) -> Marker {
        match kind {
            Kind::File => Marker::NotRequired,
            Kind::Dir if unit.join("meta.pt").is_file() => Marker::Present,
            Kind::Dir => Marker::Missing("sharded checkpoint: meta.pt not written yet".to_owned()),
        }
    }

    fn default_metric_source(&self) -> Option<MetricSource> {
        Some(MetricSource::Filename)
    }

    fn names_carry(&self, metric: &str) -> bool {
        match &self.custom {
            Some(custom) => custom.metric_names().any(|m| m == metric),
            // `{val_loss}` in a filename template becomes `val_loss=0.25`: any metric may appear.
            None => true,
        }
    }

    fn has_step(&self) -> bool {
        self.custom.as_ref().is_none_or(NamePattern::has_step)
    }
}

/// Every `key=number` part of a name, except `epoch` and `step`.
pub(super) fn metrics_in(name: &str) -> Vec<(String, f64)> {
    let mut metrics = Vec::new();
    let mut at = 0;
    // Parts share their `-` separators, so search again from each match's value end.
    while let Some(c) = METRIC_PART.captures_at(name, at) {
        let key = &c["key"];
        if key != "epoch" && key != "step" {
            if let Some(value) = pattern::parse_number(&c["value"]) {
                metrics.push((key.to_owned(), value));
            }
        }
        at = c.name("value").expect("group").end();
    }
    metrics
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(name: &str) -> NameFields {
        match Lightning::new(None).recognise(name, Kind::File) {
            Recognition::Checkpoint(f) => f,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn default_names_give_epoch_and_step() {
        let f = fields("epoch=3-step=1200.ckpt");
        assert_eq!((f.epoch, f.step), (Some(3), Some(1200)));
        assert!(f.metrics.is_empty());
        assert_eq!(fields("epoch=3-step=1200-v1.ckpt").step, Some(1200));
        assert_eq!(fields("my-model-epoch=3-step=1200.ckpt").step, Some(1200));
    }

    #[test]
    fn metric_parts_are_read_including_negative_and_nan() {
        let f = fields("epoch=2-step=300-val_loss=0.25-val/acc=-1.5e-3.ckpt");
        assert_eq!(f.metric("val_loss"), Some(0.25));
        assert_eq!(f.metric("val/acc"), Some(-1.5e-3));
        assert!(fields("epoch=2-step=300-val_loss=nan.ckpt")
            .metric("val_loss")
            .unwrap()
            .is_nan());
    }

    #[test]
    fn last_and_other_files_are_not_checkpoints() {
        let l = Lightning::new(None);
        for name in [
            "last.ckpt",
            "last-v1.ckpt",
            "epoch=3.ckpt",
            "epoch=3-step=1200.pt",
            "hparams.yaml",
        ] {
            assert_eq!(
                l.recognise(name, Kind::File),
                Recognition::NotACheckpoint,
                "{name}"
            );
        }
    }

    #[test]
    fn sharded_directories_need_meta_pt() {
        let dir = tempfile::tempdir().unwrap();
        let l = Lightning::new(None);
        let f = NameFields::default();
        assert!(matches!(
            l.marker(dir.path(), Kind::Dir, &f),
            Marker::Missing(_)
        ));
        std::fs::write(dir.path().join("meta.pt"), b"x").unwrap();
        assert_eq!(l.marker(dir.path(), Kind::Dir, &f), Marker::Present);
        assert_eq!(l.marker(dir.path(), Kind::File, &f), Marker::NotRequired);
    }
}
