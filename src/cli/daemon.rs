//! `ckptd run`: loads the config, starts logging and signal forwarding, runs the daemon on a
//! single-threaded runtime (one worker owns all state; blocking filesystem work is the job).

use std::path::Path;

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::config::Config;
use crate::daemon::{self, signals, Options};

/// A tuning variable from the environment; one that does not parse is a WARN, not a silence.
fn tuning<T: std::fmt::Debug>(name: &str, default: T, parse: impl Fn(&str) -> Option<T>) -> T {
    let Ok(value) = std::env::var(name) else {
        return default;
    };
    parse(&value).unwrap_or_else(|| {
        tracing::warn!(variable = name, value = %value, "{name}={value:?} is not valid: the default {default:?} applies");
        default
    })
}

pub fn run(config_path: &Path, logging: super::Logging) -> u8 {
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(errors) => {
            errln!("{errors}");
            return EXIT_USAGE;
        }
    };
    logging.init(&config);
    let defaults = Options::default();
    let options = Options {
        event_queue: tuning("CKPTD_EVENT_QUEUE", defaults.event_queue, |v| {
            v.parse().ok().filter(|n| *n > 0)
        }),
        trash_retry: tuning("CKPTD_TRASH_RETRY", defaults.trash_retry, |v| {
            humantime::parse_duration(v).ok()
        }),
        deletion_slice: tuning("CKPTD_DELETION_SLICE", defaults.deletion_slice, |v| {
            humantime::parse_duration(v).ok()
        }),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime: {e}");
            return EXIT_FAILED;
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let (trigger, shutdown) = crate::shutdown::channel();
    if let Err(e) = signals::forward(tx, trigger) {
        tracing::error!(error = %e, "cannot install signal handlers: {e}");
        return EXIT_FAILED;
    }
    let config_path = std::path::absolute(config_path).unwrap_or_else(|_| config_path.to_owned());
    match runtime.block_on(daemon::run(config, config_path, rx, shutdown, options)) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            tracing::error!(error = %e, "ckptd stopped");
            errln!("ckptd: {e}");
            EXIT_FAILED
        }
    }
}
