//! `opensora`: Open-Sora's `epoch{epoch}-global_step{step}` directories (ColossalAI booster).
//!
//! The booster writes `model/`, `optimizer/` and `lr_scheduler/`; then rank 0 writes
//! `running_states.json` (`epoch`, `step`, `global_step`, `batch_size`, and in Open-Sora 2
//! `actual_update_step`, the number in the directory's name) and the EMA weights: `ema.pt`, or
//! `ema.safetensors` when written asynchronously (Open-Sora 2). Both present means the save
//! reached its end; an asynchronous EMA write still in flight keeps changing the fingerprint,
//! so `settle` covers it. Open-Sora's own rotation empties old directories but leaves their
//! `eval/`: such a remnant has no `running_states.json` and is never counted or deleted.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use crate::checkpoint::{Kind, Marker};
use crate::metrics::json::{self, Json};
use crate::pattern::{NameFields, Recognition};

use super::Layout;

const RUNNING_STATES: &str = "running_states.json";
const EMA_FILES: [&str; 2] = ["ema.pt", "ema.safetensors"];

static NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^epoch(?P<epoch>\d+)-global_step(?P<step>\d+)$").expect("fixed regex")
});

#[derive(Debug)]
pub struct OpenSora;

impl OpenSora {
    pub fn new() -> Self {
        Self
    }
}

impl Layout for OpenSora {
    fn name(&self) -> &'static str {
        "opensora"
    }

    fn recognise(&self, name: &str, kind: Kind) -> Recognition {
        let Some(captures) = NAME.captures(name).filter(|_| kind == Kind::Dir) else {
            return Recognition::NotACheckpoint;
        };
        match (captures["step"].parse(), captures["epoch"].parse()) {
            (Ok(step), Ok(epoch)) => Recognition::Checkpoint(NameFields {
                step: Some(step),
                epoch: Some(epoch),
                metrics: Vec::new(),
            }),
            _ => Recognition::Unparsable(format!("step or epoch of `{name}` is too large")),
        }
    }

    fn marker(&self, unit: &Path, _kind: Kind, _fields: &NameFields) -> Marker {
        let states = crate::regular_file::read_to_string(&unit.join(RUNNING_STATES))
            .ok()
            .and_then(|text| json::parse::<Json>(&text).ok());
        if states
            .as_ref()
            .and_then(|s| s.get("global_step"))
            .and_then(Json::as_step)
            .is_none()
        {
            return Marker::Missing(format!(
                "{RUNNING_STATES} missing, not parseable yet, or without global_step"
            ));
        }
        if EMA_FILES.iter().any(|f| unit.join(f).is_file()) {
            Marker::Present
        } else {
            Marker::Missing("EMA weights (ema.pt or ema.safetensors) not written yet".to_owned())
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
    fn names_give_epoch_and_step() {
        let o = OpenSora::new();
        assert_eq!(
            o.recognise("epoch3-global_step12000", Kind::Dir),
            Recognition::Checkpoint(NameFields {
                step: Some(12000),
                epoch: Some(3),
                metrics: Vec::new()
            })
        );
        for name in [
            "epoch3-global_step",
            "global_step12000",
            "epoch3-global_step12000.tmp",
        ] {
            assert_eq!(
                o.recognise(name, Kind::Dir),
                Recognition::NotACheckpoint,
                "{name}"
            );
        }
    }

    #[test]
    fn running_states_and_ema_mark_the_end_of_a_save() {
        let dir = tempfile::tempdir().unwrap();
        let (o, f) = (OpenSora::new(), NameFields::default());
        std::fs::create_dir(dir.path().join("model")).unwrap();
        assert!(
            matches!(o.marker(dir.path(), Kind::Dir, &f), Marker::Missing(m) if m.contains(RUNNING_STATES))
        );
        std::fs::write(
            dir.path().join(RUNNING_STATES),
            r#"{"epoch": 1, "step": 50, "global_step": 2"#,
        )
        .unwrap();
        assert!(
            matches!(o.marker(dir.path(), Kind::Dir, &f), Marker::Missing(m) if m.contains(RUNNING_STATES))
        );
        std::fs::write(
            dir.path().join(RUNNING_STATES),
            r#"{"epoch": 1, "step": 50, "global_step": 250, "batch_size": 4, "actual_update_step": 125}"#,
        )
        .unwrap();
        assert!(
            matches!(o.marker(dir.path(), Kind::Dir, &f), Marker::Missing(m) if m.contains("EMA"))
        );
        std::fs::write(dir.path().join("ema.safetensors"), "x").unwrap();
        assert_eq!(o.marker(dir.path(), Kind::Dir, &f), Marker::Present);
    }
}
