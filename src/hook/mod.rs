//! User hooks (DESIGN "Offload and hooks"): `on_complete`, run once for each checkpoint the
//! daemon sees complete, and `before_delete`, run before each deletion, whose non-zero exit
//! (or timeout) vetoes that deletion until the next try. A hook is an argv array run without a
//! shell, with the checkpoint described in `CKPTD_*` variables, a timeout, and its output in
//! the log at DEBUG.
//!
//! `env` builds the variables (pure); `process` runs one command to its end or its timeout;
//! `runner` runs them for the daemon on worker threads, so a slow hook holds up no pass, and
//! hands each result back to the daemon's loop.

pub mod env;
pub mod process;
pub mod runner;

pub use env::{hook_env, Event};
pub use process::{run_command, Finished, Status};

use std::path::Path;

/// The DEBUG line with what a hook printed, and its end.
pub fn log_finished(event: Event, run: &Path, watch: &str, checkpoint: &str, done: &Finished) {
    tracing::debug!(
        run = %run.display(),
        watch = %watch,
        checkpoint = %checkpoint,
        hook = event.key(),
        status = %done.status.describe(),
        output = %done.output.trim_end(),
        "{} hook for {checkpoint} in {}: {}",
        event.key(),
        run.display(),
        done.status.describe()
    );
}

impl Finished {
    /// Why a `before_delete` said no: its end and its last line of output.
    pub fn veto(&self) -> String {
        match self.last_line() {
            Some(line) => format!("{}: {line}", self.status.describe()),
            None => self.status.describe(),
        }
    }
}
