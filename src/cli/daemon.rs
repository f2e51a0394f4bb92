//! `ckptd run`: loads the config, starts logging and signal forwarding, runs the daemon on a
//! single-threaded runtime (one worker owns all state; blocking filesystem work is the job).

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::config::Config;
use crate::daemon::{self, signals, Options};

pub fn run(config_path: &Path, verbosity: u8) -> u8 {
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return EXIT_USAGE;
        }
    };
    crate::logging::init(config.daemon.log_format, verbosity);
    let defaults = Options::default();
    let options = Options {
        event_queue: std::env::var("CKPTD_EVENT_QUEUE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(defaults.event_queue),
        trash_retry: std::env::var("CKPTD_TRASH_RETRY")
            .ok()
            .and_then(|v| humantime::parse_duration(&v).ok())
            .unwrap_or(defaults.trash_retry),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return EXIT_FAILED;
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let stopping = Arc::new(AtomicBool::new(false));
    if let Err(e) = signals::forward(tx, Arc::clone(&stopping)) {
        tracing::error!(error = %e, "cannot install signal handlers");
        return EXIT_FAILED;
    }
    let config_path = std::path::absolute(config_path).unwrap_or_else(|_| config_path.to_owned());
    match runtime.block_on(daemon::run(config, config_path, rx, stopping, options)) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            tracing::error!(error = %e, "ckptd stopped");
            eprintln!("ckptd: {e}");
            EXIT_FAILED
        }
    }
}
