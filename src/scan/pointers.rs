//! Symlinks in a run directory are pointers, never checkpoints: Lightning's `last.ckpt`, a
//! user's `best -> checkpoint-500`. Whatever they point at inside the run is protected.

use std::path::{Component, Path};

use crate::paths::normalize;

use crate::layout::Pointer;

/// The checkpoint (direct child of `run`) that the symlink `link` in `run` points into, if any.
pub fn symlink_target(run: &Path, link: &Path) -> Option<Pointer> {
    let target = std::fs::read_link(link).ok()?;
    let resolved = normalize(&run.join(&target));
    let inside = resolved.strip_prefix(normalize(run)).ok()?;
    let first = inside.components().next()?;
    let Component::Normal(name) = first else {
        return None;
    };
    Some(Pointer {
        target: name.to_str()?.to_owned(),
        why: format!(
            "symlink {} -> {}",
            link.file_name()?.to_string_lossy(),
            target.display()
        ),
    })
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
}
