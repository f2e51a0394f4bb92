//! Counts the ERROR and WARN lines logged, for `ckptd_errors_total` and
//! `ckptd_warnings_total`: a tracing layer beside the one that writes them, so every error
//! counts, whichever module logs it and whichever log format is in use.

use std::sync::atomic::{AtomicU64, Ordering};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

static ERRORS: AtomicU64 = AtomicU64::new(0);
static WARNINGS: AtomicU64 = AtomicU64::new(0);

/// The layer; `logging::init` adds it to every subscriber it installs.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogCounter;

impl<S: Subscriber> Layer<S> for LogCounter {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let counter = match *event.metadata().level() {
            Level::ERROR => &ERRORS,
            Level::WARN => &WARNINGS,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// ERROR lines logged since the process started.
pub fn errors_logged() -> u64 {
    ERRORS.load(Ordering::Relaxed)
}

/// WARN lines logged since the process started.
pub fn warnings_logged() -> u64 {
    WARNINGS.load(Ordering::Relaxed)
}
