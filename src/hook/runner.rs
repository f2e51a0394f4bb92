//! The daemon's hook runner: worker threads that run hook commands and hand each result back
//! to the daemon's loop through a channel. The daemon never waits for a hook: a
//! `before_delete` still running leaves its deletion for a later pass of that run, and every
//! other run goes on meanwhile. `before_delete` and `on_complete` have pools of their own, so
//! slow `on_complete` hooks (an evaluation) never delay a deletion's answer. Stopping the
//! runner kills the hooks still running.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use super::env::Event;
use super::process::{run_command, Finished};
use crate::checkpoint::Digest;

/// `before_delete` hooks that run at once (one per run at a time): a run's hook waits only
/// while this many other runs' hooks are running.
pub const BEFORE_DELETE_WORKERS: usize = 16;

/// `on_complete` hooks that run at once; more wait their turn.
pub const ON_COMPLETE_WORKERS: usize = 4;

/// One hook to run.
#[derive(Debug, Clone)]
pub struct Job {
    pub event: Event,
    pub run: PathBuf,
    pub watch: String,
    pub checkpoint: String,
    /// The checkpoint's fingerprint when the hook was asked for: a `before_delete` answer is
    /// about that content only.
    pub digest: Option<Digest>,
    /// The plan's reasons for deleting it (their bits), as the hook saw them.
    pub reasons: u32,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
}

/// A hook that ended.
#[derive(Debug)]
pub struct Done {
    pub job: Job,
    pub finished: Finished,
}

/// Two pools of worker threads.
pub struct Runner {
    before_delete: Option<mpsc::Sender<Job>>,
    on_complete: Option<mpsc::Sender<Job>>,
    stop: Arc<AtomicBool>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Runner {
    /// Results go to `done`; a result the daemon no longer receives is dropped.
    pub fn start(done: &tokio::sync::mpsc::UnboundedSender<Done>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        let before_delete = pool(
            "before-delete",
            BEFORE_DELETE_WORKERS,
            &stop,
            done,
            &mut workers,
        );
        let on_complete = pool(
            "on-complete",
            ON_COMPLETE_WORKERS,
            &stop,
            done,
            &mut workers,
        );
        Self {
            before_delete: Some(before_delete),
            on_complete: Some(on_complete),
            stop,
            workers,
        }
    }

    pub fn submit(&self, job: Job) {
        let queue = match job.event {
            Event::BeforeDelete => &self.before_delete,
            Event::Complete => &self.on_complete,
        };
        if let Some(queue) = queue {
            let _ = queue.send(job);
        }
    }
}

/// `count` threads taking jobs from one queue; returns the queue.
fn pool(
    name: &str,
    count: usize,
    stop: &Arc<AtomicBool>,
    done: &tokio::sync::mpsc::UnboundedSender<Done>,
    workers: &mut Vec<std::thread::JoinHandle<()>>,
) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..count {
        let (rx, stop, done) = (Arc::clone(&rx), Arc::clone(stop), done.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("ckptd-{name}-{i}"))
            .spawn(move || loop {
                // The lock is held only to take the next job, not while it runs.
                let next = rx.lock().map(|rx| rx.recv());
                let Ok(Ok(job)) = next else { return };
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let finished = run_command(&job.argv, &job.env, job.timeout, &|| {
                    stop.load(Ordering::Relaxed)
                });
                let _ = done.send(Done { job, finished });
            });
        match spawned {
            Ok(worker) => workers.push(worker),
            // Without workers, hooks wait: no before_delete answer, no deletion.
            Err(e) => {
                tracing::error!(error = %e, "cannot start a hook worker thread: {e}; its hooks wait for the others");
            }
        }
    }
    tx
}

/// How long stopping waits for the workers to kill their hooks.
const STOP_WAIT: Duration = Duration::from_secs(5);

impl Drop for Runner {
    /// Kills the hooks still running (each worker notices within a tick) and drops the
    /// queues. A worker still waiting after [`STOP_WAIT`] (a hook stuck in the kernel, on a
    /// hung mount) is left behind: ckptd's exit must not wait for it.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.before_delete = None;
        self.on_complete = None;
        let until = std::time::Instant::now() + STOP_WAIT;
        while self.workers.iter().any(|w| !w.is_finished()) && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        for worker in self
            .workers
            .drain(..)
            .filter(std::thread::JoinHandle::is_finished)
        {
            let _ = worker.join();
        }
    }
}
