//! Symlinks in a run directory are pointers, never checkpoints: Lightning's `last.ckpt`, a
//! user's `best -> checkpoint-500`. Whatever they point at inside the run is protected.

use std::path::{Component, Path};

use crate::paths::normalize;

use crate::layout::Pointer;

/// The checkpoint (direct child of `run`) that the symlink `link` in `run` points into, if any.
///
/// Resolved two ways, and either one protects: lexically (the target as written, which works
/// for dangling-for-now and relative links), and through the filesystem (a target written
/// through another path to the same directory, such as `ln -s "$(realpath ckpt)" best` when
/// the run is reached via a symlink or bind mount).
pub fn symlink_target(run: &Path, link: &Path) -> Option<Pointer> {
    let target = std::fs::read_link(link).ok()?;
    let why = format!(
        "symlink {} -> {}",
        link.file_name()?.to_string_lossy(),
        target.display()
    );
    let lexical = normalize(&run.join(&target));
    let name = first_component_below(&lexical, &normalize(run)).or_else(|| {
        let resolved_run = std::fs::canonicalize(run).ok()?;
        let resolved_target = std::fs::canonicalize(link).ok()?;
        first_component_below(&resolved_target, &resolved_run)
    })?;
    Some(Pointer { target: name, why })
}

fn first_component_below(path: &Path, dir: &Path) -> Option<String> {
    let inside = path.strip_prefix(dir).ok()?;
    match inside.components().next()? {
        Component::Normal(name) => Some(name.to_str()?.to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn relative_absolute_and_nested_targets_name_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        symlink("epoch=1-step=10.ckpt", run.join("last.ckpt")).unwrap();
        symlink(run.join("checkpoint-5"), run.join("best")).unwrap();
        symlink("./checkpoint-7/model.safetensors", run.join("model")).unwrap();
        symlink("../elsewhere/x", run.join("outside")).unwrap();
        let target = |link: &str| symlink_target(run, &run.join(link)).map(|p| p.target);
        assert_eq!(target("last.ckpt").as_deref(), Some("epoch=1-step=10.ckpt"));
        assert_eq!(target("best").as_deref(), Some("checkpoint-5"));
        assert_eq!(target("model").as_deref(), Some("checkpoint-7"));
        assert_eq!(target("outside"), None);
    }

    #[test]
    fn a_target_written_through_another_path_to_the_run_still_protects() {
        // `ln -s "$(realpath checkpoint-3)" best` while the run is reached via a symlink.
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir_all(real.join("run/checkpoint-3")).unwrap();
        symlink(&real, dir.path().join("via")).unwrap();
        symlink(
            dir.path().join("via/run/checkpoint-3"),
            real.join("run/best"),
        )
        .unwrap();
        let pointer = symlink_target(&real.join("run"), &real.join("run/best")).unwrap();
        assert_eq!(pointer.target, "checkpoint-3");
    }
}
