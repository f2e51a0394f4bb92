//! The `upload` key of a watch: `upload = { to = "s3://bucket/ckpt/{watch}/{run}", which =
//! ["best"], upload_rate = "100MiB", concurrency = 4 }`. Where checkpoints go is the node's
//! choice, made in the daemon's config: a run's `.ckptd.toml` may only narrow or widen
//! `which`, because the node's credentials write wherever `to` says.

use toml::Spanned;

use super::error::Errors;
use super::raw::{RawUpload, RawWatch};
use crate::offload::{Target, Which};

/// Files of one checkpoint uploaded at once when `concurrency` is not set.
pub const UPLOAD_CONCURRENCY: usize = 4;

/// A watch's validated `upload` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSettings {
    /// `to` as written, for logs and `check`.
    pub to: String,
    pub target: Target,
    pub which: Which,
    /// Bytes per second for all of this watch's uploads together; `None`: no cap.
    pub rate: Option<u64>,
    /// Files uploaded at once per checkpoint.
    pub concurrency: usize,
}

/// Validates `upload`; each mistake is pushed with its location.
pub(super) fn upload(e: &mut Errors<'_>, raw: &RawWatch) -> Option<UploadSettings> {
    let table = raw.upload.as_ref()?;
    let up: &RawUpload = table.get_ref();
    let runs: Vec<String> = raw
        .runs
        .as_ref()
        .map(|r| r.get_ref().iter().map(|g| g.get_ref().clone()).collect())
        .unwrap_or_default();
    let Some(to) = &up.to else {
        e.push(
            table.span(),
            "`upload` needs `to`, such as to = \"s3://BUCKET/checkpoints/{watch}/{run}\"",
        );
        return None;
    };
    let target = match Target::parse(to.get_ref(), &runs) {
        Ok(t) => Some(t),
        Err(err) => {
            e.push(to.span(), format!("`upload.to`: {err}"));
            None
        }
    };
    let which = match &up.which {
        None => Some(Which::All),
        Some(list) => {
            let names: Vec<&str> = list
                .get_ref()
                .iter()
                .map(|n| n.get_ref().as_str())
                .collect();
            match Which::parse(&names) {
                Ok(w) => Some(w),
                Err(message) => {
                    e.push(list.span(), format!("`upload.which`: {message}"));
                    None
                }
            }
        }
    };
    let rate = up.upload_rate.as_ref().and_then(|r| rate(e, r));
    let concurrency = match &up.concurrency {
        None => Some(UPLOAD_CONCURRENCY),
        Some(n) if (1..=64).contains(n.get_ref()) => usize::try_from(*n.get_ref()).ok(),
        Some(n) => {
            e.push(
                n.span(),
                format!(
                    "`upload.concurrency` is files at once, 1 to 64, not {}",
                    n.get_ref()
                ),
            );
            None
        }
    };
    Some(UploadSettings {
        to: to.get_ref().clone(),
        target: target?,
        which: which?,
        rate: if up.upload_rate.is_some() {
            Some(rate?)
        } else {
            None
        },
        concurrency: concurrency?,
    })
}

/// `upload_rate`: bytes per second, written as a size (`"100MiB"`, `"1GB/s"`, or a number).
fn rate(e: &mut Errors<'_>, value: &Spanned<super::raw::RawSize>) -> Option<u64> {
    use super::raw::RawSize;
    let text = match value.get_ref() {
        RawSize::Bytes(n) => return positive(e, value, u64::try_from(*n).ok()),
        RawSize::Text(text) => text.trim(),
    };
    let text = text.strip_suffix("/s").unwrap_or(text);
    match crate::size::parse(text) {
        Ok(b) => positive(e, value, Some(b)),
        Err(m) => {
            e.push(
                value.span(),
                format!("`upload_rate` is bytes per second, such as \"100MiB\": {m}"),
            );
            None
        }
    }
}

fn positive(
    e: &mut Errors<'_>,
    value: &Spanned<super::raw::RawSize>,
    bytes: Option<u64>,
) -> Option<u64> {
    match bytes {
        Some(b) if b > 0 => Some(b),
        _ => {
            e.push(
                value.span(),
                "`upload_rate` must be at least 1 byte per second (leave it out for no cap)",
            );
            None
        }
    }
}

/// Two watches uploading to one store must be kept apart by `{watch}`: otherwise a run of
/// one can have the prefix of a run of the other, and its upload would overwrite that run's
/// copy (perhaps its only one, once the local copy went).
pub(super) fn apart(watches: &[super::Watch], e: &mut Errors<'_>) {
    let uploading: Vec<(&super::Watch, &UploadSettings)> = watches
        .iter()
        .filter_map(|w| Some((w, w.upload.as_ref()?)))
        .collect();
    for (i, (watch, upload)) in uploading.iter().enumerate() {
        let Some((other, theirs)) = uploading
            .iter()
            .enumerate()
            .find(|(j, (_, u))| *j != i && u.target.store_key() == upload.target.store_key())
            .map(|(_, pair)| *pair)
        else {
            continue;
        };
        let ok = matches!(
            (upload.target.before_watch(), theirs.target.before_watch()),
            (Some(a), Some(b)) if a == b
        );
        if ok {
            continue;
        }
        let span = watch
            .source
            .raw
            .upload
            .as_ref()
            .and_then(|u| u.get_ref().to.as_ref())
            .map_or(0..0, Spanned::span);
        e.push(
            span,
            format!(
                "`upload.to` of watch `{}` and of watch `{}` are in one store: give both the same prefix followed by a whole {{watch}} segment (such as \"{}/ckpt/{{watch}}/{{run}}\"), so that their runs cannot share a prefix",
                watch.name,
                other.name,
                crate::upload::store::root_url(&upload.target)
            ),
        );
    }
}
