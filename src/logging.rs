//! Log setup: one event per line on stderr, with structured fields (`run`, `checkpoint`,
//! `step`, `bytes`, `metric`, `reasons`…). `CKPTD_LOG` takes a tracing filter
//! (e.g. `CKPTD_LOG=debug`); `-v` raises the default level.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber; later calls are ignored (tests may call it repeatedly).
pub fn init(format: LogFormat, verbosity: u8) {
    let default = match verbosity {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("CKPTD_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        // journald output arrives with the daemon; until then these write text.
        LogFormat::Auto | LogFormat::Text | LogFormat::Journald => builder.try_init(),
    };
}
