//! One planning pass: discover runs, apply run overrides, read the run's clock, scan, plan.
//! Shared by `plan` and `prune` so what `plan` shows is exactly what `prune` would do.
//!
//! Ages are measured on each run's storage clock (see `storage_clock`). `prune` creates the
//! probe (the run's lock file) when it can; `plan`, `status` and dry runs write nothing and use
//! a probe only if one is there. Where `prune` cannot read the storage clock, it looks twice,
//! `settle` apart, and only what did not change between the two looks can count as complete.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::checkpoint::Checkpoint;
use crate::config::{apply_run_overrides, Config, Watch};
use crate::plan::{plan, Plan};
use crate::report::RunPlan;
use crate::runs;
use crate::storage_clock::RunClock;

/// Whether the command may create the clock probe in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `plan`, `status`, dry runs: nothing is written.
    ReadOnly,
    /// `prune`: the run's lock file is created (it is the probe) and stamped.
    Acting,
}

/// A planned run.
pub struct Pass {
    pub run: PathBuf,
    /// The watch as it applies to this run (overrides included).
    pub watch: Watch,
    pub checkpoints: Vec<Checkpoint>,
    pub plan: Plan,
    /// "Now" for this run when it was planned.
    pub clock: RunClock,
    /// `prune` may act here: its lock could be taken (or was busy) when the clock was read,
    /// so an unknown clock got its second look. A run where it could not be taken is not
    /// acted on even if the lock works later: its plan was never confirmed.
    pub acting: bool,
    /// Why the run lock could not be taken when planning, if it could not.
    pub lock_error: Option<String>,
    /// Another process held the run lock when the clock was read and the storage clock was
    /// unknown: `prune` skips this run rather than wait a second look for a lock it may not get.
    pub busy_without_clock: bool,
}

impl Pass {
    pub fn into_run_plan(self) -> RunPlan {
        RunPlan {
            run: self.run,
            watch: self.watch.name,
            layout: self.watch.layout.name(),
            metric: self.watch.policy.keep_best.map(|b| b.metric),
            plan: self.plan,
        }
    }
}

/// Plans every run of `config`, or only `selected` runs (each must be a run of some watch).
pub fn plan_runs(
    config: &Config,
    selected: &[PathBuf],
    access: Access,
) -> Result<Vec<Pass>, String> {
    // With RUNs named, what discovery would say about other watches' runs is noise.
    let mut found = runs::discover(config, selected.is_empty());
    if !selected.is_empty() {
        let wanted: Vec<PathBuf> = selected.iter().map(|p| crate::paths::absolute(p)).collect();
        for (given, path) in selected.iter().zip(&wanted) {
            if !found.iter().any(|r| &r.path == path) {
                // Now the reasons are worth saying (a symlinked or nested run, say).
                let _ = runs::discover(config, true);
                return Err(format!(
                    "{} is not a run directory of any watch in {}",
                    given.display(),
                    config.file.display()
                ));
            }
        }
        found.retain(|r| wanted.contains(&r.path));
    }
    let mut passes: Vec<Pass> = found
        .into_iter()
        .filter_map(|run| plan_one(&run.path, &config.watches[run.watch], access))
        .collect();
    if access == Access::Acting {
        look_again_where_the_clock_is_unknown(&mut passes);
    }
    Ok(passes)
}

/// "Now" for `run`, through its probe when the command may act there, else only through a
/// probe it already has; whether it may act there, and why not.
fn read_clock(run: &Path, watch: &Watch, access: Access) -> ClockRead {
    let not_acting = |clock| ClockRead {
        clock,
        acting: false,
        busy_without_clock: false,
        lock_error: None,
    };
    if access == Access::ReadOnly || watch.dry_run {
        return not_acting(RunClock::read_only(run));
    }
    match crate::lock::try_lock(run) {
        Ok(Some(lock)) => ClockRead {
            acting: true,
            ..not_acting(RunClock::of(run, lock.file()))
        },
        // The daemon holds the lock: its probe file exists, else wait for no second look.
        Ok(None) => {
            let clock = RunClock::read_only(run);
            ClockRead {
                acting: clock.on_storage,
                busy_without_clock: !clock.on_storage,
                ..not_acting(clock)
            }
        }
        // The lock cannot be taken: nothing will be deleted here, so no second look either.
        Err(e) => ClockRead {
            lock_error: Some(format!("{e}{}", crate::io_hint::hint(&e))),
            ..not_acting(RunClock::local())
        },
    }
}

/// What reading a run's clock found out.
struct ClockRead {
    clock: RunClock,
    acting: bool,
    busy_without_clock: bool,
    lock_error: Option<String>,
}

/// The fallback for runs whose storage clock is unknown (a read-only mount, a full
/// filesystem without a probe): an mtime cannot say how long ago a file was written there, so
/// `prune` waits `settle` and looks again. A checkpoint whose fingerprint did not change between
/// the two looks has been quiet for at least `settle` on our own clock; one that changed is
/// being written.
fn look_again_where_the_clock_is_unknown(passes: &mut [Pass]) {
    let unknown: Vec<usize> = (0..passes.len())
        .filter(|&i| {
            let p = &passes[i];
            p.acting && !p.clock.on_storage && p.plan.deletions().next().is_some()
        })
        .collect();
    let Some(wait) = unknown.iter().map(|&i| passes[i].watch.policy.settle).max() else {
        return;
    };
    for &i in &unknown {
        tracing::warn!(run = %passes[i].run.display(), settle = %crate::duration::show(wait), "storage clock of {} unknown (cannot stamp its .ckptd.lock): looking again in {} before deleting anything there", passes[i].run.display(), crate::duration::show(wait));
    }
    std::thread::sleep(wait);
    for &i in &unknown {
        let pass = &mut passes[i];
        let first_look = pass.clock.now;
        let mut again = match crate::scan::scan_run(&pass.run, &pass.watch) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(run = %pass.run.display(), error = %e, "cannot list run directory {}: {e}; nothing deleted there", pass.run.display());
                pass.plan.verdicts.clear();
                continue;
            }
        };
        let now = SystemTime::now();
        let before: HashMap<&str, &Checkpoint> = pass
            .checkpoints
            .iter()
            .map(|b| (b.name.as_str(), b))
            .collect();
        for c in &mut again {
            let before = before.get(c.name.as_str());
            let unchanged =
                c.fingerprint.is_some() && before.is_some_and(|b| b.fingerprint == c.fingerprint);
            c.stable_since = Some(if unchanged { first_look } else { now });
        }
        pass.plan = plan(&again, &pass.watch.policy, now);
        pass.checkpoints = again;
        pass.clock = RunClock {
            now,
            on_storage: false,
        };
        log_plan(&pass.run, &pass.watch, &pass.plan);
    }
}

fn plan_one(run: &Path, watch: &Watch, access: Access) -> Option<Pass> {
    let watch = match apply_run_overrides(watch, run) {
        Ok(Some(overridden)) => overridden,
        Ok(None) => watch.clone(),
        Err(errors) => {
            tracing::warn!(run = %run.display(), watch = %watch.name, error = %errors, "run overrides invalid: the watch's policy applies to {}: {errors}", run.display());
            watch.clone()
        }
    };
    // Read before scanning: a write that lands during the scan is then never taken for old.
    let ClockRead {
        clock,
        acting,
        busy_without_clock,
        lock_error,
    } = read_clock(run, &watch, access);
    let checkpoints = match crate::scan::scan_run(run, &watch) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(run = %run.display(), watch = %watch.name, error = %e, "cannot list run directory {}: {e}{}; skipped", run.display(), crate::io_hint::hint(&e));
            return None;
        }
    };
    let plan = plan(&checkpoints, &watch.policy, clock.now);
    log_plan(run, &watch, &plan);
    Some(Pass {
        run: run.to_owned(),
        watch,
        checkpoints,
        plan,
        clock,
        acting,
        lock_error,
        busy_without_clock,
    })
}

/// DEBUG lines for every decision, and one WARN for the checkpoints keep_best cannot rank.
fn log_plan(run: &Path, watch: &Watch, plan: &Plan) {
    for v in &plan.verdicts {
        crate::report::log_decision(run, v);
    }
    if let Some(best) = &watch.policy.keep_best {
        let unranked: Vec<&str> = plan.unranked().map(|v| v.name.as_str()).collect();
        if plan.held() {
            crate::report::log_held(run, &watch.name, &best.metric, plan);
        } else if !unranked.is_empty() {
            tracing::warn!(
                run = %run.display(),
                watch = %watch.name,
                metric = %best.metric,
                count = unranked.len(),
                first = unranked[0],
                "no metric found for some checkpoints: keep_best ignores {} of {} in {} (first: {}; no `{}` at their steps)",
                unranked.len(),
                plan.verdicts.len(),
                run.display(),
                unranked[0],
                best.metric
            );
        }
    }
}
