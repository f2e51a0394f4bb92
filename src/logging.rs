//! Log setup: one event per line, with structured fields (`run`, `checkpoint`, `step`,
//! `bytes`, `metric`, `reasons`…).
//!
//! Formats: `text` and `json` on stderr; `journald` sends the fields natively with the prefix
//! `CKPTD_` (`journalctl -u ckptd CKPTD_RUN=/data/runs/x`); `auto` picks journald when stderr
//! is the journal (systemd sets `JOURNAL_STREAM` to its device and inode), else text.
//! `CKPTD_LOG` takes a tracing filter (e.g. `CKPTD_LOG=debug`); `-v` raises the default level.
//! Text lines escape control characters and are cut at 2 KiB (`log_line`).

use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
// Counts ERRORs and WARNs for the daemon's metrics, whatever the format.
use crate::prometheus::LogCounter;

/// Libraries whose own lines are kept to errors unless `CKPTD_LOG` names them: notify's
/// internal WARNs (`Unable to remove the path from the watches` when a watched checkpoint is
/// deleted), and object_store's and its HTTP stack's line per retried request (the upload's
/// outcome is ckptd's own line, with the run and checkpoint it concerns).
const QUIET: [&str; 6] = [
    "notify",
    "object_store",
    "reqwest",
    "hyper",
    "hyper_util",
    "h2",
];

/// `CKPTD_LOG` as given, with the [`QUIET`] libraries it does not name kept to errors: a
/// `CKPTD_LOG=info` set for ckptd's lines should not bring their internal lines back.
fn with_quiet_notify(wanted: &str) -> String {
    let mut filter = wanted.to_owned();
    for library in QUIET {
        let named = wanted
            .split(',')
            .any(|d| d.split('=').next().is_some_and(|t| t.trim() == library));
        if !named {
            filter.push(',');
            filter.push_str(library);
            filter.push_str("=error");
        }
    }
    filter
}

/// Installs the global subscriber; later calls are ignored.
pub fn init(format: LogFormat, verbosity: u8) {
    // notify's own log lines (a watch removed twice when a run directory is deleted) are
    // internal noise in Debug format without a run; its errors still show.
    let default = match verbosity {
        0 => with_quiet_notify("info"),
        1 => with_quiet_notify("debug"),
        _ => "trace".to_owned(),
    };
    let filter = || match std::env::var("CKPTD_LOG") {
        Ok(wanted) => EnvFilter::try_new(with_quiet_notify(&wanted))
            .unwrap_or_else(|_| EnvFilter::new(&default)),
        Err(_) => EnvFilter::new(&default),
    };
    let format = match format {
        LogFormat::Auto if stderr_is_journal() => LogFormat::Journald,
        LogFormat::Auto => LogFormat::Text,
        other => other,
    };
    if format == LogFormat::Journald {
        match tracing_journald::layer() {
            Ok(layer) => {
                let layer = layer
                    .with_field_prefix(Some("CKPTD".to_owned()))
                    .with_syslog_identifier("ckptd".to_owned());
                let _ = tracing_subscriber::registry()
                    .with(filter())
                    .with(layer)
                    .with(LogCounter)
                    .try_init();
                return;
            }
            Err(e) => {
                // Not `eprintln!`: a closed stderr must not stop the daemon.
                let _ = writeln!(
                    std::io::stderr(),
                    "ckptd: journald unavailable ({e}); logging text to stderr"
                );
            }
        }
    }
    let ansi = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_ansi(ansi)
        .with_target(false);
    let _ = match format {
        // JSON escapes every control character itself.
        LogFormat::Json => builder
            .with_writer(|| crate::log_line::CountingStderr)
            .json()
            .flatten_event(true)
            .finish()
            .with(LogCounter)
            .try_init(),
        // Text: one line per event, whatever a name holds (see `log_line`), and the detail
        // once: the message already says it, and repeated as a field it doubled the line.
        _ => builder
            .fmt_fields(text_fields())
            .with_writer(move || crate::log_line::SafeStderr { keep_ansi: ansi })
            .finish()
            .with(LogCounter)
            .try_init(),
    };
}

/// Fields as text lines show them: the message, then ` name=value` for each field but those
/// the message already says (`detail`). JSON and the journal keep every field.
fn text_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| match field.name() {
        "message" => write!(writer, "{value:?}"),
        IN_THE_MESSAGE => Ok(()),
        name => write!(writer, " {name}={value:?}"),
    })
}

/// The field whose text every message that has it already carries.
const IN_THE_MESSAGE: &str = "detail";

/// True when stderr is the journal stream systemd connected (`JOURNAL_STREAM=dev:inode`).
fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let Ok(stat) = rustix::fs::fstat(std::io::stderr().as_fd()) else {
        return false;
    };
    dev.parse::<u64>().is_ok_and(|d| d == stat.st_dev)
        && ino.parse::<u64>().is_ok_and(|i| i == stat.st_ino)
}

#[cfg(test)]
mod quiet_notify_tests {
    use super::with_quiet_notify;

    #[test]
    fn a_filter_that_does_not_name_notify_keeps_it_to_errors() {
        let quiet =
            ",notify=error,object_store=error,reqwest=error,hyper=error,hyper_util=error,h2=error";
        assert_eq!(with_quiet_notify("info"), format!("info{quiet}"));
        assert_eq!(
            with_quiet_notify("ckptd=debug"),
            format!("ckptd=debug{quiet}")
        );
        assert_eq!(
            with_quiet_notify("debug,notify=warn,object_store=info"),
            "debug,notify=warn,object_store=info,reqwest=error,hyper=error,hyper_util=error,h2=error"
        );
    }
}
