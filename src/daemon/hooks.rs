//! The daemon's part of a pass (see `pass`): it acts, remembers every checkpoint between
//! passes (its settle tracker, what was said about it), records deletions in the ledger, tells
//! the watcher which removals are its own, and bounds the time a pass spends deleting.

use std::collections::HashSet;
use std::io;
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use super::events::OwnRemovals;
use super::hook_answers::{Clock, Next, Subject};
use super::ledger::Ledger;
use super::memory::{RunMemory, Said, Seen};
use super::settle::{Settle, Tracker};
use crate::checkpoint::{Checkpoint, Digest, Fingerprint, Kind, Slim, Writers};
use crate::config::Watch;
use crate::execute::{Approval, Journal, Outcome};
use crate::hook::runner::Job;
use crate::hook::Event;
use crate::pass::{Hooks, Limits, Settled};
use crate::plan::{Decision, Plan, Reason, Verdict};
use crate::storage_clock::RunClock;

/// How long a pass may spend deleting: at least `at_least`, or as long as its look took (so
/// looking again costs at most half of working off a backlog), but never past `not_after`.
/// After READY the first deletion is always made, so a backlog always shrinks; before READY
/// (`not_after` set) nothing is tried past the deadline.
#[derive(Debug, Clone, Copy)]
pub struct Slice {
    pub at_least: Duration,
    pub not_after: Option<Instant>,
}

/// The daemon's hooks for one pass over one run.
pub struct DaemonHooks<'a> {
    pub memory: &'a mut RunMemory,
    pub ledger: &'a mut Ledger,
    pub own_removals: &'a OwnRemovals,
    pub slice: Slice,
    /// Set by the pass: nothing was deleted, and every deletion tried had failed before, so
    /// the run may wait instead of coming back at once.
    pub only_known_failures: bool,
    /// Pressure decisions for this run, from the last check of its filesystem.
    pub orders: Vec<crate::pressure::Order>,
    /// Runs `on_complete` and `before_delete` in the background.
    pub hook_runner: &'a crate::hook::runner::Runner,
    /// How long a `before_delete` veto stands before the checkpoint is asked about again.
    pub hook_retry: Duration,
    /// When the first veto standing in this pass lapses: the run is looked at again then.
    pub veto_lapses: Option<std::time::Instant>,
    /// Uploads: what is held for them, and the queue.
    pub uploads: &'a mut super::uploads::DaemonUploads,
}

impl DaemonHooks<'_> {
    /// Queues `event`'s hook for `v`.
    fn submit(&self, event: Event, argv: &[String], run: &Path, watch: &Watch, v: &Verdict) {
        self.hook_runner.submit(Job {
            event,
            run: run.to_owned(),
            watch: watch.name.clone(),
            checkpoint: v.name.clone(),
            digest: v.checkpoint.fingerprint.map(|f| f.digest()),
            reasons: reason_bits(&v.reasons),
            argv: argv.to_vec(),
            env: crate::hook::hook_env(event, run, watch, v),
            timeout: watch.hooks.timeout,
        });
    }
}

impl Journal for DaemonHooks<'_> {
    fn deleting(&mut self, run: &Path, watch: &str, v: &Verdict) {
        self.ledger.deleting(run, watch, v);
    }
    /// Right before the rename: the watcher then knows the removal is ckptd's own.
    fn moving(&mut self, run: &Path, v: &Verdict) {
        self.own_removals.expect(run.join(&v.name));
    }
    fn deleted(&mut self, run: &Path, watch: &str, v: &Verdict) {
        self.ledger.deleted(run, watch, v);
        self.memory.hook_answers.forget(&v.name);
    }
    /// The hook runs in the background: its answer brings the run back for another pass.
    fn approve(&mut self, run: &Path, watch: &Watch, v: &Verdict) -> Approval {
        let Some(argv) = &watch.hooks.before_delete else {
            return Approval::Approved;
        };
        let subject = Subject {
            digest: v.checkpoint.fingerprint.map(|f| f.digest()),
            argv: argv.clone(),
            reasons: reason_bits(&v.reasons),
        };
        let clock = Clock {
            now: std::time::Instant::now(),
            retry: self.hook_retry,
            timeout: watch.hooks.timeout,
        };
        match self.memory.hook_answers.next(&v.name, &subject, clock) {
            Next::Approved => Approval::Approved,
            Next::Vetoed { why, first } => Approval::Vetoed { why, first },
            Next::Wait => Approval::Pending,
            Next::Ask => {
                self.submit(Event::BeforeDelete, argv, run, watch, v);
                self.memory.hook_answers.asked(&v.name, subject, clock.now);
                Approval::Pending
            }
        }
    }
    fn not_deleted(&mut self, run: &Path, watch: &str, v: &Verdict, error: &str, in_trash: bool) {
        self.ledger.not_deleted(run, watch, v, error, in_trash);
    }
    fn trash_removed(&mut self, run: &Path, path: &Path) {
        self.ledger.trash_removed(run, path);
    }
    fn sync(&mut self) {
        self.ledger.sync();
    }
    fn slimming(&mut self, run: &Path, watch: &str, v: &Verdict) {
        self.ledger.slimming(run, watch, v);
    }
    fn slimmed(
        &mut self,
        run: &Path,
        watch: &str,
        v: &Verdict,
        bytes: u64,
        after: Option<Fingerprint>,
    ) {
        self.ledger.slimmed(run, watch, v, bytes, after);
        self.slim_finished(run, &v.name, after);
    }
    fn not_slimmed(&mut self, run: &Path, watch: &str, v: &Verdict, error: &str) {
        self.ledger.not_slimmed(run, watch, v, error);
    }
    /// The change is ckptd's own: the new fingerprint stands for the one confirmed, so the
    /// checkpoint neither settles again nor has its completion logged again.
    fn slim_finished(&mut self, _run: &Path, name: &str, after: Option<Fingerprint>) {
        if let (Some(seen), Some(after)) = (self.memory.get_mut(name), after) {
            seen.tracker.adopt(after);
        }
    }
}

impl Hooks for DaemonHooks<'_> {
    fn acting(&self) -> bool {
        true
    }

    fn pressure_orders(&mut self, _run: &Path) -> Vec<crate::pressure::Order> {
        std::mem::take(&mut self.orders)
    }

    /// Once an hour per run, not at every pass.
    fn budget_unmet(&mut self, run: &Path, watch: &Watch, unmet: &crate::pressure::Unmet) {
        let now = Instant::now();
        if self
            .memory
            .budget_error_at
            .is_none_or(|at| now >= at + Duration::from_hours(1))
        {
            crate::pass::log_budget_unmet(run, watch, unmet);
            self.memory.budget_error_at = Some(now);
        }
    }

    fn overrides_valid(&mut self, _run: &Path) {
        self.memory.overrides_error = None;
    }

    /// Once per change of the message, not at every pass.
    fn overrides_invalid(&mut self, run: &Path, watch: &Watch, message: &str) {
        if self.memory.overrides_error.as_deref() != Some(message) {
            crate::pass::log_overrides_invalid(run, watch, message);
            self.memory.overrides_error = Some(message.to_owned());
        }
    }

    /// Dry runs too: the lock file is the storage clock's probe, which settling needs, and
    /// passes stay serialised with other ckptd processes.
    fn locks(&self, _watch: &Watch) -> bool {
        true
    }

    fn busy(&mut self, run: &Path) {
        tracing::debug!(run = %run.display(), "another ckptd holds the run lock: pass skipped");
    }

    /// Once per run: a read-only mount or a filesystem without flock stays so.
    fn lock_failed(&mut self, run: &Path, e: &io::Error) {
        if self.memory.lock_error_logged {
            tracing::debug!(run = %run.display(), error = %e, "cannot take the run lock: pass skipped");
        } else {
            tracing::error!(run = %run.display(), error = %e, "cannot take the run lock of {}: {e}{}; this run is left alone until it can be taken", run.display(), crate::io_hint::hint(e));
            self.memory.lock_error_logged = true;
        }
    }

    /// Once until it can be scanned again: a pass comes at every event and poll.
    fn unscanned(&mut self, run: &Path, watch: &Watch, e: &io::Error) {
        if self.memory.scan_error_logged {
            tracing::debug!(run = %run.display(), error = %e, "cannot scan run directory: pass skipped");
        } else {
            tracing::error!(run = %run.display(), watch = %watch.name, error = %e, "cannot scan run directory {}: {e}{}; nothing deleted there until it can be", run.display(), crate::io_hint::hint(e));
            self.memory.scan_error_logged = true;
        }
    }

    fn looking(&mut self, run: &Path, watch: &Watch, clock: RunClock, locked: bool) {
        if locked {
            self.memory.lock_error_logged = false;
            self.warn_unknown_clock(run, watch, clock);
        }
        // Taken before scanning (after the lock file exists): a change during the pass makes
        // the next rescan look again.
        self.memory.dir_stamp = super::memory::dir_stamp(run);
    }

    fn confirmed(&self, name: &str) -> Option<Digest> {
        self.memory.get(name).and_then(|s| s.tracker.confirmed())
    }

    /// The trackers know what a one-shot scan cannot: a change that kept old mtimes, and on an
    /// unknown storage clock, how long we have seen it unchanged.
    fn settle(
        &mut self,
        _run: &Path,
        watch: &Watch,
        checkpoints: &mut [Checkpoint],
        clock: RunClock,
        _deleting: bool,
    ) -> Settled {
        let now = Instant::now();
        let present: HashSet<&str> = checkpoints.iter().map(|c| c.name.as_str()).collect();
        self.memory.retain(&present);
        let mut settled = Settled::default();
        let mut new = Vec::new();
        for c in checkpoints.iter_mut() {
            let Some(fingerprint) = c.fingerprint else {
                continue;
            };
            let tracker = if let Some(seen) = self.memory.get_mut(&c.name) {
                seen.tracker.observe(fingerprint, now, clock);
                &mut seen.tracker
            } else {
                let tracker = Tracker::new(fingerprint, now, clock);
                new.push((c.name.as_str().into(), Seen::new(tracker)));
                &mut new.last_mut().expect("just pushed").1.tracker
            };
            if let Slim::Slimmed { completed_at, .. } = c.slim {
                // Slimming moved the directory's mtime: its record dates it.
                tracker.date(completed_at, clock);
            }
            c.stable_since = Some(tracker.stable_since(now, clock));
            if let Settle::Writing { recheck_at } = tracker.state(watch.policy.settle, now, clock) {
                settled.recheck.push(recheck_at.into_std());
            }
        }
        self.memory.insert_new(new);
        settled
    }

    /// Checkpoints to upload whose copy is not committed are kept (`uploading`) and queued;
    /// see `uploads`.
    fn offload(&mut self, run: &Path, watch: &Watch, plan: &mut Plan) {
        // A dry-run watch writes nothing, remote copies included; what it would upload is
        // still shown as held.
        if watch.dry_run {
            if let Some(upload) = &watch.upload {
                crate::offload::hold_wanted(plan, &upload.which, &upload.to);
            }
            return;
        }
        self.uploads.offload(run, watch, plan);
    }

    /// Checkpoints whose `before_delete` veto stands are kept (`vetoed`) before pressure
    /// looks at the plan: pressure then turns to others instead of ordering the same refused
    /// deletion again. It may still slim them (the hook is about deletions), and a slim
    /// decision of the rules stands.
    fn standing_vetoes(&mut self, run: &Path, watch: &Watch, plan: &mut Plan) {
        let Some(argv) = &watch.hooks.before_delete else {
            return;
        };
        let now = std::time::Instant::now();
        for v in &mut plan.verdicts {
            let digest = v.checkpoint.fingerprint.map(|f| f.digest());
            let Some(veto) = self
                .memory
                .hook_answers
                .standing_veto(&v.name, digest, argv, now)
            else {
                continue;
            };
            if veto.first {
                crate::execute::log_veto(run, watch, v, &veto.why);
            }
            // Asked again when it lapses, whether or not anything else happens in the run.
            self.veto_lapses = Some(self.veto_lapses.map_or(veto.until, |t| t.min(veto.until)));
            let why = veto.why;
            if v.decision == Decision::Delete {
                v.decision = Decision::Keep;
                v.reasons
                    .retain(|r| *r != Reason::Unkept && *r != Reason::Pressure);
                v.detail = format!(
                    "would be deleted ({}), but before_delete said no: {why}",
                    v.detail
                );
            }
            v.reasons.push(Reason::Vetoed);
            v.reasons.sort_unstable();
            v.reasons.dedup();
        }
    }

    fn planned(
        &mut self,
        run: &Path,
        watch: &Watch,
        plan: &Plan,
        clock: RunClock,
    ) -> Option<std::time::Instant> {
        self.memory.scan_error_logged = false;
        remember_confirmed(run, &watch.name, self.memory, &plan.verdicts);
        let completed = super::changes::log(run, watch, self.memory, self.ledger, plan, clock.now);
        // A dry run runs no hook.
        if let (Some(argv), false) = (&watch.hooks.on_complete, watch.dry_run) {
            for v in completed {
                self.submit(Event::Complete, argv, run, watch, v);
            }
        }
        // An answer about a checkpoint protected since (pinned, pointed at, the newest) is
        // dropped: if it comes back, it is asked again. One the rules keep now is not: a
        // pressure order may delete it at another pass than the one that asked.
        self.memory.hook_answers.retain(|name| {
            plan.verdict(name)
                .is_some_and(|v| !v.reasons.iter().any(|r| Reason::PROTECTIONS.contains(r)))
        });
        super::changes::pending_deadlines(watch, &plan.verdicts, Instant::now(), clock.now)
            .into_iter()
            .map(Instant::into_std)
            .chain(self.veto_lapses)
            .min()
    }

    fn limits(&self, _run: &Path, looked: Duration) -> Limits {
        let end = Instant::now() + self.slice.at_least.max(looked);
        let failed_before = self.memory.names_with(Said::Failed);
        Limits {
            deadline: Some(self.slice.not_after.map_or(end, |n| n.min(end)).into_std()),
            // Before READY the deadline is hard: past it, nothing more is tried.
            first_is_free: self.slice.not_after.is_none(),
            try_last: failed_before,
            only: None,
        }
    }

    /// Said once per checkpoint, not at every pass.
    fn would_slim(&mut self, run: &Path, watch: &Watch, v: &Verdict) {
        if self
            .memory
            .get_mut(&v.name)
            .is_none_or(|seen| seen.set(Said::WouldSlim))
        {
            let would = crate::execute::slim::would_slim(v);
            crate::execute::slim::log_slim(run, watch, v, &would, "dry run: would slim");
        }
    }

    /// Said once per checkpoint, not at every pass.
    fn would_delete(&mut self, run: &Path, watch: &Watch, v: &Verdict) {
        if self
            .memory
            .get_mut(&v.name)
            .is_none_or(|seen| seen.set(Said::WouldDelete))
        {
            crate::execute::log_deletion(run, watch, v, "dry run: would delete checkpoint");
        }
    }

    fn acted(
        &mut self,
        run: &Path,
        watch: &Watch,
        plan: &Plan,
        outcome: &Outcome,
    ) -> Option<std::time::Instant> {
        // Only failures already known before this pass: the run may then wait instead of
        // coming back at once (a first failure is tried last next time, behind the others).
        self.only_known_failures = outcome.deleted.is_empty()
            && outcome.failed() > 0
            && outcome
                .failed_names()
                .all(|name| self.memory.get(name).is_some_and(|s| s.has(Said::Failed)));
        for name in outcome.failed_names() {
            if let Some(seen) = self.memory.get_mut(name) {
                seen.set(Said::Failed);
            }
        }
        if !outcome.deleted.is_empty() || !outcome.slimmed.is_empty() {
            self.ledger.save();
        }
        self.memory.watched_dirs = mark_kept_directories(self.memory, &plan.verdicts);
        // A log that only adds metrics by name to the lines (nothing ranked) wakes no pass: a
        // TensorBoard file is written every few steps.
        self.memory.metric_dirs = watch
            .metric_source
            .as_ref()
            .filter(|_| watch.policy.keep_best.is_some())
            .map(|s| s.log_dirs(run))
            .unwrap_or_default();
        None
    }
}

impl DaemonHooks<'_> {
    /// One WARN while the storage clock cannot be read, said again if it comes back.
    fn warn_unknown_clock(&mut self, run: &Path, watch: &Watch, clock: RunClock) {
        if clock.on_storage {
            self.memory.clock_warned = false;
        } else if !self.memory.clock_warned {
            self.memory.clock_warned = true;
            tracing::warn!(run = %run.display(), "cannot write ckptd's clock probe {}/.ckptd.lock (a full filesystem, a lock file owned by another user, or a filesystem whose clients stamp their own times): the storage clock is unknown, so a checkpoint counts as complete only after ckptd has seen it unchanged for {}", run.display(), crate::duration::show(watch.policy.settle));
        }
    }
}

/// Marks in its tracker each checkpoint this look found complete with no writer, so later
/// passes may skip the open-writer walk while its fingerprint stays the same; a checkpoint that
/// changed after it was complete (rewritten in place) has its completion logged again.
fn remember_confirmed(run: &Path, watch: &str, memory: &mut RunMemory, verdicts: &[Verdict]) {
    for v in verdicts {
        let c = &v.checkpoint;
        if !v.is_complete() {
            if memory
                .get_mut(&c.name)
                .is_some_and(|seen| seen.clear(Said::Complete))
            {
                tracing::info!(run = %run.display(), watch = %watch, checkpoint = %c.name, step = c.step, reason = %v.detail, "checkpoint changed after it was complete (re-saved in place?): {} is incomplete again until it settles", c.name);
            }
        } else if let (Writers::Checked { open: false }, Some(f)) = (c.writers, c.fingerprint) {
            let Some(seen) = memory.get_mut(&c.name) else {
                continue;
            };
            // A slimmed checkpoint's change is the slimming (its record matches it), not a
            // new save.
            let slimmed = matches!(c.slim, Slim::Slimmed { .. });
            if !slimmed && c.confirmed.is_some_and(|before| before != f.digest()) {
                // Re-saved in place and already settled when we looked: a new completion,
                // logged as such.
                seen.clear(Said::Complete);
            }
            // The tracker observed this very fingerprint in this pass.
            seen.tracker.confirm();
        }
    }
}

/// Marks the complete directory checkpoints the plan keeps, and returns the newest few of them
/// (in checkpoint order): the daemon watches those, and fingerprints all marked ones at each
/// periodic rescan, so a trainer rewriting one in place is noticed although nothing changes in
/// the run directory itself.
fn mark_kept_directories(memory: &mut RunMemory, verdicts: &[Verdict]) -> Vec<String> {
    let mut kept = Vec::new();
    for v in verdicts {
        let is_kept_dir = v.is_complete()
            && v.decision != Decision::Delete
            && v.checkpoint.kind == Kind::Dir
            && v.checkpoint.fingerprint.is_some();
        let Some(seen) = memory.get_mut(&v.name) else {
            continue;
        };
        if is_kept_dir {
            seen.set(Said::KeptDir);
            kept.push(v.name.clone());
        } else {
            seen.clear(Said::KeptDir);
        }
    }
    let newest = kept.len().saturating_sub(super::WATCHED_KEPT_DIRS);
    kept.split_off(newest)
}

/// A verdict's reasons as bits ([`Reason::bit`]).
fn reason_bits(reasons: &[Reason]) -> u32 {
    reasons.iter().fold(0, |bits, r| bits | r.bit())
}
