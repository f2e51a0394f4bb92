//! `ckptd pin` / `ckptd unpin`: the path is checked before a pin is written, so a pin always
//! protects what the user meant. A symlink (Lightning's `last.ckpt`, a user's `best`) pins the
//! checkpoint it points at now, not its own name, which a trainer moves on. The path must be a
//! checkpoint of a run of some watch in the config: a pin anywhere else would protect nothing,
//! or (inside a checkpoint) change the checkpoint itself.

use std::path::{Path, PathBuf};

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::checkpoint::Kind;
use crate::config::Config;
use crate::pattern::Recognition;

/// The checkpoint `path` designates: (run directory, checkpoint name), or why there is none
/// (with the exit code to give).
pub(super) fn resolve(config: &Config, path: &Path) -> Result<(PathBuf, String), (u8, String)> {
    let absolute = crate::paths::absolute(path);
    let meta = std::fs::symlink_metadata(&absolute).map_err(|e| (EXIT_FAILED, e.to_string()))?;
    let run = absolute.parent().unwrap_or(Path::new("/")).to_owned();
    let mut name = absolute
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or((EXIT_USAGE, "not a checkpoint path".to_owned()))?
        .to_owned();
    let mut kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
    if meta.file_type().is_symlink() {
        let pointer = crate::scan::symlink_target(&run, &absolute).ok_or((
            EXIT_USAGE,
            "a symlink that does not point at a checkpoint of its own run".to_owned(),
        ))?;
        name = pointer.target;
        let target = std::fs::symlink_metadata(run.join(&name))
            .map_err(|e| (EXIT_FAILED, format!("{name}: {e}")))?;
        kind = if target.is_dir() {
            Kind::Dir
        } else {
            Kind::File
        };
    }
    let owner = crate::runs::discover(config, false)
        .into_iter()
        .find(|r| r.path == run)
        .ok_or_else(|| {
            (
                EXIT_USAGE,
                format!(
                    "{} is not a run directory of any watch in {}",
                    run.display(),
                    config.file.display()
                ),
            )
        })?;
    let layout = &config.watches[owner.watch].layout;
    if !matches!(layout.recognise(&name, kind), Recognition::Checkpoint(_)) {
        return Err((
            EXIT_USAGE,
            format!("{name} is not a checkpoint of layout {}", layout.name()),
        ));
    }
    Ok((run, name))
}

pub fn pin(config: &Config, path: &Path) -> u8 {
    match resolve(config, path) {
        Ok((run, name)) => match crate::pins::pin_name(&run, &name) {
            Ok(file) => {
                outln!("pinned {} ({})", run.join(&name).display(), file.display());
                EXIT_OK
            }
            Err(e) => {
                errln!("ckptd: cannot pin {}: {e}", path.display());
                EXIT_FAILED
            }
        },
        Err((code, why)) => {
            errln!("ckptd: cannot pin {}: {why}", path.display());
            code
        }
    }
}

pub fn unpin(config: &Config, path: &Path) -> u8 {
    let (run, name) = match resolve(config, path) {
        Ok(found) => found,
        Err((code, why)) => {
            errln!("ckptd: cannot unpin {}: {why}", path.display());
            return code;
        }
    };
    match crate::pins::unpin_name(&run, &name) {
        Ok(true) => {
            outln!("unpinned {}", run.join(&name).display());
            EXIT_OK
        }
        Ok(false) => {
            outln!("{} was not pinned", run.join(&name).display());
            EXIT_OK
        }
        Err(e) => {
            errln!("ckptd: cannot unpin {}: {e}", path.display());
            EXIT_FAILED
        }
    }
}
