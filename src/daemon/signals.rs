//! Signals as an input: SIGHUP becomes `Reload`, SIGTERM and SIGINT become `Shutdown`, sent on
//! a channel the daemon selects on (tests send their own). `stopping` is also set at once, so
//! a pass in progress stops after the deletion in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tokio::sync::mpsc;

/// What a signal asks of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Reload,
    Shutdown,
}

/// Forwards SIGHUP/SIGTERM/SIGINT from a dedicated thread.
pub fn forward(tx: mpsc::Sender<Control>, stopping: Arc<AtomicBool>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGHUP, SIGTERM, SIGINT])?;
    std::thread::Builder::new()
        .name("ckptd-signals".to_owned())
        .spawn(move || {
            for signal in signals.forever() {
                let control = if signal == SIGHUP {
                    Control::Reload
                } else {
                    stopping.store(true, Ordering::SeqCst);
                    Control::Shutdown
                };
                if tx.blocking_send(control).is_err() {
                    break;
                }
            }
        })?;
    Ok(())
}
