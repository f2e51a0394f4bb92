//! `ckptd check --deep`: the config against the disk. Expands every watch's `runs` globs and
//! counts, per watch and per run, the checkpoints its layout recognises; where that is zero,
//! says the likely reason: names another layout would take, a glob one level too high (the
//! checkpoints are in subdirectories of the "runs") or too low (the "runs" are checkpoints),
//! a directory that does not exist; and runs matched by two watches, with `exclude` as the
//! way to say an overlap is meant. Reads directory listings only: no checkpoint is opened.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::checkpoint::Kind;
use crate::config::{Config, Watch};
use crate::layout::{self, Layout};
use crate::pattern::Recognition;
use crate::runs::{self, Run};

/// How many subdirectories of a run are looked into for checkpoints one level down.
const SUBDIRECTORIES_LOOKED_AT: usize = 20;

/// The report, and how many findings need a look (a watch that finds nothing, an overlap not
/// excluded).
pub fn deep(config: &Config) -> (String, usize) {
    let found = runs::discover_all(config, false);
    let mut out = String::new();
    let mut problems = 0;
    for (index, watch) in config.watches.iter().enumerate() {
        let runs: Vec<&Run> = found.runs.iter().filter(|r| r.watch == index).collect();
        let taken = found.overlaps.iter().filter(|o| o.watch == index).count();
        problems += usize::from(report_watch(&mut out, watch, &runs, taken));
    }
    for overlap in &found.overlaps {
        let (watch, owner) = (
            &config.watches[overlap.watch],
            &config.watches[overlap.owner],
        );
        problems += 1;
        let _ = writeln!(
            out,
            "overlap: {} is matched by watch {} and by watch {}{}; watch {} manages it. If \
             that is meant, add it to watch {}'s `exclude`.",
            overlap.run.display(),
            owner.name,
            watch.name,
            if overlap.owner_path == overlap.run {
                String::new()
            } else {
                format!(" (as {})", overlap.owner_path.display())
            },
            owner.name,
            watch.name
        );
    }
    for dir in &found.unreadable {
        let _ = writeln!(
            out,
            "unreadable: {} (runs under it are left alone)",
            dir.display()
        );
    }
    (out, problems)
}

/// One watch's lines (`taken`: how many of its matches another watch manages); true when it
/// finds no checkpoint at all.
fn report_watch(out: &mut String, watch: &Watch, runs: &[&Run], taken: usize) -> bool {
    let layout = watch.layout.as_ref();
    let counted: Vec<(&Run, usize)> = runs
        .iter()
        .map(|r| (*r, recognised(layout, &entries(&r.path)).len()))
        .collect();
    let total: usize = counted.iter().map(|(_, n)| n).sum();
    let _ = writeln!(
        out,
        "watch {} ({}): {}, {}",
        watch.name,
        layout.name(),
        crate::report::count(runs.len(), "run"),
        crate::report::count(total, "checkpoint")
    );
    if runs.is_empty() && taken > 0 {
        let _ = writeln!(
            out,
            "  every run its globs match is managed by another watch (see `overlap` below)"
        );
        return true;
    }
    if runs.is_empty() {
        for pattern in &watch.runs {
            let _ = writeln!(out, "  no run directory matches {pattern}");
            for hint in no_run_hints(pattern, layout) {
                let _ = writeln!(out, "    hint: {hint}");
            }
        }
        return true;
    }
    for (run, count) in &counted {
        let _ = writeln!(
            out,
            "  {}: {}",
            run.path.display(),
            crate::report::count(*count, "checkpoint")
        );
        if *count == 0 {
            for hint in no_checkpoint_hints(&run.path, watch) {
                let _ = writeln!(out, "    hint: {hint}");
            }
        }
    }
    total == 0
}

/// The direct children of `dir` with their kinds (symlinks and unreadable entries left out:
/// the scanner does not follow them either), sorted by name.
fn entries(dir: &Path) -> Vec<(String, Kind)> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Kind)> = read
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kind = e.file_type().ok()?;
            if kind.is_dir() {
                Some((name, Kind::Dir))
            } else if kind.is_file() {
                Some((name, Kind::File))
            } else {
                None
            }
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The names among `entries` that `layout` takes for checkpoints.
fn recognised<'a>(layout: &dyn Layout, entries: &'a [(String, Kind)]) -> Vec<&'a str> {
    entries
        .iter()
        .filter(|(name, kind)| {
            !layout::is_never_a_checkpoint(name)
                && matches!(layout.recognise(name, *kind), Recognition::Checkpoint(_))
        })
        .map(|(name, _)| name.as_str())
        .collect()
}

/// Why a run of `watch` may hold no checkpoint.
fn no_checkpoint_hints(run: &Path, watch: &Watch) -> Vec<String> {
    let layout = watch.layout.as_ref();
    let here = entries(run);
    let mut hints = Vec::new();
    if here.iter().all(|(name, _)| name.starts_with('.')) {
        hints.push("the directory is empty: a run that has not saved yet?".to_owned());
    }
    if let Some((other, names)) = other_layout(layout, &here) {
        hints.push(format!(
            "{} {} like `{other}` checkpoints ({}): is `layout = \"{}\"` right?",
            names.len(),
            if names.len() == 1 {
                "entry looks"
            } else {
                "entries look"
            },
            examples(&names),
            layout.name()
        ));
    }
    if let Some(example) = one_level_down(run, layout, &here) {
        let pattern = watch
            .runs
            .iter()
            .find(|p| glob::Pattern::new(p).is_ok_and(|g| g.matches_path(run)))
            .map_or_else(|| run.display().to_string(), Clone::clone);
        hints.push(format!(
            "its subdirectories hold checkpoints ({example}): the `runs` glob is one level too \
             high? try \"{pattern}/*\""
        ));
    }
    let own = run.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if matches!(layout.recognise(own, Kind::Dir), Recognition::Checkpoint(_)) {
        let parent = run
            .parent()
            .map_or_else(String::new, |p| p.display().to_string());
        hints.push(format!(
            "the run is named like a checkpoint ({own}): the `runs` glob is one level too \
             low? try \"{parent}\""
        ));
    }
    if hints.is_empty() && !here.is_empty() {
        let names: Vec<&str> = here
            .iter()
            .filter(|(n, _)| !n.starts_with('.'))
            .map(|(n, _)| n.as_str())
            .collect();
        hints.push(format!(
            "none of its names ({}) is a `{}` checkpoint name{}",
            examples(&names),
            layout.name(),
            if layout.name() == "generic" || layout.name() == "dcp" {
                ": check `pattern`"
            } else {
                ""
            }
        ));
    }
    hints
}

/// Why a glob matches no run directory.
fn no_run_hints(pattern: &str, layout: &dyn Layout) -> Vec<String> {
    let literal = runs::literal_prefix(pattern);
    if !literal.exists() {
        return vec![format!("{} does not exist", literal.display())];
    }
    let mut hints = Vec::new();
    let here = entries(&literal);
    let checkpoints = recognised(layout, &here);
    if !checkpoints.is_empty() && literal.as_os_str() != pattern {
        hints.push(format!(
            "{} itself holds checkpoints ({}): the `runs` glob is one level too low? try \"{}\"",
            literal.display(),
            examples(&checkpoints),
            literal.display()
        ));
    }
    if here.iter().all(|(_, kind)| *kind != Kind::Dir) {
        hints.push(format!(
            "{} has no subdirectory yet (runs are directories)",
            literal.display()
        ));
    }
    hints
}

/// The preset (one that needs no `pattern`) that takes the most of `entries` for
/// checkpoints, when `layout` takes none.
fn other_layout<'a>(
    layout: &dyn Layout,
    entries: &'a [(String, Kind)],
) -> Option<(&'static str, Vec<&'a str>)> {
    layout::PRESETS
        .iter()
        .filter(|name| **name != layout.name())
        .filter_map(|name| layout::build(name, None).ok())
        .map(|other| (other.name(), recognised(other.as_ref(), entries)))
        .filter(|(_, names)| !names.is_empty())
        // The most names; on a tie the first in PRESETS (`lightning` before `nemo`, whose
        // names are Lightning's).
        .fold(
            None,
            |best: Option<(&'static str, Vec<&str>)>, this| match best {
                Some(best) if best.1.len() >= this.1.len() => Some(best),
                _ => Some(this),
            },
        )
}

/// A checkpoint in one of the first subdirectories of `run`: "exp1/checkpoint-100".
fn one_level_down(run: &Path, layout: &dyn Layout, here: &[(String, Kind)]) -> Option<String> {
    here.iter()
        .filter(|(name, kind)| *kind == Kind::Dir && !name.starts_with('.'))
        .take(SUBDIRECTORIES_LOOKED_AT)
        .find_map(|(name, _)| {
            let below: PathBuf = run.join(name);
            let inside = entries(&below);
            recognised(layout, &inside)
                .first()
                .map(|found| format!("{name}/{found}"))
        })
}

/// "a, b, c, …" from the first three names.
fn examples(names: &[&str]) -> String {
    let mut shown: Vec<&str> = names.iter().take(3).copied().collect();
    if names.len() > 3 {
        shown.push("…");
    }
    shown.join(", ")
}
