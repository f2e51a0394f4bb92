//! `huggingface`: the Transformers `Trainer`'s `checkpoint-{step}` directories.
//!
//! The Trainer writes `trainer_state.json` after the model, optimizer and scheduler, so a
//! parseable state whose `global_step` equals the directory's step marks a complete save. The
//! newest state's `best_model_checkpoint` names the checkpoint `load_best_model_at_end` will
//! load: a pointer. Under DeepSpeed the directory also holds `global_stepN/` and `latest`; they
//! belong to the unit like every other file inside it.

use std::path::Path;

use crate::checkpoint::{Kind, Marker};
use crate::metrics::json_cache;
use crate::metrics::json_stream::Found;
use crate::metrics::MetricSource;
use crate::pattern::{NameFields, NamePattern, Recognition};

use super::{Layout, Pointer};

const STATE: &str = "trainer_state.json";

#[derive(Debug)]
pub struct HuggingFace {
    pattern: NamePattern,
}

impl HuggingFace {
    pub fn new() -> Self {
        Self {
            pattern: NamePattern::placeholders("checkpoint-{step}").expect("fixed pattern"),
        }
    }
}

/// `global_step` and `best_model_checkpoint` of a checkpoint's state. Never capped (an unread
/// pointer would drop a protection) but streamed, so a state of hundreds of MiB costs time,
/// not memory, and only once while it does not change (see `json_cache`); only a state that
/// is not Python's JSON and fits in the default `max_metric_bytes` is given to the whole-text
/// JSON5 parser.
fn read_state(unit: &Path) -> Result<Found, String> {
    json_cache::read_keys(&unit.join(STATE), crate::metrics::DEFAULT_MAX_METRIC_BYTES)
}

impl Layout for HuggingFace {
    fn name(&self) -> &'static str {
        "huggingface"
    }

    fn recognise(&self, name: &str, kind: Kind) -> Recognition {
        if kind != Kind::Dir {
            return Recognition::NotACheckpoint;
        }
        self.pattern.recognise(name)
    }

    fn marker(&self, unit: &Path, _kind: Kind, fields: &NameFields) -> Marker {
        match read_state(unit) {
            Err(_) => Marker::Missing(format!("{STATE} missing or not parseable yet")),
            Ok(state) => match state.global_step {
                Some(step) if Some(step) == fields.step => Marker::Present,
                Some(step) => Marker::Missing(format!(
                    "{STATE} says global_step {step}, not the directory's step"
                )),
                None => Marker::Missing(format!("{STATE} has no global_step")),
            },
        }
    }

    fn pointers(&self, run: &Path, checkpoints: &[(&str, Option<u64>)]) -> Vec<Pointer> {
        // The most recently written state that can be read is the Trainer's current view of
        // "best": by mtime, not by step, since a resumed run may write lower steps into a
        // directory holding higher ones (HF #26961). Ties: the higher step.
        let mut states: Vec<(std::time::SystemTime, &str)> = checkpoints
            .iter()
            .filter_map(|(name, _)| {
                let meta = std::fs::metadata(run.join(name).join(STATE)).ok()?;
                Some((meta.modified().ok()?, *name))
            })
            .collect();
        states.reverse();
        states.sort_by_key(|s| std::cmp::Reverse(s.0));
        let best = states
            .iter()
            .find_map(|(_, name)| read_state(&run.join(name)).ok());
        let best = best.and_then(|state| state.best_model_checkpoint);
        let Some(best) = best else {
            return Vec::new();
        };
        // Stored as the path the Trainer was given (relative or absolute): its last component
        // is the checkpoint's name.
        let Some(target) = Path::new(&best).file_name().and_then(|n| n.to_str()) else {
            return Vec::new();
        };
        vec![Pointer {
            target: target.to_owned(),
            why: format!("best_model_checkpoint in {STATE}"),
        }]
    }

    fn default_metric_source(&self) -> Option<MetricSource> {
        Some(MetricSource::CheckpointJson {
            path: STATE.to_owned(),
        })
    }

    fn names_carry(&self, _metric: &str) -> bool {
        false
    }
}
