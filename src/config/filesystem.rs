//! `[[filesystem]]` tables: validated like the rest of the file (pure), then checked against
//! the disk when the file is loaded: the path must exist, and two tables must not name the
//! same filesystem (the same `st_dev`), since each filesystem has one floor.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use toml::Spanned;

use super::error::{ConfigError, ConfigErrors, Errors};
use super::raw::{RawFilesystem, RawSize};
use super::{Config, Filesystem};
use crate::pressure::{FilesystemTarget, Floor, Unit};

/// Validates every table; the ones with an error are left out (the error says why).
pub(super) fn validate(
    tables: Vec<Spanned<RawFilesystem>>,
    config_dir: &Path,
    e: &mut Errors<'_>,
) -> Vec<Filesystem> {
    let mut out = Vec::new();
    for table in tables {
        let span = table.span();
        let raw = table.into_inner();
        let before = e.list.len();
        let Some(path) = &raw.path else {
            e.push(
                span,
                "[[filesystem]] needs `path`: any path on the filesystem to keep free",
            );
            continue;
        };
        let min_free = raw
            .min_free
            .as_ref()
            .and_then(|v| floor(e, v, "min_free", Unit::Bytes));
        let min_free_inodes = raw
            .min_free_inodes
            .as_ref()
            .and_then(|v| floor(e, v, "min_free_inodes", Unit::Inodes));
        let headroom = match &raw.headroom {
            Some(value) if value.get_ref() == "next-save" => true,
            Some(value) => {
                e.push(
                    value.span(),
                    format!(
                        "`headroom` = \"{}\" is not \"next-save\" (the only headroom there is: \
                         room for each active run's next save)",
                        value.get_ref()
                    ),
                );
                false
            }
            None => false,
        };
        let target = FilesystemTarget {
            path: crate::paths::normalize(&config_dir.join(path.get_ref())),
            min_free,
            min_free_inodes,
            headroom,
        };
        if e.list.len() == before && !target.asks() {
            e.push(
                span,
                "this [[filesystem]] asks for nothing: set `min_free`, `min_free_inodes` or `headroom`",
            );
        }
        if e.list.len() == before {
            let at = e.locator.error(path.span(), "");
            out.push(Filesystem {
                target,
                at: (at.line, at.column),
            });
        }
    }
    out
}

/// `"10%"`, or an amount: a size for bytes (`"500GiB"`, `4096`), a count for inodes.
fn floor(e: &mut Errors<'_>, value: &Spanned<RawSize>, key: &str, unit: Unit) -> Option<Floor> {
    let parsed = match value.get_ref() {
        RawSize::Text(text) if text.trim_end().ends_with('%') => {
            let number = text.trim_end().trim_end_matches('%').trim();
            match number.parse::<f64>() {
                Ok(p) if p > 0.0 && p < 100.0 => Ok(Floor::Percent(p)),
                _ => Err(format!(
                    "`{key}` = \"{text}\": a percentage must be above 0% and below 100%"
                )),
            }
        }
        RawSize::Text(text) => match unit {
            Unit::Bytes => crate::size::parse(text)
                .map(Floor::Amount)
                .map_err(|m| format!("`{key}`: {m}, or a percentage such as \"10%\"")),
            Unit::Inodes => text.trim().parse::<u64>().map(Floor::Amount).map_err(|_| {
                format!(
                    "`{key}` = \"{text}\" is not a number of inodes or a percentage such as \"5%\""
                )
            }),
        },
        RawSize::Bytes(n) => u64::try_from(*n)
            .map(Floor::Amount)
            .map_err(|_| format!("`{key}` must be at least 1, not {n}")),
    };
    match parsed {
        Ok(Floor::Amount(0)) => {
            e.push(value.span(), format!("`{key}` must be at least 1"));
            None
        }
        Ok(floor) => Some(floor),
        Err(message) => {
            e.push(value.span(), message);
            None
        }
    }
}

/// What only the disk can say: each table's path exists, and no two share a filesystem.
pub(super) fn check_on_disk(config: &Config) -> Result<(), ConfigErrors> {
    let mut errors = Vec::new();
    let mut seen: HashMap<u64, &Filesystem> = HashMap::new();
    for fs in &config.filesystems {
        let error = |message: String| ConfigError {
            file: config.file.clone(),
            line: fs.at.0,
            column: fs.at.1,
            message,
        };
        let path = &fs.target.path;
        match std::fs::metadata(path) {
            Ok(meta) => {
                if let Some(first) = seen.insert(meta.dev(), fs) {
                    errors.push(error(format!(
                        "`{}` is on the same filesystem as `{}` (line {}): one [[filesystem]] \
                         table per filesystem",
                        path.display(),
                        first.target.path.display(),
                        first.at.0
                    )));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => errors.push(error(format!(
                "[[filesystem]] path `{}` does not exist (name any existing path on the \
                 filesystem to keep free)",
                path.display()
            ))),
            Err(e) => errors.push(error(format!(
                "[[filesystem]] path `{}`: {e}{}",
                path.display(),
                crate::io_hint::hint(&e)
            ))),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}
