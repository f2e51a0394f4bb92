//! Expands each watch's `runs` globs into the run directories that exist now.
//!
//! A glob is a statement of scope: ckptd must not reach past it. So a match is refused when
//! any part of its path below the glob's literal prefix is a symlink (a symlinked folder would
//! take ckptd anywhere whose tail matches), when it is one of ckptd's own directories
//! (`.ckptd-pins`, `.ckptd-trash`), when it lies inside another run (its checkpoints would be
//! "runs"), or when it is the same directory as a run already found under another path.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::config::Config;

/// A run directory and the index of the watch that manages it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub path: PathBuf,
    pub watch: usize,
}

/// Why a match of a `runs` glob is not a run.
enum Refusal {
    NotADirectory,
    Symlink(PathBuf),
    OwnDirectory,
}

/// Every run directory of every watch, in config order then path order. A run matched by two
/// watches belongs to the first. With `report`, every refusal (and a glob matching nothing) is
/// a WARN; the daemon reports at start and reload, not on every rediscovery.
pub fn discover(config: &Config, report: bool) -> Vec<Run> {
    discover_all(config, report).runs
}

/// What expanding the globs found: the runs, and the directories that could not be read on the
/// way (a permission, an I/O error; each a WARN when reporting).
pub struct Discovery {
    pub runs: Vec<Run>,
    pub unreadable: Vec<PathBuf>,
    /// Runs matched a second time (by another watch, or by another path), and left to the
    /// first match.
    pub overlaps: Vec<Overlap>,
}

/// A directory matched twice.
#[derive(Debug, Clone)]
pub struct Overlap {
    pub run: PathBuf,
    /// The watch whose match was ignored.
    pub watch: usize,
    /// The watch that manages it, and the path it knows it by.
    pub owner: usize,
    pub owner_path: PathBuf,
}

/// [`discover`], with the directories that could not be read.
pub fn discover_all(config: &Config, report: bool) -> Discovery {
    let mut unreadable = Vec::new();
    let mut overlaps = Vec::new();
    let mut owner: HashMap<(u64, u64), (usize, PathBuf)> = HashMap::new();
    let mut runs = Vec::new();
    // Dot-names are never matched by a wildcard (`.ckptd-pins` and friends are not runs), but
    // checked here, not by glob's `require_literal_leading_dot`, which panics on a name that is
    // not UTF-8 (anyone able to make a directory there could stop retention).
    let options = glob::MatchOptions::new();
    for (index, watch) in config.watches.iter().enumerate() {
        for pattern in &watch.runs {
            let mut matched = 0;
            let literal = literal_prefix(pattern);
            let paths = glob::glob_with(pattern, options).map(|paths| {
                paths
                    .filter_map(|found| {
                        found
                            .map_err(|e| {
                                if report {
                                    tracing::warn!(path = %e.path().display(), pattern = %pattern, error = %e.error(), "cannot read {} while expanding {pattern}: {}{}; runs under it are left alone until it can be read", e.path().display(), e.error(), crate::io_hint::hint(e.error()));
                                }
                                unreadable.push(e.path().to_owned());
                            })
                            .ok()
                    })
                    .collect::<Vec<_>>()
            });
            for path in paths.unwrap_or_default() {
                if hidden_below(&path, &literal, pattern) {
                    continue;
                }
                // Not this watch's, on purpose: no run of it, and no "matched twice".
                let separator = glob::MatchOptions {
                    require_literal_separator: true,
                    ..glob::MatchOptions::new()
                };
                if watch
                    .exclude
                    .iter()
                    .any(|x| x.matches_path_with(&path, separator))
                {
                    continue;
                }
                if path.to_str().is_none() {
                    if report {
                        tracing::warn!(run = %path.display(), watch = %watch.name, "run name is not UTF-8: skipped, never touched: {}", path.display());
                    }
                    continue;
                }
                let identity = match check(&path, &literal) {
                    Ok(identity) => identity,
                    Err(Refusal::NotADirectory) => continue,
                    Err(refusal) => {
                        if report {
                            warn_refused(&path, &watch.name, &refusal);
                        }
                        continue;
                    }
                };
                matched += 1;
                if let Some((first, first_path)) = owner.get(&identity) {
                    if *first != index || first_path != &path {
                        overlaps.push(Overlap {
                            run: path.clone(),
                            watch: index,
                            owner: *first,
                            owner_path: first_path.clone(),
                        });
                    }
                    if report && (*first != index || first_path != &path) {
                        tracing::warn!(
                            run = %path.display(),
                            watch = %watch.name,
                            managed_by = %config.watches[*first].name,
                            same_as = %first_path.display(),
                            "run matched twice (two watches, or two paths to one directory): {} is managed by watch {} as {}",
                            path.display(),
                            config.watches[*first].name,
                            first_path.display()
                        );
                    }
                    continue;
                }
                owner.insert(identity, (index, path.clone()));
                runs.push(Run { path, watch: index });
            }
            if matched == 0 && !report {
                // The daemon rediscovers on every change; it reports missing runs at start only.
            } else if matched == 0 && !has_glob_characters(pattern) {
                tracing::warn!(run = %pattern, watch = %watch.name, "run directory missing: skipped: {pattern} (watch {})", watch.name);
            } else if matched == 0 {
                tracing::warn!(pattern = %pattern, watch = %watch.name, "no run directory matches this glob (yet): {pattern} (watch {})", watch.name);
            }
        }
    }
    Discovery {
        runs: drop_nested(runs, report),
        unreadable,
        overlaps,
    }
}

/// A run inside another run is one of its checkpoints (or part of one), never a run.
fn drop_nested(runs: Vec<Run>, report: bool) -> Vec<Run> {
    let all: HashSet<PathBuf> = runs.iter().map(|r| r.path.clone()).collect();
    runs.into_iter()
        .filter(|run| {
            let outer = run.path.ancestors().skip(1).find(|a| all.contains(*a));
            if let (Some(outer), true) = (outer, report) {
                tracing::warn!(run = %run.path.display(), inside = %outer.display(), "a run directory inside another run is not a run: skipped: {} (inside {})", run.path.display(), outer.display());
            }
            outer.is_none()
        })
        .collect()
}

/// The directory's identity when `path` may be a run.
fn check(path: &Path, literal: &Path) -> Result<(u64, u64), Refusal> {
    if path
        .components()
        .any(|c| matches!(c, Component::Normal(n) if n.to_string_lossy().starts_with(".ckptd")))
    {
        return Err(Refusal::OwnDirectory);
    }
    // Every part below the literal prefix, the run itself included, must be a real directory.
    for part in path
        .ancestors()
        .take_while(|a| a.starts_with(literal) && *a != literal)
    {
        let meta = std::fs::symlink_metadata(part).map_err(|_| Refusal::NotADirectory)?;
        if meta.file_type().is_symlink() {
            return Err(Refusal::Symlink(part.to_owned()));
        }
    }
    let meta = std::fs::symlink_metadata(path).map_err(|_| Refusal::NotADirectory)?;
    if meta.file_type().is_symlink() {
        return Err(Refusal::Symlink(path.to_owned()));
    }
    if !meta.is_dir() {
        return Err(Refusal::NotADirectory);
    }
    Ok((meta.dev(), meta.ino()))
}

fn warn_refused(path: &Path, watch: &str, refusal: &Refusal) {
    match refusal {
        Refusal::Symlink(link) => tracing::warn!(
            run = %path.display(),
            watch = %watch,
            symlink = %link.display(),
            "run reached through a symlink: skipped; name the real directory in `runs`: {} ({} is a symlink)",
            path.display(),
            link.display()
        ),
        Refusal::OwnDirectory => {
            tracing::warn!(run = %path.display(), watch, "ckptd's own directory is not a run: skipped: {}", path.display());
        }
        Refusal::NotADirectory => {}
    }
}

/// The part of a glob before its first wildcard component: the administrator's own path,
/// whose symlinks (say `/data -> /mnt/data`) are theirs to choose.
pub fn literal_prefix(pattern: &str) -> PathBuf {
    Path::new(pattern)
        .components()
        .take_while(|c| !crate::paths::has_wildcard(&c.as_os_str().to_string_lossy()))
        .collect()
}

/// Whether `path` passes, below the glob's literal prefix, through a dot-name the pattern
/// does not spell out (a wildcard never matches one).
fn hidden_below(path: &Path, literal: &Path, pattern: &str) -> bool {
    // glob yields `.` and `..` for a pattern ending in `.*`: the directory itself, or its
    // parent, is no run of it (`components()` would hide a trailing `.`).
    let bytes = path.as_os_str().as_encoded_bytes();
    if bytes.ends_with(b"/.")
        || bytes.ends_with(b"/..")
        || memchr::memmem::find(bytes, b"/./").is_some()
        || memchr::memmem::find(bytes, b"/../").is_some()
    {
        return true;
    }
    // As glob's leading-dot rule: a dot-name is matched only by a pattern component that
    // starts with a dot itself, at the same depth below the literal prefix (`**` spans depths:
    // then any such component will do).
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    let below: Vec<&str> = parts
        .iter()
        .skip(literal.components().count().saturating_sub(1))
        .copied()
        .collect();
    let spans_depths = pattern.contains("**");
    let below_path = path.strip_prefix(literal).unwrap_or(path);
    below_path.components().enumerate().any(|(depth, c)| {
        let name = c.as_os_str().as_encoded_bytes();
        if !name.starts_with(b".") {
            return false;
        }
        let allowed = if spans_depths {
            below.iter().any(|p| p.starts_with('.'))
        } else {
            below.get(depth).is_some_and(|p| p.starts_with('.'))
        };
        !allowed
    })
}

fn has_glob_characters(pattern: &str) -> bool {
    crate::paths::has_wildcard(pattern)
}
