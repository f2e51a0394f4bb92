//! The uploader: one thread with its own multi-threaded async runtime, so uploads never hold
//! up a pass, a hook or another run. The daemon sends it jobs; it uploads a few checkpoints at
//! once, retries a failed one with growing waits (forever: the checkpoint stays held locally
//! until its copy is committed, and the log says why), and reports every outcome back.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::ObjectStore;
use tokio::sync::{mpsc, Semaphore};

use super::job::{self, Job};
use super::transfer::{self, Failure, Settings};
use crate::offload::{Manifest, Target};

/// Checkpoints uploaded at once (each sends up to its watch's `concurrency` files).
const CHECKPOINTS_AT_ONCE: usize = 2;

/// The first wait after a failed upload, doubled after each further failure up to `MAX_WAIT`.
const FIRST_WAIT: Duration = Duration::from_secs(5);
const MAX_WAIT: Duration = Duration::from_mins(5);

/// What the daemon asks.
pub enum Request {
    /// Upload (or resume) `job` to the store `target` names.
    Upload {
        job: Job,
        target: Target,
        settings: Settings,
    },
    /// Look at the store `target` names once, and say at once if it cannot be reached.
    Probe {
        watch: String,
        to: String,
        target: Target,
    },
    /// Apply remote retention to one run's copies (after an upload of it committed).
    Retain {
        run: PathBuf,
        watch: String,
        target: Target,
        prefix: String,
        policy: crate::policy::Policy,
    },
    /// Stop uploading `run`'s `checkpoint` (a new save replaced it, or upload was turned off).
    Forget { run: PathBuf, checkpoint: String },
}

/// What the uploader tells the daemon.
#[derive(Debug)]
pub struct Report {
    /// The job as it stands (files sent so far).
    pub job: Job,
    pub outcome: Outcome,
}

#[derive(Debug)]
pub enum Outcome {
    /// The manifest is written: the local copy may go whenever the rules say.
    Committed {
        manifest: Manifest,
        /// Bytes sent in this attempt (0 when the copy was already committed).
        sent: u64,
        took: Duration,
    },
    /// Failed; tried again after `retry_in`. `attempt` counts from 1.
    Failed {
        failure: Failure,
        attempt: u32,
        retry_in: Duration,
        /// The store's trouble (credentials, no answer) was already said for another
        /// checkpoint or at startup: one clear line, not one per checkpoint.
        said_for_store: bool,
    },
    /// Given up for good: the checkpoint is gone, or was written again (a new save, which is
    /// uploaded as such).
    Dropped { failure: Failure },
}

/// The handle the daemon keeps.
pub struct Uploader {
    requests: mpsc::UnboundedSender<Request>,
}

impl Uploader {
    /// Starts the thread; reports arrive on `reports`. `queue`: where jobs are saved (none:
    /// nothing survives a restart, said by the caller).
    pub fn start(reports: mpsc::UnboundedSender<Report>, queue: Option<PathBuf>) -> Self {
        let (requests, inbox) = mpsc::unbounded_channel();
        let spawned = std::thread::Builder::new()
            .name("ckptd-upload".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("ckptd-upload")
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start the uploader: {e}; checkpoints to upload are kept");
                        return;
                    }
                };
                runtime.block_on(serve(inbox, reports, queue));
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the uploader thread: {e}; checkpoints to upload are kept");
        }
        Self { requests }
    }

    pub fn send(&self, request: Request) {
        // The thread only ends when the daemon does; a lost request leaves its checkpoint held.
        let _ = self.requests.send(request);
    }
}

type Key = (PathBuf, String);

/// Each store whose trouble (credentials refused, no answer) was said, until it works again.
type Said = Arc<std::sync::Mutex<HashMap<String, transfer::StoreTrouble>>>;

/// Records that `store`'s `failure` is said; returns whether it already was.
fn say_once(said: &Said, store: &str, failure: &Failure) -> bool {
    let Failure::Store { kind, .. } = failure else {
        return false;
    };
    if *kind == transfer::StoreTrouble::Other {
        return false;
    }
    let mut said = said
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    said.insert(store.to_owned(), *kind) == Some(*kind)
}

async fn serve(
    mut inbox: mpsc::UnboundedReceiver<Request>,
    reports: mpsc::UnboundedSender<Report>,
    queue: Option<PathBuf>,
) {
    let slots = Arc::new(Semaphore::new(CHECKPOINTS_AT_ONCE));
    let mut running: HashMap<Key, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut stores: HashMap<String, Arc<dyn ObjectStore>> = HashMap::new();
    let said: Said = Arc::default();
    // Each store's first look: uploads to it wait for it, so that what is wrong with the
    // store is said once, at startup, by the look (not first by some checkpoint's upload).
    let mut looked: HashMap<String, tokio::sync::watch::Receiver<bool>> = HashMap::new();
    while let Some(request) = inbox.recv().await {
        running.retain(|_, task| !task.is_finished());
        match request {
            Request::Probe { watch, to, target } => {
                let store = match stores.get(&super::store::root_url(&target)) {
                    Some(s) => Ok(Arc::clone(s)),
                    None => super::store::open(&target).inspect(|s| {
                        stores.insert(super::store::root_url(&target), Arc::clone(s));
                    }),
                };
                let (done, waiting) = tokio::sync::watch::channel(false);
                looked.insert(super::store::root_url(&target), waiting);
                let said = Arc::clone(&said);
                tokio::spawn(async move {
                    probe(watch, to, target, store, said).await;
                    let _ = done.send(true);
                });
            }
            Request::Retain {
                run,
                watch,
                target,
                prefix,
                policy,
            } => {
                let root = super::store::root_url(&target);
                let store = match stores.get(&root) {
                    Some(s) => Arc::clone(s),
                    None => match super::store::open(&target) {
                        Ok(s) => {
                            stores.insert(root.clone(), Arc::clone(&s));
                            s
                        }
                        Err(_) => continue,
                    },
                };
                let url = if prefix.is_empty() {
                    root
                } else {
                    format!("{root}/{prefix}")
                };
                // One retention at a time per run would be tidier; two at once delete the
                // same copies, and a copy already gone is not an error.
                tokio::spawn(async move {
                    let done =
                        super::remote::retain(&*store, &run, &watch, &url, &prefix, &policy, true)
                            .await;
                    if let Some(e) = done.error {
                        tracing::warn!(run = %run.display(), watch = %watch, to = %url, error = %e, "cannot list the remote copies of {} in {url}: {e}; remote retention tried again after the next upload", run.display());
                    }
                });
            }
            Request::Forget { run, checkpoint } => {
                if let Some(task) = running.remove(&(run, checkpoint)) {
                    task.abort();
                }
            }
            Request::Upload {
                job,
                target,
                settings,
            } => {
                let key = (job.run.clone(), job.checkpoint.clone());
                if let Some(old) = running.remove(&key) {
                    old.abort();
                }
                let store = match stores.get(&job.store) {
                    Some(s) => Ok(Arc::clone(s)),
                    None => super::store::open(&target).inspect(|s| {
                        stores.insert(job.store.clone(), Arc::clone(s));
                    }),
                };
                let look = looked.get(&job.store).cloned();
                let shared = Shared {
                    slots: Arc::clone(&slots),
                    reports: reports.clone(),
                    queue: queue.clone(),
                    said: Arc::clone(&said),
                };
                let task = tokio::spawn(upload_until_done(look, job, store, settings, shared));
                running.insert(key, task);
            }
        }
    }
    for task in running.values() {
        task.abort();
    }
}

/// How long the first look at a store may take before it is said to be unreachable.
const PROBE_WITHIN: Duration = Duration::from_secs(20);

/// The first look at a watch's store: an ERROR now when it cannot be reached or refuses the
/// credentials, rather than a WARN at the first checkpoint's upload.
async fn probe(
    watch: String,
    to: String,
    target: Target,
    store: Result<Arc<dyn ObjectStore>, String>,
    said: Said,
) {
    let store = match store {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(watch = %watch, to = %to, error = %e, "watch {watch} uploads to {to}, but the store cannot be opened: {e}; its checkpoints to upload are kept locally");
            return;
        }
    };
    let prefix = object_store::path::Path::from(target.fixed_prefix());
    let looked = tokio::time::timeout(PROBE_WITHIN, store.list_with_delimiter(Some(&prefix))).await;
    let failure = match looked {
        Ok(Ok(_)) => {
            said.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&super::store::root_url(&target));
            tracing::info!(watch = %watch, to = %to, "watch {watch} uploads to {to}: the store answers");
            return;
        }
        Err(_) => Failure::Store {
            message: format!("no answer within {}", crate::duration::show(PROBE_WITHIN)),
            kind: transfer::StoreTrouble::Unreachable,
        },
        Ok(Err(e)) => transfer::Failure::from_store(&e),
    };
    if say_once(&said, &super::store::root_url(&target), &failure) {
        // An upload said it first.
        return;
    }
    let help = match &failure {
        Failure::Store {
            kind: transfer::StoreTrouble::Unreachable,
            ..
        } => "the network is unreachable from ckptd: the shipped unit denies it (IPAddressDeny=any, no AF_INET); allow it with the drop-in systemd/ckptd.service.d/upload.conf.example",
        Failure::Store {
            kind: transfer::StoreTrouble::Credentials,
            ..
        } => "the credentials are missing or refused: ckptd reads them from the environment (AWS_*, GOOGLE_*, AZURE_*) and instance metadata",
        _ => "the store refused the first look",
    };
    tracing::error!(watch = %watch, to = %to, error = %failure, "watch {watch} uploads to {to}, but {help}: {failure}; its checkpoints to upload are kept locally until it works");
}

/// Uploads `job`, retrying until it commits or is dropped.
/// What every upload task shares.
struct Shared {
    /// Checkpoints uploaded at once.
    slots: Arc<Semaphore>,
    reports: mpsc::UnboundedSender<Report>,
    /// Where jobs are saved.
    queue: Option<PathBuf>,
    said: Said,
}

async fn upload_until_done(
    look: Option<tokio::sync::watch::Receiver<bool>>,
    mut job: Job,
    store: Result<Arc<dyn ObjectStore>, String>,
    settings: Settings,
    shared: Shared,
) {
    let Shared {
        slots,
        reports,
        queue,
        said,
    } = shared;
    if let Some(mut look) = look {
        let _ = tokio::time::timeout(PROBE_WITHIN * 2, look.wait_for(|done| *done)).await;
    }
    let mut attempt = 0u32;
    let mut wait = FIRST_WAIT;
    loop {
        attempt += 1;
        let started = Instant::now();
        let result = match &store {
            Err(e) => Err(Failure::Store {
                message: format!("cannot open the store: {e}"),
                kind: transfer::StoreTrouble::Other,
            }),
            Ok(store) => {
                let Ok(_slot) = slots.acquire().await else {
                    return;
                };
                let before: u64 = job.sent.iter().map(|s| s.bytes).sum();
                let mut save = |j: &Job| {
                    if let Some(dir) = &queue {
                        if let Err(e) = job::save(dir, j) {
                            tracing::warn!(path = %dir.display(), error = %e, "cannot record upload progress in {}: {e}; a restart sends those files again", dir.display());
                        }
                    }
                };
                transfer::upload(Arc::clone(store), &mut job, &settings, &mut save)
                    .await
                    .map(|m| {
                        let after: u64 = job.sent.iter().map(|s| s.bytes).sum();
                        (m, after.saturating_sub(before))
                    })
            }
        };
        let outcome = match result {
            Ok((manifest, sent)) => {
                said.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&job.store);
                if let Some(dir) = &queue {
                    if let Err(e) = job::remove(dir, &job) {
                        tracing::warn!(path = %dir.display(), error = %e, "cannot remove a finished upload from {}: {e}", dir.display());
                    }
                }
                Outcome::Committed {
                    manifest,
                    sent,
                    took: started.elapsed(),
                }
            }
            Err(failure @ (Failure::Gone(_) | Failure::Changed(_))) => {
                if let Some(dir) = &queue {
                    let _ = job::remove(dir, &job);
                }
                Outcome::Dropped { failure }
            }
            Err(failure) => Outcome::Failed {
                said_for_store: say_once(&said, &job.store, &failure),
                failure,
                attempt,
                retry_in: wait,
            },
        };
        let again = matches!(outcome, Outcome::Failed { .. });
        let report = Report {
            job: job.clone(),
            outcome,
        };
        if reports.send(report).is_err() || !again {
            return;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_WAIT);
    }
}
