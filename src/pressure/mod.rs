//! Disk-aware retention, the pure part (DESIGN "Disk: budgets, free-space floors, headroom"):
//! given each run's plan, its checkpoints' sizes and what a filesystem has free, which
//! checkpoints to slim or delete with reason `pressure`, and how to fold those decisions into
//! a fresh plan. No I/O: `disk` measures filesystems and the pass engine carries orders out.

mod apply;
pub mod candidates;
mod relieve;
pub mod target;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use apply::apply;
pub use candidates::Step;
pub use relieve::{relieve, Action, Filesystem, Order, Relief, RunSummary, Unmet};
pub use target::{FilesystemTarget, Floor, FsState, Shortfall, Unit};
