//! Lexical path handling shared by config, CLI and scanner: `a/./b/../c` → `a/c` without
//! touching the disk (a path may not exist yet, and resolving symlinks is what we must not do).

use std::path::{Component, Path, PathBuf};

/// The characters that make a path component a glob pattern (glob's `*`, `?`, `[`): the one
/// definition, for the runs globs and the metric log globs alike.
pub const GLOB_WILDCARDS: [char; 3] = ['*', '?', '['];

/// Whether `text` (a pattern or one of its components) has a glob wildcard.
pub fn has_wildcard(text: &str) -> bool {
    text.contains(GLOB_WILDCARDS)
}

/// Folds `.` and `..` components lexically.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` made absolute against the working directory, then normalized.
pub fn absolute(path: &Path) -> PathBuf {
    normalize(&std::path::absolute(path).unwrap_or_else(|_| path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_dot_dot_fold() {
        assert_eq!(
            normalize(Path::new("/etc/ckptd/../demo/./runs/*")),
            Path::new("/etc/demo/runs/*")
        );
        assert_eq!(normalize(Path::new("/..")), Path::new("/"));
    }
}
