//! What a `[[filesystem]]` table asks for, and how far a filesystem is from it: plain data and
//! arithmetic, no I/O. The shell measures (`statvfs`), this module compares.

/// A floor on free space or free inodes: an absolute amount, or a share of the filesystem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Floor {
    /// Bytes (for `min_free`) or inodes (for `min_free_inodes`).
    Amount(u64),
    /// Percent of the filesystem's total, above 0 and below 100.
    Percent(f64),
}

impl Floor {
    /// The floor in bytes or inodes on a filesystem of `total`.
    pub fn of(self, total: u64) -> u64 {
        match self {
            Self::Amount(amount) => amount,
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            // Rounded up: a floor of 10% of 1,000,001 bytes is met by 100,001, not 100,000.
            Self::Percent(p) => ((total as f64) * p / 100.0).ceil() as u64,
        }
    }

    /// As written in the config: `10%`, or a size.
    pub fn show(self, unit: Unit) -> String {
        match self {
            Self::Percent(p) => format!("{p}%"),
            Self::Amount(n) => unit.show(n),
        }
    }
}

/// What a floor counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Inodes,
}

impl Unit {
    pub fn show(self, n: u64) -> String {
        match self {
            Self::Bytes => crate::report::human_bytes(n),
            Self::Inodes => format!("{n} inodes"),
        }
    }
}

/// One `[[filesystem]]`: what must stay free on the filesystem that holds `path`.
#[derive(Debug, Clone, PartialEq)]
pub struct FilesystemTarget {
    /// As configured (absolute): any path on the filesystem; used to name it in logs.
    pub path: std::path::PathBuf,
    pub min_free: Option<Floor>,
    pub min_free_inodes: Option<Floor>,
    /// `headroom = "next-save"`: also keep room for each active run's next save.
    pub headroom: bool,
}

impl FilesystemTarget {
    /// Whether the table asks for anything at all.
    pub fn asks(&self) -> bool {
        self.min_free.is_some() || self.min_free_inodes.is_some() || self.headroom
    }
}

/// A filesystem as `statvfs` saw it: what an unprivileged writer can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FsState {
    pub total_bytes: u64,
    /// Available to unprivileged users (`f_bavail`): what a trainer not running as root gets.
    pub free_bytes: u64,
    pub total_inodes: u64,
    pub free_inodes: u64,
}

/// How much a filesystem must gain to meet its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shortfall {
    pub bytes: u64,
    pub inodes: u64,
    /// The free bytes the target asks for: the floor plus the headroom.
    pub want_bytes: u64,
    pub want_inodes: u64,
}

impl Shortfall {
    pub fn is_met(&self) -> bool {
        self.bytes == 0 && self.inodes == 0
    }
}

/// How far `state` (with `freed` bytes and inodes about to come free) is from `target`, given
/// `headroom` bytes for the active runs' next saves (0 when headroom is off).
pub fn shortfall(
    target: &FilesystemTarget,
    state: FsState,
    freed: (u64, u64),
    headroom: u64,
) -> Shortfall {
    let want_bytes = target
        .min_free
        .map_or(0, |f| f.of(state.total_bytes))
        .saturating_add(if target.headroom { headroom } else { 0 });
    let want_inodes = target
        .min_free_inodes
        .map_or(0, |f| f.of(state.total_inodes));
    let free_bytes = state.free_bytes.saturating_add(freed.0);
    let free_inodes = state.free_inodes.saturating_add(freed.1);
    Shortfall {
        bytes: want_bytes.saturating_sub(free_bytes),
        inodes: want_inodes.saturating_sub(free_inodes),
        want_bytes,
        want_inodes,
    }
}
