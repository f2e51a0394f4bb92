//! What a caller of the pass engine decides: whether it acts, what it remembers between
//! passes, what it logs. The daemon's hooks remember every checkpoint across passes; the
//! one-shot commands' remember nothing but a first look (see `cli::pass`).

use std::collections::HashSet;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::checkpoint::{Checkpoint, Digest};
use crate::config::Watch;
use crate::execute::{Journal, Outcome};
use crate::plan::{Plan, Verdict};
use crate::storage_clock::RunClock;

/// What settling found.
#[derive(Debug, Default)]
pub struct Settled {
    /// When a checkpoint being written may have settled: look again then.
    pub recheck: Vec<Instant>,
    /// Plan, but delete nothing in this pass (the caller looks again first).
    pub hold: bool,
}

/// How long a pass may delete, and in what order.
#[derive(Debug, Default)]
pub struct Limits {
    /// Stop before the next deletion past this instant.
    pub deadline: Option<Instant>,
    /// Whether the first deletion is made even past the deadline.
    pub first_is_free: bool,
    /// Checkpoints to try after all others (their deletion failed before).
    pub try_last: HashSet<String>,
    /// When set, only these may be deleted (what a user confirmed at `prune`'s prompt).
    pub only: Option<HashSet<String>>,
}

/// The caller's part of a pass. Journal events are the deletions as they happen.
pub trait Hooks: Journal {
    /// Whether this pass may change the run: take its lock, empty its trash, delete. A
    /// watch's `dry_run` makes a pass read-only whatever this says.
    fn acting(&self) -> bool;

    /// The run's `.ckptd.toml` is valid (or absent).
    fn overrides_valid(&mut self, _run: &Path) {}

    /// The run's `.ckptd.toml` is invalid: planned under the watch's own policy, nothing is
    /// deleted.
    fn overrides_invalid(&mut self, run: &Path, watch: &Watch, message: &str) {
        log_overrides_invalid(run, watch, message);
    }

    /// Whether an acting pass takes the run lock for `watch`: not for a dry run (which writes
    /// nothing), except in the daemon, which serialises every pass with other ckptd processes.
    fn locks(&self, watch: &Watch) -> bool {
        !watch.dry_run
    }

    /// Another process holds the run lock: the pass stops before planning.
    fn busy(&mut self, _run: &Path) {}

    /// The run lock cannot be taken: the pass stops before planning.
    fn lock_failed(&mut self, run: &Path, error: &io::Error);

    /// About to scan, on `clock`; `locked` when the pass holds the run lock.
    fn looking(&mut self, _run: &Path, _watch: &Watch, _clock: RunClock, _locked: bool) {}

    /// The run could not be scanned (it exists): nothing is planned or deleted there.
    fn unscanned(&mut self, run: &Path, watch: &Watch, error: &io::Error) {
        tracing::error!(run = %run.display(), watch = %watch.name, error = %error, "cannot scan run directory {}: {error}{}; nothing deleted there", run.display(), crate::io_hint::hint(error));
    }

    /// The fingerprint at which `name` was last found complete with no writer, if known.
    fn confirmed(&self, _name: &str) -> Option<Digest> {
        None
    }

    /// Settles what was scanned: may set each checkpoint's `stable_since`. `deleting`: the
    /// pass holds the lock and may delete.
    fn settle(
        &mut self,
        _run: &Path,
        _watch: &Watch,
        _checkpoints: &mut [Checkpoint],
        _clock: RunClock,
        _deleting: bool,
    ) -> Settled {
        Settled::default()
    }

    /// The plan is made, before pressure: checkpoints the caller knows a `before_delete`
    /// hook refused are kept in it (the daemon; one-shot commands ask at deletion time).
    fn standing_vetoes(&mut self, _run: &Path, _watch: &Watch, _plan: &mut Plan) {}

    /// The plan is made, before pressure: each checkpoint the watch's `upload` wants whose
    /// copy is not known to be committed is kept (reason `uploading`); the caller uploads
    /// it (the daemon in the background, `prune` inline). By default every such checkpoint
    /// is kept: a caller that does not look at uploads never deletes ahead of one.
    fn offload(&mut self, _run: &Path, watch: &Watch, plan: &mut Plan) {
        if let Some(upload) = &watch.upload {
            crate::offload::hold_wanted(plan, &upload.which, &upload.to);
        }
    }

    /// Remote retention of the run's uploaded copies (`remote`): the one-shot commands list
    /// and plan them (`prune` also deletes); the daemon applies it after each upload instead.
    fn remote(&mut self, _run: &Path, _watch: &Watch) -> Option<crate::upload::remote::RemotePlan> {
        None
    }

    /// The plan is made: log it. Returns when to look again, if a decision may change
    /// without any file event.
    fn planned(
        &mut self,
        run: &Path,
        watch: &Watch,
        plan: &Plan,
        clock: RunClock,
    ) -> Option<Instant>;

    /// Pressure decisions made across the runs of a filesystem that concern `run`; the pass
    /// applies the ones its fresh plan still allows.
    fn pressure_orders(&mut self, _run: &Path) -> Vec<crate::pressure::Order> {
        Vec::new()
    }

    /// The run's `max_bytes` cannot be met, even after every deletion pressure may make.
    fn budget_unmet(&mut self, run: &Path, watch: &Watch, unmet: &crate::pressure::Unmet) {
        log_budget_unmet(run, watch, unmet);
    }

    /// How long deletions in `run` may go on, given how long looking took, and which.
    fn limits(&self, _run: &Path, _looked: Duration) -> Limits {
        Limits {
            first_is_free: true,
            ..Limits::default()
        }
    }

    /// A dry run (or a read-only pass) would delete `v`.
    fn would_delete(&mut self, _run: &Path, _watch: &Watch, _v: &Verdict) {}

    /// A dry run (or a read-only pass) would slim `v`.
    fn would_slim(&mut self, _run: &Path, _watch: &Watch, _v: &Verdict) {}

    /// The deletions are done (or said). Returns when to look again, if ever.
    fn acted(
        &mut self,
        _run: &Path,
        _watch: &Watch,
        _plan: &Plan,
        _outcome: &Outcome,
    ) -> Option<Instant> {
        None
    }
}

/// The ERROR for an invalid `.ckptd.toml`.
pub fn log_overrides_invalid(run: &Path, watch: &Watch, message: &str) {
    tracing::error!(run = %run.display(), watch = %watch.name, error = %message, "run overrides invalid: nothing is deleted in {} until its .ckptd.toml is fixed (planned under watch {}'s policy meanwhile): {message}", run.display(), watch.name);
}

/// The ERROR for a run over its `max_bytes` that pressure cannot bring under it.
pub fn log_budget_unmet(run: &Path, watch: &Watch, unmet: &crate::pressure::Unmet) {
    let text = crate::disk::unmet_text(unmet, &[run.to_owned()]);
    let max = crate::report::human_bytes(unmet.missing.want_bytes);
    tracing::error!(run = %run.display(), watch = %watch.name, max_bytes = unmet.missing.want_bytes, missing_bytes = unmet.missing.bytes, protected_bytes = unmet.protected_bytes, "cannot bring {} under its max_bytes {max}: {text}", run.display());
}
