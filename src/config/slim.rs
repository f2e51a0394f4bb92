//! The slimming keys of a watch: `slim_after`, and the file set it removes (`slim_items` for
//! orbax, `slim_files` for generic, the layout's own otherwise). Layouts that keep optimizer
//! state inside the files that hold the weights are refused here, with that reason: slimming
//! them would mean rewriting the weights, which ckptd never does.

use toml::Spanned;

use super::error::Errors;
use super::raw::RawWatch;
use crate::layout::Layout;
use crate::slim::SlimFiles;

/// `slim_after` and what it removes.
pub(super) struct Slimming {
    pub after: u64,
    pub files: SlimFiles,
}

/// Validates the slimming keys; `None` when `slim_after` is unset or anything is wrong (each
/// mistake is pushed with its location).
pub(super) fn slimming(
    e: &mut Errors<'_>,
    raw: &RawWatch,
    layout: Option<&dyn Layout>,
) -> Option<Slimming> {
    let layout = layout?;
    let name = layout.name();
    let before = e.list.len();
    if let Some(items) = &raw.slim_items {
        if name != "orbax" {
            e.push(items.span(), format!("`slim_items` is only for layout \"orbax\" (the item subdirectories to remove); layout \"{name}\" has {}", own_set(name)));
        }
    }
    if let Some(files) = &raw.slim_files {
        if name != "generic" {
            e.push(
                files.span(),
                format!(
                    "`slim_files` is only for layout \"generic\"; layout \"{name}\" has {}",
                    own_set(name)
                ),
            );
        }
    }
    let Some(at) = &raw.slim_after else {
        for (key, span) in [
            ("slim_items", raw.slim_items.as_ref().map(Spanned::span)),
            ("slim_files", raw.slim_files.as_ref().map(Spanned::span)),
        ] {
            if let (Some(span), true) = (span, e.list.len() == before) {
                e.push(span, format!("`{key}` does nothing without `slim_after`"));
            }
        }
        return None;
    };
    let after = super::validate::count(e, Some(at), "slim_after", 0);
    if let Some(why) = inseparable(name) {
        e.push(
            at.span(),
            format!("slim_after: layout {name} keeps optimizer state {why}; it cannot be slimmed"),
        );
        return None;
    }
    let files = match name {
        "huggingface" => Some(SlimFiles::HuggingFace),
        "deepspeed" => Some(SlimFiles::DeepSpeed),
        "opensora" => Some(SlimFiles::OpenSora),
        "orbax" => items(e, raw, at),
        "generic" => globs(e, raw, at),
        _ => {
            e.push(at.span(), format!("slim_after: layout {name} has no known training-state files; it cannot be slimmed"));
            None
        }
    };
    if e.list.len() > before {
        return None;
    }
    Some(Slimming {
        after: after?,
        files: files?,
    })
}

/// Why a layout cannot be slimmed: its optimizer state shares files with the weights.
fn inseparable(layout: &str) -> Option<&'static str> {
    match layout {
        "lightning" | "nemo" => Some("inside the .ckpt file with the weights"),
        "dcp" | "torchtitan" => Some("inside the same DCP shards as the weights"),
        "megatron" => Some("inside the same torch_dist/DCP shards as the weights"),
        _ => None,
    }
}

/// What a layout removes, for messages.
fn own_set(layout: &str) -> String {
    match layout {
        "huggingface" => {
            "its own file set (optimizer.pt, scheduler.pt, rng_state*.pth, global_step*/)"
                .to_owned()
        }
        "deepspeed" => "its own file set (*optim_states.pt)".to_owned(),
        "opensora" => "its own file set (optimizer/, lr_scheduler*)".to_owned(),
        "orbax" => "`slim_items` instead".to_owned(),
        "generic" => "`slim_files` instead".to_owned(),
        _ => "nothing that can be slimmed".to_owned(),
    }
}

/// `slim_items`: plain names of item subdirectories.
fn items(e: &mut Errors<'_>, raw: &RawWatch, at: &Spanned<i64>) -> Option<SlimFiles> {
    let Some(items) = &raw.slim_items else {
        e.push(at.span(), "slim_after: layout orbax needs `slim_items`, the item subdirectories that hold training state (e.g. [\"opt_state\"])");
        return None;
    };
    if items.get_ref().is_empty() {
        e.push(
            items.span(),
            "`slim_items` is empty: name at least one item subdirectory",
        );
    }
    for item in items.get_ref() {
        let name = item.get_ref();
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            e.push(
                item.span(),
                format!("`slim_items`: \"{name}\" is not the name of an item subdirectory"),
            );
        }
    }
    Some(SlimFiles::Orbax(
        items
            .get_ref()
            .iter()
            .map(|i| i.get_ref().clone())
            .collect(),
    ))
}

/// `slim_files`: globs relative to the checkpoint directory, each able to match less than all.
fn globs(e: &mut Errors<'_>, raw: &RawWatch, at: &Spanned<i64>) -> Option<SlimFiles> {
    let Some(files) = &raw.slim_files else {
        e.push(at.span(), "slim_after: layout generic needs `slim_files`, globs of the training-state files relative to the checkpoint directory (e.g. [\"optimizer/*\", \"*.optim\"])");
        return None;
    };
    if files.get_ref().is_empty() {
        e.push(
            files.span(),
            "`slim_files` is empty: give at least one glob",
        );
    }
    let mut patterns = Vec::new();
    for glob in files.get_ref() {
        let text = glob.get_ref();
        let parts: Vec<&str> = text.split('/').collect();
        let problem = if text.is_empty() || text.starts_with('/') {
            Some("must be relative to the checkpoint directory".to_owned())
        } else if parts
            .iter()
            .any(|p| *p == ".." || *p == "." || p.is_empty())
        {
            Some("must name paths inside the checkpoint (no `..`, `.` or empty parts)".to_owned())
        } else if parts
            .iter()
            .all(|p| p.chars().all(|c| matches!(c, '*' | '?')))
        {
            Some("matches every entry of the checkpoint, the weights included".to_owned())
        } else {
            glob::Pattern::new(text)
                .map(|p| patterns.push(p))
                .err()
                .map(|err| err.to_string())
        };
        if let Some(problem) = problem {
            e.push(glob.span(), format!("`slim_files`: \"{text}\" {problem}"));
        }
    }
    Some(SlimFiles::Generic(patterns))
}
