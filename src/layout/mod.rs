//! How each training framework names, marks and points at its checkpoints.
//!
//! A layout recognises checkpoint names (pure), says whether a checkpoint's completion marker is
//! there, names the checkpoints its own pointer files protect and the names that are aliases of
//! another checkpoint, and offers a default metric source. Adding a framework is one small file implementing [`Layout`] and one line in
//! [`build`].

mod dcp;
mod deepspeed;
mod generic;
mod huggingface;
mod lightning;
mod megatron;
mod nemo;
mod opensora;
mod orbax;
mod torchtitan;

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use crate::checkpoint::{Kind, Marker};
use crate::metrics::MetricSource;
use crate::pattern::{NameFields, NamePattern, Recognition};

/// A pointer the layout found: `target` (a checkpoint name) is protected because of `why`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    pub target: String,
    pub why: String,
}

/// One framework's conventions.
pub trait Layout: Debug + Send + Sync {
    /// The preset's name, as written in the config.
    fn name(&self) -> &'static str;

    /// Does this direct child of a run name a checkpoint? Pure: looks at the name and kind only.
    fn recognise(&self, name: &str, kind: Kind) -> Recognition;

    /// Reads the layout's completion marker, if it has one.
    fn marker(&self, _unit: &Path, _kind: Kind, _fields: &NameFields) -> Marker {
        Marker::NotRequired
    }

    /// Checkpoints that the framework's own pointer files name. `checkpoints` are the names
    /// recognised in `run`, in checkpoint order.
    fn pointers(&self, _run: &Path, _checkpoints: &[(&str, Option<u64>)]) -> Vec<Pointer> {
        Vec::new()
    }

    /// Whether `name` (a recognised checkpoint) is an alias of another checkpoint, such as NeMo's
    /// `…-last`: protected, and never counted by a rule.
    fn is_alias(&self, _name: &str) -> bool {
        false
    }

    /// Where the metric comes from when the watch does not say.
    fn default_metric_source(&self) -> Option<MetricSource> {
        None
    }

    /// Whether a `filename` metric source can read `metric` from this layout's names.
    fn names_carry(&self, metric: &str) -> bool;

    /// Whether names carry a step (rules such as `keep_every_steps` need one).
    fn has_step(&self) -> bool {
        true
    }
}

/// The preset names, for error messages.
pub const PRESETS: &[&str] = &[
    "generic",
    "huggingface",
    "lightning",
    "dcp",
    "deepspeed",
    "megatron",
    "orbax",
    "torchtitan",
    "opensora",
    "nemo",
];

/// Builds the layout `name`, with the watch's `pattern`/`regex` when it gave one.
pub fn build(name: &str, pattern: Option<NamePattern>) -> Result<Arc<dyn Layout>, String> {
    match name {
        "generic" => Ok(Arc::new(generic::Generic::new(pattern.ok_or(
            "layout \"generic\" needs `pattern` (e.g. \"model_step{step}.pt\") or `regex`",
        )?))),
        "dcp" => Ok(Arc::new(dcp::Dcp::new(pattern.ok_or(
            "layout \"dcp\" needs `pattern` naming its step directories (e.g. \"step-{step}\")",
        )?))),
        "huggingface" => fixed(
            name,
            pattern.as_ref(),
            "checkpoint-{step}",
            huggingface::HuggingFace::new,
        ),
        "lightning" => Ok(Arc::new(lightning::Lightning::new(pattern))),
        "deepspeed" => Ok(Arc::new(deepspeed::DeepSpeed::new(pattern))),
        "megatron" => fixed(
            name,
            pattern.as_ref(),
            "iter_{step} (7 digits)",
            megatron::Megatron::new,
        ),
        "orbax" => Ok(Arc::new(orbax::Orbax::new(pattern))),
        "torchtitan" => fixed(
            name,
            pattern.as_ref(),
            "step-{step}",
            torchtitan::TorchTitan::new,
        ),
        "opensora" => fixed(
            name,
            pattern.as_ref(),
            "epoch{epoch}-global_step{step}",
            opensora::OpenSora::new,
        ),
        "nemo" => fixed(name, pattern.as_ref(), "…-step={step}…", nemo::NeMo::new),
        other => Err(format!(
            "unknown layout `{other}`{}; expected one of: {}",
            crate::suggest::closest(other, PRESETS.iter().copied())
                .map(|m| format!(" (did you mean `{m}`?)"))
                .unwrap_or_default(),
            PRESETS.join(", ")
        )),
    }
}

/// The trimmed text of a small pointer file a framework writes (`latest`,
/// `latest_checkpointed_iteration.txt`); `None` when missing, empty or unreadable.
fn read_pointer_file(path: &Path) -> Option<String> {
    let text = crate::regular_file::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// A preset whose names are the framework's own: a `pattern` would only be a mistake.
fn fixed<L: Layout + 'static>(
    name: &str,
    pattern: Option<&NamePattern>,
    names: &str,
    layout: fn() -> L,
) -> Result<Arc<dyn Layout>, String> {
    match pattern {
        None => Ok(Arc::new(layout())),
        Some(_) => Err(format!(
            "layout \"{name}\" always names checkpoints `{names}`; \
             remove `pattern`/`regex`, or use layout = \"generic\""
        )),
    }
}

/// A directory whose whole name `name_regex` matches, with the step in its `step` group: the
/// shape of Megatron's, Orbax's and torchtitan's step directories.
pub(crate) fn step_directory(name_regex: &regex::Regex, name: &str, kind: Kind) -> Recognition {
    let Some(captures) = name_regex.captures(name).filter(|_| kind == Kind::Dir) else {
        return Recognition::NotACheckpoint;
    };
    match captures["step"].parse() {
        Ok(step) => Recognition::Checkpoint(NameFields::at_step(step)),
        Err(_) => Recognition::Unparsable(format!("step of `{name}` is too large")),
    }
}

/// Names that are never checkpoints, whatever the pattern: temp names of the frameworks
/// (`tmp-*`, `*.tmp`, `*.orbax-checkpoint-tmp*`, `*-unfinished`) and ckptd's own `.ckptd*`.
#[allow(clippy::case_sensitive_file_extension_comparisons)] // frameworks write these exact names
pub fn is_never_a_checkpoint(name: &str) -> bool {
    name.starts_with(".ckptd")
        || name.starts_with("tmp-")
        || name.ends_with(".tmp")
        || name.contains(".orbax-checkpoint-tmp")
        || name.ends_with("-unfinished")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_name_builds_the_layout_of_that_name_and_no_other_name_does() {
        // PRESETS is the one list of names (error messages, `check`'s hints): `build` must
        // know each, and each layout must call itself by it.
        for &name in PRESETS {
            let pattern = NamePattern::placeholders("ckpt-{step}").unwrap();
            let layout = build(name, Some(pattern))
                .or_else(|_| build(name, None))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(layout.name(), name);
        }
        let e = build("huggingfase", None).err().unwrap();
        assert!(e.contains("did you mean `huggingface`"), "{e}");
    }

    #[test]
    fn temp_and_own_names_are_never_checkpoints() {
        for name in [
            ".ckptd-trash",
            ".ckptd.toml",
            "tmp-checkpoint-5",
            "checkpoint-5.tmp",
            "100.orbax-checkpoint-tmp-1700000000",
            "model-step=5-unfinished",
        ] {
            assert!(is_never_a_checkpoint(name), "{name}");
        }
        assert!(!is_never_a_checkpoint("checkpoint-5"));
    }

    #[test]
    fn unknown_layouts_list_the_presets() {
        let err = build("tensorflow", None).unwrap_err();
        assert!(
            err.contains("generic, huggingface, lightning, dcp"),
            "{err}"
        );
    }
}
