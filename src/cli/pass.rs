//! One planning pass: discover runs, apply run overrides, scan, plan. Shared by `plan` and
//! `prune` so what `plan` shows is exactly what `prune` would do.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::checkpoint::Checkpoint;
use crate::config::{apply_run_overrides, Config, Watch};
use crate::plan::{plan, Plan};
use crate::report::RunPlan;
use crate::runs;

/// A planned run.
pub struct Pass {
    pub run: PathBuf,
    /// The watch as it applies to this run (overrides included).
    pub watch: Watch,
    pub checkpoints: Vec<Checkpoint>,
    pub plan: Plan,
}

impl Pass {
    pub fn into_run_plan(self) -> RunPlan {
        RunPlan {
            run: self.run,
            watch: self.watch.name,
            layout: self.watch.layout.name(),
            plan: self.plan,
        }
    }
}

/// Plans every run of `config`, or only `selected` runs (each must be a run of some watch).
pub fn plan_runs(
    config: &Config,
    selected: &[PathBuf],
    now: SystemTime,
) -> Result<Vec<Pass>, String> {
    let mut found = runs::discover(config, true);
    if !selected.is_empty() {
        let wanted: Vec<PathBuf> = selected.iter().map(|p| crate::paths::absolute(p)).collect();
        for (given, path) in selected.iter().zip(&wanted) {
            if !found.iter().any(|r| &r.path == path) {
                return Err(format!(
                    "{} is not a run directory of any watch in {}",
                    given.display(),
                    config.file.display()
                ));
            }
        }
        found.retain(|r| wanted.contains(&r.path));
    }
    Ok(found
        .into_iter()
        .filter_map(|run| plan_one(&run.path, &config.watches[run.watch], now))
        .collect())
}

fn plan_one(run: &Path, watch: &Watch, now: SystemTime) -> Option<Pass> {
    let watch = match apply_run_overrides(watch, run) {
        Ok(Some(overridden)) => overridden,
        Ok(None) => watch.clone(),
        Err(errors) => {
            tracing::warn!(run = %run.display(), watch = %watch.name, error = %errors, "run overrides invalid: the watch's policy applies");
            watch.clone()
        }
    };
    let checkpoints = match crate::scan::scan_run(run, &watch) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(run = %run.display(), watch = %watch.name, error = %e, "cannot list run directory: skipped");
            return None;
        }
    };
    let plan = plan(&checkpoints, &watch.policy, now);
    for v in &plan.verdicts {
        crate::report::log_decision(run, v);
    }
    if let Some(best) = &watch.policy.keep_best {
        let unranked: Vec<&str> = plan.unranked().map(|v| v.name.as_str()).collect();
        if !unranked.is_empty() {
            tracing::warn!(
                run = %run.display(),
                watch = %watch.name,
                metric = %best.metric,
                count = unranked.len(),
                first = unranked[0],
                "no metric found for some checkpoints: keep_best ignores them"
            );
        }
    }
    Some(Pass {
        run: run.to_owned(),
        watch,
        checkpoints,
        plan,
    })
}
