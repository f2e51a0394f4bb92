//! Offload in the one-shot commands and the shared pieces of deciding it. `prune` uploads
//! what is to be uploaded inline, before it deletes anything, and keeps what failed; `plan`
//! and `prune --dry-run` only ask the store whether each copy is committed (its manifest),
//! and show the rest as kept, `uploading`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};

use super::job::{self, Job};
use super::transfer::{self, Failure, Settings};
use crate::config::{UploadSettings, Watch};
use crate::offload::{hold_uploading, Manifest, MANIFEST_NAME};
use crate::plan::{Plan, Verdict};

/// The job that uploads `v` of `run` as `watch` says; `Err` says why it cannot be made.
pub fn new_job(
    run: &Path,
    watch: &Watch,
    upload: &UploadSettings,
    v: &Verdict,
) -> Result<Job, String> {
    let prefix = upload
        .target
        .prefix(&watch.name, &watch.runs, run)
        .ok_or_else(|| {
            format!(
                "{} is not below the literal part of the watch's runs globs",
                run.display()
            )
        })?;
    let completed_at = v
        .checkpoint
        .completed_at()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .ok_or_else(|| "its completion time is unknown".to_owned())?;
    let mut metrics = std::collections::BTreeMap::new();
    for (name, value) in v.checkpoint.metrics.iter() {
        metrics.insert(name.to_owned(), value);
    }
    Ok(Job {
        run: run.to_owned(),
        watch: watch.name.clone(),
        checkpoint: v.name.clone(),
        dir: matches!(v.checkpoint.kind, crate::checkpoint::Kind::Dir),
        store: super::store::root_url(&upload.target),
        prefix,
        completed_at,
        step: v.step,
        epoch: v.checkpoint.epoch,
        metrics,
        sent: Vec::new(),
    })
}

/// The completion time of `v` in Unix seconds, as a job records it.
pub fn completed_secs(v: &Verdict) -> Option<u64> {
    v.checkpoint
        .completed_at()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
}

/// The settings one watch's uploads are sent with.
pub fn settings(upload: &UploadSettings) -> Settings {
    Settings {
        concurrency: upload.concurrency,
        limiter: upload.rate.map(|r| {
            #[allow(clippy::cast_precision_loss)]
            let rate = r as f64;
            async_speed_limit::Limiter::new(rate)
        }),
    }
}

/// The one-shot commands' uploads.
pub struct OneShotUploads {
    /// Where `prune` records its own uploads' progress.
    queue: Option<PathBuf>,
    /// Every queue a daemon may keep (its state directory is not the shell's): a checkpoint
    /// queued in any of them is to be uploaded.
    queues: Vec<PathBuf>,
    runtime: Option<tokio::runtime::Runtime>,
    /// Uploads `prune` tried and that failed (their checkpoints kept): `prune` exits 1.
    pub failed: usize,
    stores: HashMap<String, Result<Arc<dyn ObjectStore>, String>>,
}

impl OneShotUploads {
    pub fn new(state_dir: Option<&Path>) -> Self {
        Self {
            queue: crate::daemon::ledger::state_dir(state_dir).map(|d| job::queue_dir(&d)),
            queues: crate::daemon::ledger::state_dirs_to_read(state_dir)
                .iter()
                .map(|d| job::queue_dir(d))
                .collect(),
            runtime: None,
            failed: 0,
            stores: HashMap::new(),
        }
    }

    /// Keeps, as `uploading`, each checkpoint of `plan` to be uploaded whose copy is not
    /// committed: after uploading it first when `acting` (`prune`).
    pub fn offload(&mut self, run: &Path, watch: &Watch, plan: &mut Plan, acting: bool) {
        let Some(upload) = &watch.upload else {
            return;
        };
        // The daemon's queue: a checkpoint a rule wanted uploaded earlier is still to be.
        // A queue that cannot be read could hold any checkpoint: then every one is held.
        let mut queued: Vec<Job> = Vec::new();
        let mut blind = None;
        for q in &self.queues {
            match job::load_all(q) {
                Ok((jobs, _)) => queued.extend(jobs.into_iter().filter(|j| j.run == run)),
                Err(e) => blind = Some(format!("{}: {e}", q.display())),
            }
        }
        if let Some(why) = blind {
            tracing::error!(run = %run.display(), watch = %watch.name, error = %why, "cannot read an upload queue ({why}): every checkpoint of {} is kept, since any may be waiting for its upload (run as the daemon's user, or set state_dir)", run.display());
            let url = super::store::run_url(&upload.target, watch, run);
            hold_uploading(plan, &|_| true, &url);
            return;
        }
        let mut pending = Vec::new();
        for v in &plan.verdicts {
            let wanted = upload.which.wants(v)
                || (v.is_complete() && queued.iter().any(|j| j.checkpoint == v.name));
            if !wanted {
                continue;
            }
            let job = match new_job(run, watch, upload, v) {
                Ok(job) => job,
                Err(why) => {
                    tracing::warn!(run = %run.display(), watch = %watch.name, checkpoint = %v.name, "cannot upload {} in {}: {why}; kept", v.name, run.display());
                    pending.push(v.name.clone());
                    continue;
                }
            };
            if !self.committed_or_upload(&job, upload, acting) {
                pending.push(v.name.clone());
            }
        }
        hold_uploading(
            plan,
            &|name| pending.iter().any(|p| p == name),
            &super::store::run_url(&upload.target, watch, run),
        );
    }

    /// Remote retention of `run`'s copies: planned, and applied when `acting` (`prune`).
    pub fn remote(
        &mut self,
        run: &Path,
        watch: &Watch,
        acting: bool,
    ) -> Option<super::remote::RemotePlan> {
        let (upload, policy) = (watch.upload.as_ref()?, watch.remote.as_ref()?);
        let url = super::store::run_url(&upload.target, watch, run);
        let prefix = upload.target.prefix(&watch.name, &watch.runs, run)?;
        let store = match self.store(upload) {
            Ok(s) => s,
            Err(e) => {
                return Some(super::remote::RemotePlan {
                    url,
                    error: Some(e),
                    ..Default::default()
                })
            }
        };
        let runtime = self.runtime()?;
        Some(runtime.block_on(super::remote::retain(
            &*store,
            run,
            &watch.name,
            &url,
            &prefix,
            policy,
            acting,
        )))
    }

    fn runtime(&mut self) -> Option<&tokio::runtime::Runtime> {
        if self.runtime.is_none() {
            match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(r) => self.runtime = Some(r),
                Err(e) => {
                    tracing::error!(error = %e, "cannot start uploads: {e}; checkpoints to upload are kept");
                    return None;
                }
            }
        }
        self.runtime.as_ref()
    }

    fn store(&mut self, upload: &UploadSettings) -> Result<Arc<dyn ObjectStore>, String> {
        self.stores
            .entry(super::store::root_url(&upload.target))
            .or_insert_with(|| super::store::open(&upload.target))
            .clone()
    }

    /// Whether `job`'s copy is committed; `prune` uploads it first when it is not.
    fn committed_or_upload(&mut self, job: &Job, upload: &UploadSettings, acting: bool) -> bool {
        let store = match self.store(upload) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(run = %job.run.display(), watch = %job.watch, checkpoint = %job.checkpoint, to = %job.destination(), "cannot upload {} in {} to {}: cannot open the store: {e}; kept locally", job.checkpoint, job.run.display(), job.destination());
                if acting {
                    self.failed += 1;
                }
                return false;
            }
        };
        let queue = self.queue.clone();
        let Some(runtime) = self.runtime() else {
            return false;
        };
        if !acting {
            return match runtime.block_on(committed(&*store, job)) {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(run = %job.run.display(), watch = %job.watch, checkpoint = %job.checkpoint, to = %job.destination(), "cannot tell whether {} in {} is uploaded to {}: {e}; shown as kept", job.checkpoint, job.run.display(), job.destination());
                    false
                }
            };
        }
        let mut job = job.clone();
        let mut save = |j: &Job| {
            if let Some(dir) = &queue {
                let _ = job::save(dir, j);
            }
        };
        let started = std::time::Instant::now();
        match runtime.block_on(transfer::upload(
            store,
            &mut job,
            &settings(upload),
            &mut save,
        )) {
            Ok(manifest) => {
                if let Some(dir) = &queue {
                    let _ = job::remove(dir, &job);
                }
                log_committed(&job, &manifest, started.elapsed(), None);
                true
            }
            Err(failure) => {
                log_failed(&job, &failure, None);
                self.failed += 1;
                false
            }
        }
    }
}

/// Whether the store holds a committed copy of exactly this save (its manifest).
async fn committed(store: &dyn ObjectStore, job: &Job) -> Result<bool, String> {
    let key = Key::from(format!("{}/{MANIFEST_NAME}", job.base()));
    match store.get(&key).await {
        Ok(found) => {
            let bytes = found.bytes().await.map_err(|e| e.to_string())?;
            Ok(Manifest::parse(&bytes).is_ok_and(|m| {
                m.checkpoint == job.checkpoint && m.completed_at == job.completed_at
            }))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}

/// INFO: a checkpoint's copy is committed. `sent`: bytes sent by this attempt, when known
/// (less than the whole after a resumed upload; none when the copy was already there).
pub fn log_committed(job: &Job, manifest: &Manifest, took: std::time::Duration, sent: Option<u64>) {
    let bytes = manifest.bytes().unwrap_or(0);
    let how = match sent {
        Some(0) => "; it was already there".to_owned(),
        Some(s) if s < bytes => format!(
            "; {} sent now, the rest before",
            crate::report::human_bytes(s)
        ),
        _ => String::new(),
    };
    tracing::info!(run = %job.run.display(), watch = %job.watch, checkpoint = %job.checkpoint, to = %job.destination(), files = manifest.files.len(), bytes, sent_bytes = sent, seconds = took.as_secs_f64(), "checkpoint {} of {} uploaded to {} ({} files, {}{how}), sizes and checksums verified, manifest written", job.checkpoint, job.run.display(), job.destination(), manifest.files.len(), crate::report::human_bytes(bytes));
}

/// WARN (ERROR for credentials) for an upload that failed; `retry_in`: when the daemon tries
/// again.
pub fn log_failed(job: &Job, failure: &Failure, retry_in: Option<std::time::Duration>) {
    let then = match retry_in {
        Some(d) => format!("retrying in {}", crate::duration::show(d)),
        None => "the next prune tries again".to_owned(),
    };
    let help = match failure {
        Failure::Store {
            kind: transfer::StoreTrouble::Credentials,
            ..
        } => " (check the credentials in the environment: AWS_*, GOOGLE_*, AZURE_*)",
        Failure::Store {
            kind: transfer::StoreTrouble::Unreachable,
            ..
        } => " (no answer from the store: is the network up, and is the unit allowed it? see systemd/ckptd.service.d/upload.conf.example)",
        _ => "",
    };
    if matches!(
        failure,
        Failure::Store {
            kind: transfer::StoreTrouble::Credentials,
            ..
        }
    ) {
        tracing::error!(run = %job.run.display(), watch = %job.watch, checkpoint = %job.checkpoint, to = %job.destination(), error = %failure, "upload of {} in {} to {} refused: {failure}{help}; kept locally, {then}", job.checkpoint, job.run.display(), job.destination());
    } else {
        tracing::warn!(run = %job.run.display(), watch = %job.watch, checkpoint = %job.checkpoint, to = %job.destination(), error = %failure, "upload of {} in {} to {} failed: {failure}{help}; kept locally, {then}", job.checkpoint, job.run.display(), job.destination());
    }
}
