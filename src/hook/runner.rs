//! The daemon's hook runner: a few worker threads that run hook commands and hand each result
//! back to the daemon's loop through a channel. The daemon never waits for a hook: a
//! `before_delete` still running leaves its deletion for a later pass of that run, and every
//! other run goes on meanwhile. Stopping the runner kills the hooks still running.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use super::env::Event;
use super::process::{run_command, Finished};
use crate::checkpoint::Digest;

/// Hooks that run at once; more wait their turn.
pub const WORKERS: usize = 4;

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

/// Runs jobs on [`WORKERS`] threads.
pub struct Runner {
    jobs: Option<mpsc::Sender<Job>>,
    stop: Arc<AtomicBool>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Runner {
    /// Results go to `done`; a result the daemon no longer receives is dropped.
    pub fn start(done: &tokio::sync::mpsc::UnboundedSender<Done>) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..WORKERS)
            .filter_map(|i| {
                let (rx, stop, done) = (Arc::clone(&rx), Arc::clone(&stop), done.clone());
                std::thread::Builder::new()
                    .name(format!("ckptd-hook-{i}"))
                    .spawn(move || loop {
                        // The lock is held only to take the next job, not while it runs.
                        let next = rx.lock().map(|rx| rx.recv());
                        let Ok(Ok(job)) = next else { return };
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let finished = run_command(&job.argv, &job.env, job.timeout, &stop);
                        let _ = done.send(Done { job, finished });
                    })
                    // Without workers, hooks wait: no before_delete answer, no deletion.
                    .inspect_err(|e| tracing::error!(error = %e, "cannot start a hook worker thread: {e}; hooks wait for the others"))
                    .ok()
            })
            .collect();
        Self {
            jobs: Some(tx),
            stop,
            workers,
        }
    }

    pub fn submit(&self, job: Job) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
    }
}

impl Drop for Runner {
    /// Kills the hooks still running (each notices within a tick) and drops the queue.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}
