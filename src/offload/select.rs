//! Which checkpoints are uploaded (`which = ["best", "every-steps"]`, or `["all"]`), and the
//! guard that goes with it: a checkpoint chosen for upload is not deleted or slimmed locally
//! until its remote copy is committed (its manifest written), whatever the rules or pressure
//! say. Pure: the shell knows which uploads are pending; this only decides.

use super::super::plan::{Decision, Plan, Reason, Verdict};

/// The rules whose checkpoints are uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    /// Every complete checkpoint.
    All,
    /// The complete checkpoints one of these keep reasons keeps.
    Rules(Vec<Reason>),
}

/// The names `which` accepts.
pub const WHICH_NAMES: &str = "all, last, best, every-steps, every-window, within";

impl Which {
    pub fn parse(names: &[&str]) -> Result<Self, String> {
        if names.is_empty() {
            return Err(format!(
                "`which` is empty: name at least one of {WHICH_NAMES}"
            ));
        }
        let mut rules = Vec::new();
        for &name in names {
            let rule = match name {
                "all" if names.len() == 1 => return Ok(Self::All),
                "all" => {
                    return Err("`all` already names every checkpoint: give it alone".to_owned())
                }
                "last" => Reason::Last,
                "best" => Reason::Best,
                "every-steps" => Reason::EverySteps,
                "every-window" => Reason::EveryWindow,
                "within" => Reason::Within,
                other => {
                    return Err(format!(
                        "`{other}` is not a rule to upload for: {WHICH_NAMES}"
                    ))
                }
            };
            if !rules.contains(&rule) {
                rules.push(rule);
            }
        }
        Ok(Self::Rules(rules))
    }

    /// Whether `v` is to be uploaded now: complete, and kept by a named rule (or any, for
    /// `all`, which takes every complete checkpoint, those about to be deleted included).
    pub fn wants(&self, v: &Verdict) -> bool {
        v.is_complete()
            && match self {
                Self::All => true,
                Self::Rules(rules) => v.reasons.iter().any(|r| rules.contains(r)),
            }
    }
}

/// Keeps, as `uploading`, every checkpoint `which` wants: for a caller that cannot tell
/// whether its copy is committed (a dry-run watch, a caller that does not upload).
pub fn hold_wanted(plan: &mut Plan, which: &Which, to: &str) -> usize {
    let wanted: Vec<String> = plan
        .verdicts
        .iter()
        .filter(|v| which.wants(v))
        .map(|v| v.name.clone())
        .collect();
    hold_uploading(plan, &|n| wanted.iter().any(|w| w == n), to)
}

/// Turns every deletion or slim of a checkpoint whose upload is `pending` into a keep with
/// reason `uploading`; returns how many it held back.
pub fn hold_uploading(plan: &mut Plan, pending: &dyn Fn(&str) -> bool, to: &str) -> usize {
    let mut held = 0;
    for v in &mut plan.verdicts {
        if v.decision == Decision::Keep || !pending(&v.name) {
            if v.decision == Decision::Keep && pending(&v.name) {
                v.reasons.push(Reason::Uploading);
                v.reasons.sort_unstable();
                v.reasons.dedup();
            }
            continue;
        }
        let before = match v.decision {
            Decision::Delete => "deleted",
            _ => "slimmed",
        };
        v.decision = Decision::Keep;
        v.reasons
            .retain(|r| *r != Reason::Unkept && *r != Reason::Slim && *r != Reason::Pressure);
        v.reasons.push(Reason::Uploading);
        v.reasons.sort_unstable();
        v.detail = format!(
            "would be {before} ({}), but its upload to {to} is not committed yet",
            v.detail
        );
        held += 1;
    }
    held
}

#[cfg(test)]
#[path = "select_tests.rs"]
mod tests;
