//! The daemon's uploads: which checkpoints are to be uploaded, which are committed, and what
//! was said. A checkpoint that a watch's `upload` wants is queued (on disk first), held
//! locally (`uploading`) until the uploader reports its manifest written, and held for as
//! long as it is queued even if no rule wants it any more: a wanted upload is finished, never
//! forgotten. Committed copies are remembered by their completion time, so a checkpoint
//! written again under the same name is uploaded again.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

use crate::config::{Config, Watch};
use crate::offload::hold_uploading;
use crate::plan::Plan;
use crate::upload::job::{self, Job};
use crate::upload::oneshot::{completed_secs, log_committed, log_failed, new_job, settings};
use crate::upload::transfer::{Failure, Settings};
use crate::upload::{Outcome, Report, Request, Uploader};

/// Where a checkpoint's upload stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Queued or being sent, for the save completed at this time, by this watch.
    Pending { completed_at: u64, watch: String },
    /// Its upload stopped because the save changed under it (or vanished while its path is
    /// still there): the next pass queues the checkpoint as it is now, whatever `which`
    /// says, and it stays held until then.
    Again,
    /// Its manifest is written.
    Committed { completed_at: u64 },
}

type Key = (PathBuf, String);

pub struct DaemonUploads {
    uploader: Option<Uploader>,
    queue: Option<PathBuf>,
    states: HashMap<Key, State>,
    /// Each watch's settings (its rate limiter is shared by all its uploads).
    settings: HashMap<String, Settings>,
    /// The last failure said for a checkpoint: the same again is not repeated.
    said: HashMap<Key, String>,
}

impl DaemonUploads {
    /// No uploads (replaced by [`Self::start`] before the first pass).
    pub fn none() -> Self {
        Self {
            uploader: None,
            queue: None,
            states: HashMap::new(),
            settings: HashMap::new(),
            said: HashMap::new(),
        }
    }

    /// Starts the uploader when a watch uploads, and resumes the queue found in `state_dir`.
    pub fn start(
        config: &Config,
        state_dir: Option<&Path>,
        reports: &mpsc::UnboundedSender<Report>,
    ) -> Self {
        let queue = state_dir.map(job::queue_dir);
        let mut this = Self {
            uploader: None,
            queue,
            states: HashMap::new(),
            settings: HashMap::new(),
            said: HashMap::new(),
        };
        let (jobs, unreadable) = match this.queue.as_deref().map(job::load_all) {
            Some(Ok(found)) => found,
            Some(Err(e)) => {
                let q = this.queue.as_deref().unwrap_or(Path::new(""));
                tracing::error!(path = %q.display(), error = %e, "cannot read the upload queue {}: {e}; uploads that were under way may not be resumed, and their checkpoints are not held for them", q.display());
                Default::default()
            }
            None => Default::default(),
        };
        for (path, e) in unreadable {
            tracing::warn!(path = %path.display(), error = %e, "cannot read queued upload {}: {e}; its checkpoint is no longer held for it", path.display());
        }
        if config.watches.iter().all(|w| w.upload.is_none()) && jobs.is_empty() {
            return this;
        }
        if this.queue.is_none() {
            tracing::warn!("no state directory: queued uploads do not survive a restart");
        }
        this.uploader = Some(Uploader::start(reports.clone(), this.queue.clone()));
        for watch in config.watches.iter().filter(|w| w.upload.is_some()) {
            this.probe(watch);
        }
        for job in jobs {
            this.resume(config, job);
        }
        this
    }

    /// Says at startup, in one clear line, when a watch's store cannot be reached.
    fn probe(&self, watch: &Watch) {
        let (Some(uploader), Some(upload)) = (&self.uploader, &watch.upload) else {
            return;
        };
        uploader.send(Request::Probe {
            watch: watch.name.clone(),
            to: upload.to.clone(),
            target: upload.target.clone(),
        });
    }

    /// A job found in the queue at startup: sent again to where its watch now uploads.
    fn resume(&mut self, config: &Config, mut job: Job) {
        let Some((watch, upload)) = config
            .watches
            .iter()
            .find(|w| w.name == job.watch)
            .and_then(|w| w.upload.as_ref().map(|u| (w, u)))
        else {
            tracing::warn!(run = %job.run.display(), watch = %job.watch, checkpoint = %job.checkpoint, "queued upload of {} in {} dropped: watch {} no longer uploads", job.checkpoint, job.run.display(), job.watch);
            if let Some(q) = &self.queue {
                let _ = job::remove(q, &job);
            }
            return;
        };
        let store = crate::upload::store::root_url(&upload.target);
        let prefix = upload.target.prefix(&watch.name, &watch.runs, &job.run);
        if prefix.as_deref() != Some(job.prefix.as_str()) || store != job.store {
            // `to` changed: the files go to the new place, all of them.
            job.store = store;
            job.prefix = prefix.unwrap_or_default();
            job.sent.clear();
        }
        if watch.dry_run {
            // A dry-run watch writes nothing, remote copies included; its checkpoints are
            // not deleted either.
            return;
        }
        tracing::info!(run = %job.run.display(), watch = %job.watch, checkpoint = %job.checkpoint, to = %job.destination(), "resuming upload of {} in {} to {}", job.checkpoint, job.run.display(), job.destination());
        self.submit(watch, job);
    }

    fn submit(&mut self, watch: &Watch, job: Job) {
        let (Some(uploader), Some(upload)) = (&self.uploader, &watch.upload) else {
            return;
        };
        let settings = self
            .settings
            .entry(watch.name.clone())
            .or_insert_with(|| settings(upload))
            .clone();
        self.states.insert(
            (job.run.clone(), job.checkpoint.clone()),
            State::Pending {
                completed_at: job.completed_at,
                watch: job.watch.clone(),
            },
        );
        uploader.send(Request::Upload {
            job,
            target: upload.target.clone(),
            settings,
        });
    }

    /// Holds each checkpoint of `plan` whose upload is wanted or under way and not
    /// committed; queues the ones not asked for yet.
    pub fn offload(&mut self, run: &Path, watch: &Watch, plan: &mut Plan) {
        let Some(upload) = &watch.upload else {
            return;
        };
        let mut pending: HashSet<String> = HashSet::new();
        for v in &plan.verdicts {
            if !v.is_complete() {
                continue;
            }
            let key = (run.to_owned(), v.name.clone());
            let completed = completed_secs(v);
            match self.states.get(&key) {
                Some(State::Committed { completed_at }) if Some(*completed_at) == completed => {
                    continue;
                }
                Some(State::Pending { completed_at, .. }) if Some(*completed_at) == completed => {
                    pending.insert(v.name.clone());
                    continue;
                }
                // Under way for an older save of this name: the new save replaces it.
                Some(State::Pending { .. } | State::Again) => {}
                _ if upload.which.wants(v) => {}
                _ => continue,
            }
            pending.insert(v.name.clone());
            match new_job(run, watch, upload, v) {
                Ok(job) => {
                    if let Some(q) = &self.queue {
                        if let Err(e) = job::save(q, &job) {
                            tracing::warn!(path = %q.display(), error = %e, "cannot queue the upload of {} in {} in {}: {e}; it is uploaded, but a restart before it is done forgets it", v.name, run.display(), q.display());
                        }
                    }
                    tracing::info!(run = %run.display(), watch = %watch.name, checkpoint = %v.name, to = %job.destination(), "uploading {} of {} to {}; kept locally until its copy is committed", v.name, run.display(), job.destination());
                    self.submit(watch, job);
                }
                Err(why) => {
                    if self.said.insert(key, why.clone()).as_ref() != Some(&why) {
                        tracing::warn!(run = %run.display(), watch = %watch.name, checkpoint = %v.name, "cannot upload {} in {}: {why}; kept", v.name, run.display());
                    }
                }
            }
        }
        hold_uploading(
            plan,
            &|name| pending.contains(name),
            &crate::upload::store::run_url(&upload.target, watch, run),
        );
    }

    /// An outcome from the uploader; returns the run to look at again when it changes what
    /// may be deleted there. After a commit, the run's `remote` retention is applied.
    pub fn reported(&mut self, report: Report, config: &Config) -> Option<PathBuf> {
        if let (Outcome::Committed { .. }, Some(uploader)) = (&report.outcome, &self.uploader) {
            let watch = config.watches.iter().find(|w| w.name == report.job.watch);
            if let Some((watch, upload, policy)) =
                watch.and_then(|w| Some((w, w.upload.as_ref()?, w.remote.as_ref()?)))
            {
                if let Some(prefix) =
                    upload
                        .target
                        .prefix(&watch.name, &watch.runs, &report.job.run)
                {
                    uploader.send(Request::Retain {
                        run: report.job.run.clone(),
                        watch: watch.name.clone(),
                        target: upload.target.clone(),
                        prefix,
                        policy: policy.clone(),
                    });
                }
            }
        }
        let Report { job, outcome } = report;
        let key = (job.run.clone(), job.checkpoint.clone());
        let current = matches!(self.states.get(&key), Some(State::Pending { completed_at, .. }) if *completed_at == job.completed_at);
        match outcome {
            Outcome::Committed {
                manifest,
                took,
                sent,
            } => {
                log_committed(&job, &manifest, took, Some(sent));
                self.said.remove(&key);
                if current {
                    self.states.insert(
                        key,
                        State::Committed {
                            completed_at: job.completed_at,
                        },
                    );
                    return Some(job.run);
                }
                None
            }
            Outcome::Failed {
                failure,
                retry_in,
                attempt,
                said_for_store,
            } => {
                let cause = failure.cause();
                if !said_for_store && self.said.insert(key, cause.clone()).as_ref() != Some(&cause)
                {
                    log_failed(&job, &failure, Some(retry_in));
                } else {
                    tracing::debug!(run = %job.run.display(), checkpoint = %job.checkpoint, attempt, "upload of {} in {} failed again (attempt {attempt}): {failure}; retrying in {}", job.checkpoint, job.run.display(), crate::duration::show(retry_in));
                }
                None
            }
            Outcome::Dropped { failure } => {
                tracing::info!(run = %job.run.display(), watch = %job.watch, checkpoint = %job.checkpoint, to = %job.destination(), "upload of {} in {} stopped: {failure}", job.checkpoint, job.run.display());
                self.said.remove(&key);
                if current {
                    if matches!(failure, Failure::Gone(_))
                        && !job.run.join(&job.checkpoint).exists()
                    {
                        self.states.remove(&key);
                    } else {
                        // Still there: held, and queued again as it is now by the next pass.
                        self.states.insert(key, State::Again);
                    }
                    return Some(job.run);
                }
                None
            }
        }
    }

    /// A new config: settings (rates) are taken afresh, and each watch that uploads is
    /// probed again.
    /// Uploads under way for a watch that no longer uploads are stopped, as at a restart,
    /// and said.
    pub fn reload(&mut self, config: &Config, reports: &mpsc::UnboundedSender<Report>) {
        self.settings.clear();
        let uploads = |name: &str| {
            config
                .watches
                .iter()
                .any(|w| w.name == name && w.upload.is_some())
        };
        let stopped: Vec<(Key, u64, String)> = self
            .states
            .iter()
            .filter_map(|(key, state)| match state {
                State::Pending {
                    completed_at,
                    watch,
                } if !uploads(watch) => Some((key.clone(), *completed_at, watch.clone())),
                _ => None,
            })
            .collect();
        for ((run, checkpoint), completed_at, watch) in stopped {
            tracing::warn!(run = %run.display(), watch = %watch, checkpoint = %checkpoint, "upload of {checkpoint} in {} stopped: watch {watch} no longer uploads, and the checkpoint is no longer held for it", run.display());
            if let Some(uploader) = &self.uploader {
                uploader.send(Request::Forget {
                    run: run.clone(),
                    checkpoint: checkpoint.clone(),
                });
            }
            if let Some(q) = &self.queue {
                let _ =
                    std::fs::remove_file(q.join(Job::file_name(&run, &checkpoint, completed_at)));
            }
            self.states.remove(&(run, checkpoint));
        }
        if self.uploader.is_none() && config.watches.iter().any(|w| w.upload.is_some()) {
            self.uploader = Some(Uploader::start(reports.clone(), self.queue.clone()));
        }
        for watch in config.watches.iter().filter(|w| w.upload.is_some()) {
            self.probe(watch);
        }
    }

    /// Forgets a run that is gone (its queued uploads end as `Gone` by themselves).
    pub fn forget_run(&mut self, run: &Path) {
        self.states.retain(|(r, _), _| r != run);
        self.said.retain(|(r, _), _| r != run);
    }
}
