//! Which directories to watch so that a run directory created after start is seen: for a glob
//! such as `/scratch/*/ckpt`, the literal prefix `/scratch` and every directory matching
//! `/scratch/*`. A prefix that does not exist yet is replaced by its nearest existing ancestor.
//! Where events from other nodes never come (network and FUSE filesystems, `watcher =
//! "poll"`), these directories are polled as well (see `parents`).

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::config::{Config, WatcherMode};

/// How a directory above the runs is watched.
#[derive(Debug, Clone, Copy)]
pub struct GlobParent {
    /// Polled as well as watched: on a filesystem `auto` polls, for a `poll` watch, or when
    /// it cannot be watched.
    pub polled: bool,
    /// The shortest `poll_interval` of the watches whose globs walk through it.
    pub poll_interval: Duration,
}

/// The directories whose changes may add or remove runs of `config`'s watches.
pub fn glob_parents_of(config: &Config) -> HashMap<PathBuf, GlobParent> {
    let mut parents: HashMap<PathBuf, GlobParent> = HashMap::new();
    for watch in &config.watches {
        for dir in watch.runs.iter().flat_map(|p| glob_parents(p)) {
            let polled = match watch.watcher {
                WatcherMode::Poll => true,
                WatcherMode::Events => false,
                WatcherMode::Auto => crate::fs_kind::network_filesystem(&dir).is_some(),
            };
            let parent = parents.entry(dir).or_insert(GlobParent {
                polled,
                poll_interval: watch.poll_interval,
            });
            // Shared by several watches: polled if any of them polls it, as often as the
            // most frequent one asks.
            if polled && (!parent.polled || watch.poll_interval < parent.poll_interval) {
                parent.poll_interval = watch.poll_interval;
            }
            parent.polled |= polled;
        }
    }
    parents
}

/// The directories whose changes may create or remove a run matching `pattern`.
pub fn glob_parents(pattern: &str) -> Vec<PathBuf> {
    let path = Path::new(pattern);
    let components: Vec<Component<'_>> = path.components().collect();
    let first_glob = components.iter().position(|c| {
        c.as_os_str()
            .to_str()
            .is_some_and(crate::paths::has_wildcard)
    });
    let literal_len = first_glob.unwrap_or(components.len().saturating_sub(1));
    let prefix: PathBuf = components[..literal_len].iter().collect();
    let mut dirs = vec![nearest_existing(&prefix)];
    // Directories matched by each partial glob below the prefix, except the last component
    // (that level is the runs themselves).
    for end in (literal_len + 1)..components.len() {
        let partial: PathBuf = components[..end].iter().collect();
        let Some(partial) = partial.to_str() else {
            continue;
        };
        if let Ok(paths) = glob::glob(partial) {
            dirs.extend(paths.filter_map(Result::ok).filter(|p| is_real_dir(p)));
        }
    }
    dirs.sort();
    dirs.dedup();
    dirs
}

fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

fn nearest_existing(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|p| is_real_dir(p))
        .unwrap_or(Path::new("/"))
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_star_watches_the_literal_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        std::fs::create_dir(&runs).unwrap();
        let pattern = format!("{}/*", runs.display());
        assert_eq!(glob_parents(&pattern), [runs]);
    }

    #[test]
    fn a_middle_star_watches_each_matching_directory_too() {
        let dir = tempfile::tempdir().unwrap();
        for user in ["alice", "bob"] {
            std::fs::create_dir_all(dir.path().join(user).join("ckpt")).unwrap();
        }
        let pattern = format!("{}/*/ckpt", dir.path().display());
        assert_eq!(
            glob_parents(&pattern),
            [
                dir.path().to_owned(),
                dir.path().join("alice"),
                dir.path().join("bob")
            ]
        );
    }

    #[test]
    fn parents_are_polled_for_a_poll_watch_at_its_shortest_interval_and_never_for_events() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["a", "b"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let watch = |name: &str, runs: &str, extra: &str| {
            format!("[[watch]]\nname = \"{name}\"\nruns = [\"{runs}\"]\nlayout = \"generic\"\npattern = \"c-{{step}}\"\nkeep_last = 1\n{extra}")
        };
        let text = [
            watch(
                "slow",
                "a/*",
                "watcher = \"poll\"\npoll_interval = \"30s\"\n",
            ),
            watch(
                "fast",
                "a/*",
                "watcher = \"poll\"\npoll_interval = \"5s\"\n",
            ),
            watch(
                "events",
                "b/*",
                "watcher = \"events\"\npoll_interval = \"1s\"\n",
            ),
            // A local temp directory: `auto` watches it.
            watch("auto", "b/*", ""),
        ]
        .join("\n");
        let config = Config::parse(&text, &dir.path().join("ckptd.toml")).unwrap();
        let parents = glob_parents_of(&config);
        let a = parents[&dir.path().join("a")];
        assert!(a.polled);
        assert_eq!(a.poll_interval, Duration::from_secs(5));
        assert!(!parents[&dir.path().join("b")].polled);
    }

    #[test]
    fn a_missing_prefix_watches_its_nearest_ancestor() {
        let dir = tempfile::tempdir().unwrap();
        let pattern = format!("{}/not/yet/*", dir.path().display());
        assert_eq!(glob_parents(&pattern), [dir.path().to_owned()]);
        let literal = format!("{}/single-run", dir.path().display());
        assert_eq!(glob_parents(&literal), [dir.path().to_owned()]);
    }
}
