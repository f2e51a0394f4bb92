//! Uploading one checkpoint: file by file (large files in parts), a bounded number of files
//! at once, under the watch's rate cap; each file hashed (SHA-256) as it is read and, on S3,
//! its checksum sent with every request so the store refuses bytes that differ from what was
//! read. Then every object is checked again (size, and the ETag the store gave when it took
//! it), what differs is sent again, and only then is the manifest written: the commit marker.
//! A file that changes while it is read makes the upload fail as `Changed` (the checkpoint is
//! being written again; its new save is uploaded instead).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_speed_limit::Limiter;
use futures::StreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::job::{Job, Sent};
use crate::offload::{FileEntry, Manifest, MANIFEST_NAME};

/// The smallest part of a multipart upload; files up to this size are one PUT.
pub const PART_BYTES: u64 = 8 << 20;

/// S3 allows 10,000 parts: parts grow for files larger than this many parts of `PART_BYTES`.
const MAX_PARTS: u64 = 9_000;

/// Parts of one file in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

/// How much is read from a file at a time (and asked of the rate limiter).
const READ_BYTES: usize = 1 << 20;

/// Rounds of "check every object, send again what differs" before the upload fails.
const VERIFY_ROUNDS: usize = 3;

/// How one checkpoint is sent.
#[derive(Clone)]
pub struct Settings {
    /// Files at once.
    pub concurrency: usize,
    /// Shared by every upload of the watch; `None`: no cap.
    pub limiter: Option<Limiter>,
}

/// Why an upload did not commit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The local checkpoint is gone: there is nothing left to protect.
    #[error("{0}")]
    Gone(String),
    /// A file changed while it was uploaded: a new save under the same name.
    #[error("{0}")]
    Changed(String),
    /// A local file could not be read.
    #[error("{0}")]
    Local(String),
    /// The store refused or could not be reached.
    #[error("{message}")]
    Store { message: String, kind: StoreTrouble },
    /// An object was still not what was sent after every round of sending it again.
    #[error("{0}")]
    Mismatch(String),
    /// The checkpoint's prefix holds a copy ckptd did not make for this run: never replaced.
    #[error("{0}")]
    Foreign(String),
}

/// What kind of trouble the store is in, for what the log says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreTrouble {
    /// Credentials missing, wrong or not allowed: retrying will not help until they change.
    Credentials,
    /// Nothing answered (refused, timed out, no route, DNS).
    Unreachable,
    Other,
}

impl Failure {
    /// What kind of failure this is, without the details that change from one attempt to
    /// the next (the file, the request's duration): a WARN is said again only when this
    /// changes.
    pub fn cause(&self) -> String {
        match self {
            Self::Gone(_) => "gone".to_owned(),
            Self::Changed(_) => "changed".to_owned(),
            Self::Local(m) => format!("local: {m}"),
            Self::Store { kind, message } => {
                let code = message
                    .rsplit_once(" (")
                    .map_or("", |(_, c)| c.trim_end_matches(')'));
                format!("store: {kind:?} {code}")
            }
            Self::Mismatch(_) => "mismatch".to_owned(),
            Self::Foreign(m) => format!("foreign: {m}"),
        }
    }

    /// The failure an error of the store is.
    pub fn from_store(e: &object_store::Error) -> Self {
        let text = e.to_string();
        let kind = match e {
            object_store::Error::Unauthenticated { .. }
            | object_store::Error::PermissionDenied { .. } => StoreTrouble::Credentials,
            _ if unreachable(e) => StoreTrouble::Unreachable,
            // A listing's refusal comes as a generic error: its status says what it is.
            _ if text.contains("401 Unauthorized") || text.contains("403 Forbidden") => {
                StoreTrouble::Credentials
            }
            _ => StoreTrouble::Other,
        };
        let mut message = without_body(&text);
        if message.ends_with("(NoSuchBucket)") {
            message = format!("the bucket does not exist: {message}");
        }
        Self::Store { message, kind }
    }
}

/// Whether the error, or one of its causes, is a connection that never got an answer.
fn unreachable(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(http) = c.downcast_ref::<object_store::client::HttpError>() {
            if matches!(
                http.kind(),
                object_store::client::HttpErrorKind::Connect
                    | object_store::client::HttpErrorKind::Timeout
            ) {
                return true;
            }
        }
        cause = c.source();
    }
    false
}

/// A store's error as one line: an XML error body (which spans lines and repeats the request)
/// is cut down to its `<Code>`, such as `InvalidAccessKeyId`.
fn without_body(text: &str) -> String {
    let (head, body) = text.split_once("<?xml").unwrap_or((text, ""));
    let mut line = head
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches(':')
        .to_owned();
    let code = body
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code);
    if let Some(code) = code {
        line.push_str(" (");
        line.push_str(code);
        line.push(')');
    }
    line
}

/// A local file of the checkpoint.
#[derive(Debug, Clone)]
struct LocalFile {
    /// Relative to the checkpoint, `/`-separated.
    rel: String,
    abs: PathBuf,
    bytes: u64,
    mtime_ns: i128,
}

/// Uploads `job`'s checkpoint and commits it; `progress` is called with the job after each
/// file is sent (the caller saves it, so a restart resumes from there).
pub async fn upload(
    store: Arc<dyn ObjectStore>,
    job: &mut Job,
    settings: &Settings,
    progress: &mut (dyn FnMut(&Job) + Send),
) -> Result<Manifest, Failure> {
    let local_path = job.run.join(&job.checkpoint);
    let files = {
        let path = local_path.clone();
        let dir = job.dir;
        tokio::task::spawn_blocking(move || list_local(&path, dir))
            .await
            .map_err(|e| Failure::Local(e.to_string()))??
    };
    if let Some(newer) = files
        .iter()
        .find(|f| f.mtime_ns > i128::from(job.completed_at + 1) * 1_000_000_000)
    {
        return Err(Failure::Changed(format!(
            "{} was written after the checkpoint was found complete",
            newer.abs.display()
        )));
    }
    let base = job.base();
    let manifest_key = Key::from(format!("{base}/{MANIFEST_NAME}"));

    if let Some(committed) = already_committed(&*store, &manifest_key, job, &files).await? {
        return Ok(committed);
    }

    // Whatever was sent before for a file that has not changed since is kept.
    job.sent.retain(|s| {
        files
            .iter()
            .any(|f| f.rel == s.path && f.bytes == s.bytes && f.mtime_ns == s.mtime_ns)
    });
    for _round in 0..VERIFY_ROUNDS {
        let to_send: Vec<LocalFile> = files
            .iter()
            .filter(|f| !job.sent.iter().any(|s| s.path == f.rel))
            .cloned()
            .collect();
        let mut sends = futures::stream::iter(to_send.into_iter().map(|file| {
            let store = Arc::clone(&store);
            let key = Key::from(format!("{base}/{}", file.rel));
            let limiter = settings.limiter.clone();
            async move { send(&*store, &key, &file, limiter.as_ref()).await }
        }))
        .buffer_unordered(settings.concurrency.max(1));
        let mut first_error = None;
        while let Some(result) = sends.next().await {
            match result {
                Ok(sent) => {
                    job.sent.push(sent);
                    progress(job);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        // Every object again: a part lost, or an object replaced since it was sent, is sent
        // once more rather than committed.
        let mut differ = Vec::new();
        for sent in &job.sent {
            let key = Key::from(format!("{base}/{}", sent.path));
            match store.head(&key).await {
                Ok(meta)
                    if meta.size == sent.bytes
                        && same_tag(meta.e_tag.as_ref(), sent.e_tag.as_ref()) => {}
                Ok(meta) => differ.push(format!(
                    "{} ({} bytes, ETag {}; sent {} bytes, ETag {})",
                    sent.path,
                    meta.size,
                    meta.e_tag.as_deref().unwrap_or("none"),
                    sent.bytes,
                    sent.e_tag.as_deref().unwrap_or("none")
                )),
                Err(object_store::Error::NotFound { .. }) => {
                    differ.push(format!("{} (missing)", sent.path));
                }
                Err(e) => return Err(Failure::from_store(&e)),
            }
        }
        if differ.is_empty() {
            return commit(&*store, &manifest_key, job, &files).await;
        }
        tracing::warn!(run = %job.run.display(), watch = %job.watch, checkpoint = %job.checkpoint, to = %job.destination(), "upload of {} in {}: the store does not hold what was sent: {}; sending again", job.checkpoint, job.run.display(), differ.join(", "));
        job.sent.retain(|s| {
            !differ
                .iter()
                .any(|d| d.starts_with(&format!("{} (", s.path)))
        });
        progress(job);
    }
    Err(Failure::Mismatch(format!(
        "the store still did not hold what was sent after {VERIFY_ROUNDS} rounds"
    )))
}

/// A manifest already there: this very save committed before (a restart after the manifest
/// was written) is returned; an older save's is deleted (un-committed) before its objects are
/// overwritten.
async fn already_committed(
    store: &dyn ObjectStore,
    manifest_key: &Key,
    job: &Job,
    files: &[LocalFile],
) -> Result<Option<Manifest>, Failure> {
    match store.get(manifest_key).await {
        Ok(found) => {
            let bytes = found.bytes().await.map_err(|e| Failure::from_store(&e))?;
            let ours = job.run.to_string_lossy();
            match Manifest::parse(&bytes) {
                Ok(m) if m.run.as_deref() == Some(&*ours) => {
                    if commits(&m, job, files) && objects_match(store, &job.base(), &m).await? {
                        return Ok(Some(m));
                    }
                }
                Ok(m) => {
                    return Err(Failure::Foreign(format!(
                        "{manifest_key} is the copy of another run ({}); it is not replaced",
                        m.run.as_deref().unwrap_or("not recorded")
                    )))
                }
                Err(e) => {
                    return Err(Failure::Foreign(format!(
                        "{manifest_key} is there but not a manifest ckptd can read ({e}); it is not replaced"
                    )))
                }
            }
            // This run's older save under the same name: un-committed before it is replaced.
            store
                .delete(manifest_key)
                .await
                .map_err(|e| Failure::from_store(&e))?;
            Ok(None)
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(Failure::from_store(&e)),
    }
}

/// Writes the manifest, last, and checks the store holds it.
async fn commit(
    store: &dyn ObjectStore,
    key: &Key,
    job: &Job,
    files: &[LocalFile],
) -> Result<Manifest, Failure> {
    let mut entries: Vec<FileEntry> = files
        .iter()
        .filter_map(|f| {
            let sent = job.sent.iter().find(|s| s.path == f.rel)?;
            Some(FileEntry {
                path: f.rel.clone(),
                bytes: f.bytes,
                sha256: sent.sha256.clone(),
            })
        })
        .collect();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let mut manifest = Manifest::new(&job.checkpoint, job.dir, job.completed_at, entries);
    manifest.step = job.step;
    manifest.epoch = job.epoch;
    manifest.run = Some(job.run.to_string_lossy().into_owned());
    manifest.metrics.clone_from(&job.metrics);
    manifest.uploaded_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    manifest
        .validate()
        .map_err(|e| Failure::Local(format!("cannot describe the checkpoint: {e}")))?;
    let body = manifest.to_json();
    let length = body.len() as u64;
    store
        .put(key, PutPayload::from(body))
        .await
        .map_err(|e| Failure::from_store(&e))?;
    match store.head(key).await {
        Ok(meta) if meta.size == length => Ok(manifest),
        Ok(meta) => Err(Failure::Mismatch(format!(
            "the manifest is {} bytes in the store, {length} were sent",
            meta.size
        ))),
        Err(e) => Err(Failure::from_store(&e)),
    }
}

/// Whether manifest `m` commits exactly this save: the same checkpoint, completion time and
/// files (names and sizes).
fn commits(m: &Manifest, job: &Job, files: &[LocalFile]) -> bool {
    let local: HashMap<&str, u64> = files.iter().map(|f| (f.rel.as_str(), f.bytes)).collect();
    m.checkpoint == job.checkpoint
        && m.completed_at == job.completed_at
        && m.files.len() == local.len()
        && m.files
            .iter()
            .all(|f| local.get(f.path.as_str()) == Some(&f.bytes))
}

/// Whether every object `m` names is in the store at its size.
async fn objects_match(store: &dyn ObjectStore, base: &str, m: &Manifest) -> Result<bool, Failure> {
    for file in &m.files {
        match store
            .head(&Key::from(format!("{base}/{}", file.path)))
            .await
        {
            Ok(meta) if meta.size == file.bytes => {}
            Ok(_) | Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(Failure::from_store(&e)),
        }
    }
    Ok(true)
}

/// ETags compared as the store gives them; a store that gives none is compared by size only.
fn same_tag(now: Option<&String>, sent: Option<&String>) -> bool {
    match (now, sent) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// Sends one file; large ones in parts.
async fn send(
    store: &dyn ObjectStore,
    key: &Key,
    file: &LocalFile,
    limiter: Option<&Limiter>,
) -> Result<Sent, Failure> {
    let mut handle = match tokio::fs::File::open(&file.abs).await {
        Ok(h) => h,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::Gone(format!("{} is gone", file.abs.display())))
        }
        Err(e) => return Err(Failure::Local(format!("{}: {e}", file.abs.display()))),
    };
    let mut sha = Sha256::new();
    let part = part_bytes(file.bytes);
    let mut read_total = 0u64;
    let mut buf = vec![0u8; READ_BYTES];
    let result = if file.bytes <= part {
        let mut whole = Vec::with_capacity(usize::try_from(file.bytes).unwrap_or(0));
        loop {
            let n = read(&mut handle, &mut buf, file).await?;
            if n == 0 {
                break;
            }
            if let Some(l) = limiter {
                l.consume(n).await;
            }
            sha.update(&buf[..n]);
            whole.extend_from_slice(&buf[..n]);
            read_total += n as u64;
            // A file growing while it is read is not read into memory without end.
            unchanged_so_far(file, read_total)?;
        }
        unchanged(file, read_total)?;
        store
            .put(key, PutPayload::from(whole))
            .await
            .map_err(|e| Failure::from_store(&e))?
    } else {
        let upload = store
            .put_multipart(key)
            .await
            .map_err(|e| Failure::from_store(&e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(
            upload,
            usize::try_from(part).unwrap_or(usize::MAX),
        );
        let outcome: Result<(), Failure> = async {
            loop {
                let n = read(&mut handle, &mut buf, file).await?;
                if n == 0 {
                    break;
                }
                if let Some(l) = limiter {
                    l.consume(n).await;
                }
                sha.update(&buf[..n]);
                read_total += n as u64;
                unchanged_so_far(file, read_total)?;
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(|e| Failure::from_store(&e))?;
                writer.write(&buf[..n]);
            }
            unchanged(file, read_total)
        }
        .await;
        if let Err(e) = outcome {
            // Parts already sent are not left to be billed: the upload is aborted.
            let _ = writer.abort().await;
            return Err(e);
        }
        writer.finish().await.map_err(|e| Failure::from_store(&e))?
    };
    // The file as it is now must be the file that was read.
    let after = tokio::fs::metadata(&file.abs)
        .await
        .map_err(|e| Failure::Changed(format!("{}: {e}", file.abs.display())))?;
    if after.len() != file.bytes || mtime_ns(&after) != file.mtime_ns {
        return Err(Failure::Changed(format!(
            "{} changed while it was uploaded",
            file.abs.display()
        )));
    }
    Ok(Sent {
        path: file.rel.clone(),
        bytes: file.bytes,
        mtime_ns: file.mtime_ns,
        sha256: hex(&sha.finalize()),
        e_tag: result.e_tag,
    })
}

async fn read(
    handle: &mut tokio::fs::File,
    buf: &mut [u8],
    file: &LocalFile,
) -> Result<usize, Failure> {
    handle
        .read(buf)
        .await
        .map_err(|e| Failure::Local(format!("{}: {e}", file.abs.display())))
}

fn unchanged_so_far(file: &LocalFile, read: u64) -> Result<(), Failure> {
    if read > file.bytes {
        return unchanged(file, read);
    }
    Ok(())
}

fn unchanged(file: &LocalFile, read: u64) -> Result<(), Failure> {
    if read == file.bytes {
        Ok(())
    } else {
        Err(Failure::Changed(format!(
            "{} is {read} bytes now, {} when the upload started",
            file.abs.display(),
            file.bytes
        )))
    }
}

/// Part size for a file of `bytes`: `PART_BYTES`, or larger so it fits in `MAX_PARTS` parts.
fn part_bytes(bytes: u64) -> u64 {
    let needed = bytes.div_ceil(MAX_PARTS);
    PART_BYTES.max(needed.next_multiple_of(1 << 20))
}

/// Lowercase hex digits of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

fn mtime_ns(meta: &std::fs::Metadata) -> i128 {
    use std::os::unix::fs::MetadataExt;
    i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec())
}

/// The checkpoint's regular files, relative and sorted. A symlink or special file inside it
/// is refused: what it points at is not the checkpoint's to upload, and a copy without it
/// would not be the checkpoint.
fn list_local(path: &Path, dir: bool) -> Result<Vec<LocalFile>, Failure> {
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let top = std::fs::symlink_metadata(path).map_err(|e| {
        if gone(&e) {
            Failure::Gone(format!("{} is gone", path.display()))
        } else {
            Failure::Local(format!("{}: {e}", path.display()))
        }
    })?;
    if !dir {
        if !top.is_file() {
            return Err(Failure::Local(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(vec![LocalFile {
            rel: name,
            abs: path.to_owned(),
            bytes: top.len(),
            mtime_ns: mtime_ns(&top),
        }]);
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(path)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| match e.io_error() {
            Some(io) if gone(io) => Failure::Gone(format!("{} is gone", path.display())),
            _ => Failure::Local(e.to_string()),
        })?;
        let kind = entry.file_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(Failure::Local(format!(
                "{} is not a regular file: not uploaded, and the checkpoint is kept",
                entry.path().display()
            )));
        }
        let meta = entry
            .metadata()
            .map_err(|e| Failure::Local(e.to_string()))?;
        let rel = entry
            .path()
            .strip_prefix(path)
            .ok()
            .and_then(|r| r.to_str())
            .ok_or_else(|| Failure::Local(format!("{}: not a UTF-8 name", entry.path().display())))?
            .to_owned();
        files.push(LocalFile {
            rel,
            abs: entry.path().to_owned(),
            bytes: meta.len(),
            mtime_ns: mtime_ns(&meta),
        });
    }
    if files.is_empty() {
        return Err(Failure::Local(format!("{} holds no files", path.display())));
    }
    Ok(files)
}

#[cfg(test)]
#[path = "transfer_tests.rs"]
mod tests;
