//! Signals as an input: SIGHUP becomes `Reload`, sent on a channel the daemon selects on;
//! SIGTERM and SIGINT stop it through the one [`Trigger`] (see `shutdown`), which a pass in
//! progress also sees, so it stops after the deletion in flight.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tokio::sync::mpsc;

use crate::shutdown::Trigger;

/// What a signal asks of the daemon, besides stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Reload,
}

/// Forwards SIGHUP/SIGTERM/SIGINT from a dedicated thread.
pub fn forward(tx: mpsc::Sender<Control>, shutdown: Trigger) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGHUP, SIGTERM, SIGINT])?;
    std::thread::Builder::new()
        .name("ckptd-signals".to_owned())
        .spawn(move || {
            for signal in signals.forever() {
                if signal == SIGHUP {
                    // A full queue already holds a reload, which reads the newest config.
                    let _ = tx.try_send(Control::Reload);
                } else {
                    shutdown.stop();
                }
            }
        })?;
    Ok(())
}
