//! The reason vocabulary shared by `plan`, the logs and `--json` (DESIGN.md "Reasons").

use std::fmt;

/// Why a checkpoint is kept, or `Unkept` when it is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    // Protections first: they explain a keep best when several reasons apply.
    Incomplete,
    NewestComplete,
    Pinned,
    Pointer,
    Alias,
    MetricPending,
    MetricTooLarge,
    Held,
    /// Chosen for upload, and its remote copy is not committed yet: never deleted or slimmed
    /// locally until it is (offload).
    Uploading,
    /// The watch's `before_delete` hook refused its deletion: not deleted while the veto
    /// stands, by a rule or by pressure (which may still slim it: the hook is about
    /// deletions).
    Vetoed,
    Last,
    Best,
    EverySteps,
    EveryWindow,
    Within,
    /// Beside the keep reasons of a checkpoint ckptd slimmed before.
    Slimmed,
    /// The checkpoint is slimmed now (`slim_after`, or pressure).
    Slim,
    /// Deleted or slimmed to meet a byte budget, a free-space floor or headroom.
    Pressure,
    Unkept,
}

// Every reason must fit in `bit()`'s 32 bits: `Unkept` is the last variant.
const _: () = assert!((Reason::Unkept as u32) < 32);

impl Reason {
    /// The reasons that keep a checkpoint whatever else is asked of it: the resume point, what
    /// a user or a framework protects, and what waits for a metric (its fate is not known
    /// yet). Neither slimming nor pressure touches a checkpoint with one of them.
    pub const PROTECTIONS: [Reason; 9] = [
        Reason::Incomplete,
        Reason::NewestComplete,
        Reason::Pinned,
        Reason::Pointer,
        Reason::Alias,
        Reason::MetricPending,
        Reason::MetricTooLarge,
        Reason::Held,
        Reason::Uploading,
    ];

    /// This reason as one bit of a set (the daemon remembers a decision's reasons in 32 bits).
    pub const fn bit(self) -> u32 {
        1 << (self as u32)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incomplete => "incomplete",
            Self::NewestComplete => "newest-complete",
            Self::Pinned => "pinned",
            Self::Pointer => "pointer",
            Self::Alias => "alias",
            Self::MetricPending => "metric-pending",
            Self::MetricTooLarge => "metric-too-large",
            Self::Held => "held",
            Self::Uploading => "uploading",
            Self::Vetoed => "vetoed",
            Self::Last => "last",
            Self::Best => "best",
            Self::EverySteps => "every-steps",
            Self::EveryWindow => "every-window",
            Self::Within => "within",
            Self::Slimmed => "slimmed",
            Self::Slim => "slim",
            Self::Pressure => "pressure",
            Self::Unkept => "unkept",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
