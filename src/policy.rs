//! A validated retention policy: which rules keep checkpoints, and the time limits the planner
//! needs. Built by `config` (never by hand outside tests), read by `plan`.

use std::num::NonZeroU64;
use std::time::Duration;

/// Whether smaller or larger metric values are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Min,
    Max,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Min => "min",
            Self::Max => "max",
        }
    }
}

/// `keep_best`: the best `count` checkpoints by `metric`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BestRule {
    pub count: NonZeroU64,
    pub metric: String,
    pub mode: Mode,
}

/// One entry of `keep_every`: the first complete checkpoint (by completion time) of each
/// `window`, in the `count` most recent windows that hold a complete checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EveryWindow {
    /// Never zero. Windows are aligned to the Unix epoch in UTC (weeks run Thursday to
    /// Wednesday).
    pub window: Duration,
    /// `None`: every window, forever (`keep_every = "1d"`).
    pub count: Option<NonZeroU64>,
}

/// The rules of one run. Rules add up: a checkpoint is deleted only when no rule keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `keep_last`; `Some(0)` is allowed (the newest complete checkpoint is still protected).
    pub keep_last: Option<u64>,
    pub keep_best: Option<BestRule>,
    pub keep_every_steps: Option<NonZeroU64>,
    /// `keep_every`, each entry a rule of its own; empty: off. The string form is one entry
    /// without a count.
    pub keep_every: Vec<EveryWindow>,
    pub keep_within: Option<Duration>,
    /// `slim_after`: every complete checkpoint older than this many newest complete ones loses
    /// its training state. `None`: no slimming, not even under pressure.
    pub slim_after: Option<u64>,
    /// How long a fingerprint must stay unchanged before a checkpoint is complete.
    pub settle: Duration,
    /// How long after completion a missing run-level metric stops being pending.
    pub metric_timeout: Duration,
}

impl Policy {
    /// A policy with only the given `keep_last` and the default time limits; handy in tests.
    pub fn keep_last(n: u64) -> Self {
        Self {
            keep_last: Some(n),
            keep_best: None,
            keep_every_steps: None,
            keep_every: Vec::new(),
            keep_within: None,
            slim_after: None,
            settle: Duration::from_secs(30),
            metric_timeout: Duration::from_hours(1),
        }
    }

    /// True when at least one keep rule is configured; a policy without one is refused.
    pub fn has_rule(&self) -> bool {
        self.keep_last.is_some()
            || self.keep_best.is_some()
            || self.keep_every_steps.is_some()
            || !self.keep_every.is_empty()
            || self.keep_within.is_some()
    }
}
