//! Offload's shell (issue 13): copying checkpoints to object storage before they may go
//! locally. `store` opens a backend with the ecosystem's credential chain, `transfer` uploads
//! and commits one checkpoint, `job` is the queue that survives restarts, `worker` runs
//! uploads beside the daemon, and `oneshot` does the same inline for `prune` and `plan`.

pub mod job;
pub mod oneshot;
pub mod remote;
pub mod store;
pub mod transfer;
pub mod worker;

pub use job::Job;
pub use worker::{Outcome, Report, Request, Uploader};
