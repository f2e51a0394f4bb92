//! One checkpoint to upload, and the queue of them kept in `<state_dir>/uploads/`, one JSON
//! file per checkpoint. The file is written (and synced) when the upload is first wanted and
//! removed once the manifest is committed, so a checkpoint that a rule wanted uploaded stays
//! held locally across a crash or restart even if no rule wants it any more: the upload is
//! resumed, never forgotten. Each file that was uploaded is recorded with the ETag the store
//! returned, so a resumed upload sends again only what the store does not hold as sent.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The directory below the state directory that holds the queue.
pub const QUEUE_DIR: &str = "uploads";

/// A checkpoint to upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub run: PathBuf,
    pub watch: String,
    pub checkpoint: String,
    pub dir: bool,
    /// The store, as written in `to` up to the bucket (`s3://bucket`, `file:///mnt/a`).
    pub store: String,
    /// The run's prefix in the store, without leading or trailing `/`.
    pub prefix: String,
    /// The checkpoint's completion time (Unix seconds) when the upload was asked for: the
    /// manifest records it, and a checkpoint whose completion time moved is another save.
    pub completed_at: u64,
    pub step: Option<u64>,
    pub epoch: Option<u64>,
    pub metrics: BTreeMap<String, f64>,
    /// Files sent so far.
    #[serde(default)]
    pub sent: Vec<Sent>,
}

/// A file the store acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// Relative to the checkpoint, `/`-separated.
    pub path: String,
    pub bytes: u64,
    /// The local file's mtime (nanoseconds since the epoch) when it was read: a file changed
    /// since is sent again.
    pub mtime_ns: i128,
    pub sha256: String,
    /// What the store answered for it; a HEAD that answers otherwise means the object changed.
    pub e_tag: Option<String>,
}

impl Job {
    /// The key of the checkpoint's prefix: `<prefix>/<checkpoint>`.
    pub fn base(&self) -> String {
        if self.prefix.is_empty() {
            self.checkpoint.clone()
        } else {
            format!("{}/{}", self.prefix, self.checkpoint)
        }
    }

    /// Where its copy goes, for logs: `s3://bucket/prefix/checkpoint`.
    pub fn destination(&self) -> String {
        format!("{}/{}", self.store.trim_end_matches('/'), self.base())
    }

    /// The queue file's name: one per run, checkpoint name and save (its completion time),
    /// so that an old save's upload, stopped late, never rewrites or removes the new one's.
    pub fn file_name(run: &Path, checkpoint: &str, completed_at: u64) -> String {
        let mut hash = Sha256::new();
        hash.update(run.as_os_str().as_encoded_bytes());
        hash.update([0]);
        hash.update(checkpoint.as_bytes());
        hash.update([0]);
        hash.update(completed_at.to_le_bytes());
        let digest = hash.finalize();
        format!("{}.json", super::transfer::hex(&digest[..12]))
    }
}

/// The queue directory under `state_dir`.
pub fn queue_dir(state_dir: &Path) -> PathBuf {
    state_dir.join(QUEUE_DIR)
}

/// Writes `job` into `dir`, durably: a temporary file synced, then renamed over the old one.
pub fn save(dir: &Path, job: &Job) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let name = Job::file_name(&job.run, &job.checkpoint, job.completed_at);
    let tmp = dir.join(format!("{name}.tmp"));
    let bytes = serde_json::to_vec_pretty(job).map_err(std::io::Error::other)?;
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join(&name))?;
    // The rename itself survives a crash only once the directory is synced.
    std::fs::File::open(dir)?.sync_all()
}

/// Removes the queue file of `job`, if any.
pub fn remove(dir: &Path, job: &Job) -> std::io::Result<()> {
    match std::fs::remove_file(dir.join(Job::file_name(
        &job.run,
        &job.checkpoint,
        job.completed_at,
    ))) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Queue files that could not be read, and why.
pub type Unreadable = Vec<(PathBuf, String)>;

/// Every job in `dir`; a file that cannot be read is returned as its path and error (the
/// caller says so: its checkpoint may now be deletable without its upload). `Err`: the
/// directory exists but cannot be read (then nothing can be said of any checkpoint).
pub fn load_all(dir: &Path) -> std::io::Result<(Vec<Job>, Unreadable)> {
    let mut jobs = Vec::new();
    let mut bad = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((jobs, bad)),
        Err(e) => return Err(e),
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    for path in paths {
        match crate::regular_file::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<Job>(&text).map_err(|e| e.to_string()))
        {
            Ok(job) => jobs.push(job),
            Err(e) => bad.push((path, e)),
        }
    }
    Ok((jobs, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            run: PathBuf::from("/data/runs/a"),
            watch: "w".into(),
            checkpoint: "checkpoint-100".into(),
            dir: true,
            store: "s3://bucket".into(),
            prefix: "ckpt/w/a".into(),
            completed_at: 1_700_000_000,
            step: Some(100),
            epoch: None,
            metrics: BTreeMap::from([("eval_loss".to_owned(), 0.5)]),
            sent: vec![Sent {
                path: "model.safetensors".into(),
                bytes: 10,
                mtime_ns: 1,
                sha256: "0".repeat(64),
                e_tag: Some("\"abc\"".into()),
            }],
        }
    }

    #[test]
    fn a_saved_job_is_loaded_back_and_removed_once_done() {
        let dir = tempfile::tempdir().unwrap();
        let queue = queue_dir(dir.path());
        save(&queue, &job()).unwrap();
        std::fs::write(queue.join("broken.json"), "{").unwrap();
        std::fs::write(queue.join("x.json.tmp"), "{").unwrap();
        let (jobs, bad) = load_all(&queue).unwrap();
        assert_eq!(jobs, vec![job()]);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(bad[0].0.ends_with("broken.json"));
        remove(&queue, &job()).unwrap();
        remove(&queue, &job()).unwrap();
        assert!(load_all(&queue).unwrap().0.is_empty());
        assert!(load_all(&dir.path().join("none")).unwrap().0.is_empty());
    }

    #[test]
    fn destination_names_the_checkpoint_under_the_prefix() {
        assert_eq!(job().destination(), "s3://bucket/ckpt/w/a/checkpoint-100");
        let mut j = job();
        j.prefix.clear();
        assert_eq!(j.base(), "checkpoint-100");
        assert_ne!(
            Job::file_name(Path::new("/a"), "b", 1),
            Job::file_name(Path::new("/a/b"), "", 1)
        );
        assert_ne!(
            Job::file_name(Path::new("/a"), "b", 1),
            Job::file_name(Path::new("/a"), "b", 2)
        );
    }
}
