//! The keep rules and protections, each computing its own set; the planner takes their union.

use std::cmp::Ordering;
use std::time::{Duration, SystemTime};

use super::assess::{Assessment, Completeness, MetricState};
use super::view::{ordinal, View};
use super::Reason;
use crate::checkpoint::{Checkpoint, Protection};
use crate::duration::show;
use crate::policy::{Mode, Policy};

/// What the rules concluded about one checkpoint: the reasons it is kept (none: deleted), what
/// a keeping rule has to add (which window it is the first of), and for a deletion, what each
/// configured rule said against it.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub reasons: Vec<Reason>,
    /// Ranked first by `keep_best`: the single best, which pressure never deletes.
    pub best_of_run: bool,
    pub details: Vec<String>,
    pub why_not: Vec<String>,
    /// Every configured rule's view of the checkpoint, keeping or not (for `explain`); empty
    /// unless wanted: writing them costs more than the decisions themselves.
    pub views: Vec<View>,
    views_wanted: bool,
}

impl Outcome {
    /// `rule` keeps the checkpoint with `reason`; `text` says how (for the views).
    pub fn kept_by(&mut self, reason: Reason, rule: &str, text: impl FnOnce() -> String) {
        self.reasons.push(reason);
        if self.views_wanted {
            self.views.push(View {
                rule: rule.to_owned(),
                keeps: true,
                text: text(),
            });
        }
    }

    /// `rule` does not keep the checkpoint; `text` says why (also the deletion's detail).
    pub fn not_kept_by(&mut self, rule: &str, text: String) {
        if self.views_wanted {
            self.views.push(View {
                rule: rule.to_owned(),
                keeps: false,
                text: text.clone(),
            });
        }
        self.why_not.push(text);
    }

    /// As [`Self::not_kept_by`], with more in the view than the deletion's detail says.
    pub fn not_kept_by_seen(&mut self, rule: &str, why: String, view: impl FnOnce() -> String) {
        if self.views_wanted {
            self.views.push(View {
                rule: rule.to_owned(),
                keeps: false,
                text: view(),
            });
        }
        self.why_not.push(why);
    }
}

/// `sorted` is in checkpoint order; `assessed` matches it index for index.
pub(super) fn apply(
    sorted: &[&Checkpoint],
    assessed: &[Assessment],
    policy: &Policy,
    now: SystemTime,
    views_wanted: bool,
) -> Vec<Outcome> {
    let mut out: Vec<Outcome> = sorted
        .iter()
        .map(|_| Outcome {
            views_wanted,
            ..Outcome::default()
        })
        .collect();
    let complete = |i: usize| assessed[i].completeness == Completeness::Complete;

    for (i, checkpoint) in sorted.iter().enumerate() {
        if !complete(i) {
            out[i].reasons.push(Reason::Incomplete);
        }
        for protection in &checkpoint.protections {
            out[i].reasons.push(match protection {
                Protection::Pinned => Reason::Pinned,
                Protection::Pointer(_) => Reason::Pointer,
                Protection::Alias => Reason::Alias,
            });
        }
    }
    for i in newest_complete(sorted, &complete) {
        out[i].reasons.push(Reason::NewestComplete);
    }

    // Rules select from every complete checkpoint, pinned and pointed-at ones included
    // (DESIGN invariant 4): DeepSpeed's `latest` on the newest fills a `keep_last` slot, so
    // `keep_last = 1` leaves one checkpoint, not two. Protection only adds to what the rules
    // keep. Aliases are copies of another checkpoint: protected, never selected by a rule.
    let candidates: Vec<usize> = (0..sorted.len())
        .filter(|&i| complete(i) && !sorted[i].is_alias())
        .collect();

    if let Some(n) = policy.keep_last {
        keep_last(&candidates, n, &mut out);
    }
    if let Some(rule) = &policy.keep_best {
        let count = usize::try_from(rule.count.get()).unwrap_or(usize::MAX);
        keep_best(sorted, assessed, &candidates, count, rule, &mut out);
    }
    if let Some(every) = policy.keep_every_steps {
        super::milestones::keep_every_steps(sorted, &candidates, every, &mut out);
    }
    for &rule in &policy.keep_every {
        super::milestones::keep_every_window(sorted, &candidates, rule, &mut out);
    }
    if let Some(within) = policy.keep_within {
        let rule = format!("keep_within {}", show(within));
        for &i in &candidates {
            let age = sorted[i].completed_at().map_or(Duration::ZERO, |t| {
                now.duration_since(t).unwrap_or_default()
            });
            if age <= within {
                out[i].kept_by(Reason::Within, &rule, || {
                    format!("completed {} ago", show(age))
                });
            } else {
                out[i].not_kept_by(
                    &rule,
                    format!(
                        "completed {} ago, outside keep_within {}",
                        show(age),
                        show(within)
                    ),
                );
            }
        }
    }
    for outcome in &mut out {
        outcome.reasons.sort_unstable();
        outcome.reasons.dedup();
    }
    out
}

/// The resume point, in both senses: the highest step and the latest completion time. They
/// differ when a directory was reused (HF #26961, #37260); then both are kept.
fn newest_complete(sorted: &[&Checkpoint], complete: &dyn Fn(usize) -> bool) -> Vec<usize> {
    let real: Vec<usize> = (0..sorted.len())
        .filter(|&i| complete(i) && !sorted[i].is_alias())
        .collect();
    let by_step = real.last().copied();
    let by_time = real.iter().copied().max_by(|&a, &b| {
        sorted[a]
            .completed_at()
            .cmp(&sorted[b].completed_at())
            .then_with(|| sorted[a].step.cmp(&sorted[b].step))
            .then_with(|| sorted[a].name.cmp(&sorted[b].name))
    });
    let mut newest: Vec<usize> = by_step.into_iter().chain(by_time).collect();
    newest.dedup();
    newest
}

fn keep_last(candidates: &[usize], n: u64, out: &mut [Outcome]) {
    let n_usize = usize::try_from(n).unwrap_or(usize::MAX);
    let first_kept = candidates.len().saturating_sub(n_usize);
    let rule = format!("keep_last {n}");
    for (position, &i) in candidates.iter().enumerate() {
        let newest = || match candidates.len() - position {
            1 => "the newest".to_owned(),
            n => format!("the {} newest", ordinal(n)),
        };
        if position >= first_kept {
            out[i].kept_by(Reason::Last, &rule, newest);
        } else {
            out[i].not_kept_by_seen(&rule, format!("older than the last {n}"), || {
                format!("older than the last {n} ({})", newest())
            });
        }
    }
}

fn keep_best(
    sorted: &[&Checkpoint],
    assessed: &[Assessment],
    candidates: &[usize],
    count: usize,
    rule: &crate::policy::BestRule,
    out: &mut [Outcome],
) {
    let mut ranked: Vec<(usize, f64)> = Vec::new();
    let name = format!(
        "keep_best {count} by {} ({})",
        rule.metric,
        rule.mode.as_str()
    );
    for &i in candidates {
        match &assessed[i].metric {
            MetricState::Value(v) => ranked.push((i, *v)),
            MetricState::Pending => out[i].kept_by(Reason::MetricPending, &name, || {
                format!("{} not known yet: kept until it is", rule.metric)
            }),
            // Unknown, not absent: ranking it (even last) or ignoring it could delete the best.
            MetricState::TooLarge(_) => out[i].kept_by(Reason::MetricTooLarge, &name, || {
                "metric unknown (its file is too large to read): kept".to_owned()
            }),
            MetricState::Unranked | MetricState::NotWanted => {
                out[i].not_kept_by(&name, format!("unranked: no {} found", rule.metric));
            }
        }
    }
    // DESIGN invariant 9: complete checkpoints, none with a readable value, none pending. A
    // typo in `metric` must never turn keep_best into "delete the best": the run is held.
    // (Checkpoints whose metric is too large to read are kept anyway; a run of only those is
    // not held, its WARN already says which key to raise.)
    let pending = candidates
        .iter()
        .any(|&i| assessed[i].metric == MetricState::Pending);
    let unranked = candidates
        .iter()
        .any(|&i| matches!(assessed[i].metric, MetricState::Unranked));
    if ranked.is_empty() && !pending && unranked {
        for &i in candidates {
            out[i].kept_by(Reason::Held, &name, || {
                format!(
                    "the run is held: no complete checkpoint has a readable {}",
                    rule.metric
                )
            });
            out[i].details.push(format!(
                // Shown after the reason (`held: no complete …`), so not named again.
                "no complete checkpoint has a readable {}",
                rule.metric
            ));
        }
        return;
    }
    ranked.sort_by(|&(a, va), &(b, vb)| {
        better(va, vb, rule.mode)
            // Ties: the higher step wins, then the later completion, then the name.
            .then_with(|| checkpoint_cmp(sorted[b], sorted[a]))
    });
    let total = ranked.len();
    for (rank, &(i, value)) in ranked.iter().enumerate() {
        out[i].best_of_run = rank == 0;
        if rank < count {
            out[i].kept_by(Reason::Best, &name, || {
                let value = crate::report::metric_text(value);
                format!("rank {} of {total} by {} ({value})", rank + 1, rule.metric)
            });
        } else {
            out[i].not_kept_by(
                &name,
                format!(
                    "rank {} of {total} by {}, keep_best is {count}",
                    rank + 1,
                    rule.metric
                ),
            );
        }
    }
}

fn checkpoint_cmp(a: &Checkpoint, b: &Checkpoint) -> Ordering {
    super::checkpoint_order(a, b)
}

/// `Less` when `a` is better than `b`. NaN is worse than any number, so it is never "best"
/// while a number exists.
fn better(a: f64, b: f64, mode: Mode) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            let ascending = a.partial_cmp(&b).unwrap_or(Ordering::Equal);
            match mode {
                Mode::Min => ascending,
                Mode::Max => ascending.reverse(),
            }
        }
    }
}
