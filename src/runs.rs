//! Expands each watch's `runs` globs into the run directories that exist now.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::config::Config;

/// A run directory and the index of the watch that manages it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub path: PathBuf,
    pub watch: usize,
}

/// Every run directory of every watch, in config order then path order. A run matched by two
/// watches belongs to the first; a symlinked run directory is skipped, since nothing reached
/// through a symlink is ever deleted. With `report`, each of these (and a glob matching
/// nothing) is a WARN; the daemon reports at start and reload, not on every rediscovery.
pub fn discover(config: &Config, report: bool) -> Vec<Run> {
    let mut owner: HashMap<PathBuf, usize> = HashMap::new();
    let mut runs = Vec::new();
    for (index, watch) in config.watches.iter().enumerate() {
        for pattern in &watch.runs {
            let mut matched = 0;
            let paths =
                glob::glob(pattern).map(|paths| paths.filter_map(Result::ok).collect::<Vec<_>>());
            for path in paths.unwrap_or_default() {
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if meta.file_type().is_symlink() {
                    if !report {
                        continue;
                    }
                    tracing::warn!(run = %path.display(), watch = %watch.name, "run directory is a symlink: skipped; name its target in `runs`");
                    continue;
                }
                if !meta.is_dir() {
                    continue;
                }
                matched += 1;
                if let Some(&first) = owner.get(&path) {
                    if first != index && report {
                        tracing::warn!(
                            run = %path.display(),
                            watch = %watch.name,
                            managed_by = %config.watches[first].name,
                            "run matched by two watches: only the first manages it"
                        );
                    }
                    continue;
                }
                owner.insert(path.clone(), index);
                runs.push(Run { path, watch: index });
            }
            if matched == 0 && !report {
                // The daemon rediscovers on every change; it reports missing runs at start only.
            } else if matched == 0 && !has_glob_characters(pattern) {
                tracing::warn!(run = %pattern, watch = %watch.name, "run directory missing: skipped");
            } else if matched == 0 {
                tracing::warn!(pattern = %pattern, watch = %watch.name, "no run directory matches this glob (yet)");
            }
        }
    }
    runs
}

fn has_glob_characters(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}
