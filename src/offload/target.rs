//! Where a run's checkpoints go: `upload = { to = "s3://bucket/prefix/{watch}/{run}" }`. The
//! template is checked when the config is read; each run's prefix is the template with its
//! placeholders filled. `{run}` is the run's path below the literal part of the watch's
//! `runs` glob (`/data/runs/*` and `/data/runs/bert` give `bert`; `/data/*/exp` and
//! `/data/alice/exp` give `alice/exp`), so two runs of one watch never share a prefix.

use std::path::Path;

/// The stores ckptd can write to (the `object_store` crate's backends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    S3,
    Gcs,
    Azure,
    /// A directory on a filesystem: `file:///mnt/archive/{watch}/{run}`.
    File,
}

/// A checked `to` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: Scheme,
    /// The bucket or container; for `file`, the directory the prefix is under (absolute).
    pub root: String,
    /// The key template under the root, without leading or trailing `/`.
    template: String,
}

/// Why a `to` template is refused (said at its line and column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("\"{0}\" has no scheme: write s3://BUCKET/PREFIX, gs://, az:// or file:///DIRECTORY")]
    NoScheme(String),
    #[error("scheme \"{0}://\" is not one ckptd uploads to: s3, gs, az or file")]
    Scheme(String),
    #[error("no bucket in \"{0}\"")]
    NoBucket(String),
    #[error("file:// needs an absolute directory: file:///mnt/archive/{{watch}}/{{run}}")]
    FileRoot,
    #[error("unknown placeholder {{{0}}}: the placeholders are {{watch}} and {{run}}")]
    Placeholder(String),
    #[error("\"{0}\": an empty, `.` or `..` segment in the prefix")]
    Segment(String),
    #[error("the prefix has no {{run}}, and the runs glob {0} matches many runs: their checkpoints would share one prefix")]
    NoRun(String),
}

impl Target {
    /// Checks `to` for a watch whose `runs` globs are `runs`.
    pub fn parse(to: &str, runs: &[String]) -> Result<Self, TargetError> {
        let (scheme, rest) = to
            .split_once("://")
            .ok_or_else(|| TargetError::NoScheme(to.to_owned()))?;
        let scheme = match scheme {
            "s3" => Scheme::S3,
            "gs" => Scheme::Gcs,
            "az" | "azure" => Scheme::Azure,
            "file" => Scheme::File,
            other => return Err(TargetError::Scheme(other.to_owned())),
        };
        let (root, template) = if scheme == Scheme::File {
            // file:///mnt/archive/{watch}: the root is the literal directory before the
            // first placeholder.
            if !rest.starts_with('/') {
                return Err(TargetError::FileRoot);
            }
            let literal_end = rest.find('{').unwrap_or(rest.len());
            let cut = rest[..literal_end].rfind('/').unwrap_or(0);
            let root = if cut == 0 { "/" } else { &rest[..cut] };
            (root.to_owned(), rest[cut..].trim_matches('/').to_owned())
        } else {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() || bucket.contains('{') {
                return Err(TargetError::NoBucket(to.to_owned()));
            }
            (bucket.to_owned(), prefix.trim_matches('/').to_owned())
        };
        for segment in template.split('/').filter(|_| !template.is_empty()) {
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err(TargetError::Segment(to.to_owned()));
            }
        }
        let mut rest = template.as_str();
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
            let name = &rest[open + 1..close];
            if name != "watch" && name != "run" {
                return Err(TargetError::Placeholder(name.to_owned()));
            }
            rest = &rest[(close + 1).min(rest.len())..];
        }
        if !template.contains("{run}") {
            if let Some(glob) = runs.iter().find(|g| has_glob(g)) {
                return Err(TargetError::NoRun(glob.clone()));
            }
            if runs.len() > 1 {
                return Err(TargetError::NoRun(runs.join(", ")));
            }
        }
        Ok(Self {
            scheme,
            root: root.clone(),
            template,
        })
    }

    /// The part of the prefix before any placeholder (whole directories only): where every
    /// run of the watch goes, for a first look at the store.
    pub fn fixed_prefix(&self) -> &str {
        let literal = &self.template[..self.template.find('{').unwrap_or(self.template.len())];
        if literal.len() == self.template.len() {
            return literal;
        }
        literal.rfind('/').map_or("", |cut| &literal[..cut])
    }

    /// The template up to `{watch}` when `{watch}` is a whole segment of it: two watches
    /// uploading to one store are kept apart only when both give the same text here (their
    /// names then differ in the same segment).
    pub fn before_watch(&self) -> Option<&str> {
        let at = self.template.find("{watch}")?;
        let whole = (at == 0 || self.template[..at].ends_with('/'))
            && self.template[at + "{watch}".len()..]
                .chars()
                .next()
                .is_none_or(|c| c == '/');
        whole.then(|| &self.template[..at])
    }

    /// The store's identity: scheme and bucket (or directory).
    pub fn store_key(&self) -> (Scheme, &str) {
        (self.scheme, self.root.as_str())
    }

    /// The prefix of `run`'s checkpoints (no leading or trailing `/`): `None` when `run` is
    /// not under any of `runs`' literal parts (it is not this watch's run).
    pub fn prefix(&self, watch: &str, runs: &[String], run: &Path) -> Option<String> {
        // Below the directory all the globs share, not each glob's own: `/x/ra/*` and
        // `/x/rb/*` must not both give `exp` for `/x/ra/exp` and `/x/rb/exp`.
        if !runs
            .iter()
            .any(|glob| base_of(glob).and_then(|b| run_key(&b, run)).is_some())
        {
            return None;
        }
        let common = runs
            .iter()
            .map(|g| base_of(g))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .reduce(|a, b| common_dir(&a, &b))?;
        let key = run_key(&common, run)?;
        Some(
            self.template
                .replace("{watch}", watch)
                .replace("{run}", &key),
        )
    }
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The literal directories of `glob`; for a glob without wildcards (one run), its parent.
fn base_of(glob: &str) -> Option<std::path::PathBuf> {
    let literal: std::path::PathBuf = Path::new(glob)
        .components()
        .take_while(|c| !has_glob(&c.as_os_str().to_string_lossy()))
        .collect();
    if literal.as_path() == Path::new(glob) {
        Some(literal.parent()?.to_path_buf())
    } else {
        Some(literal)
    }
}

/// The longest directory both `a` and `b` are in.
fn common_dir(a: &Path, b: &Path) -> std::path::PathBuf {
    a.components()
        .zip(b.components())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect()
}

/// `run` below `base`, `/`-separated; `None` when it is not below it, or a part would not be
/// a plain name.
fn run_key(base: &Path, run: &Path) -> Option<String> {
    let below = run.strip_prefix(base).ok()?;
    let parts: Vec<&str> = below
        .components()
        .map(|c| match c {
            std::path::Component::Normal(name) => name.to_str(),
            _ => None,
        })
        .collect::<Option<_>>()?;
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
#[path = "target_tests.rs"]
mod tests;
