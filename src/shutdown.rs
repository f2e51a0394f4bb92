//! The one source of truth for "ckptd is stopping": SIGTERM or SIGINT set it (from the signal
//! thread), the daemon's loop wakes on it, and a pass checks it between deletions, so the
//! deletion in flight finishes and the next one is never started.

use tokio::sync::watch;

/// Sets the shutdown; held by whoever turns signals into it.
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

/// Tells whether shutdown was asked for, and waits for it.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
    /// For [`Shutdown::never`]: a trigger nobody can pull, kept so that it is never dropped.
    _never: Option<std::sync::Arc<Trigger>>,
}

/// A new shutdown, not yet asked for, and its trigger.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown { rx, _never: None })
}

impl Trigger {
    /// Asks every holder of the [`Shutdown`] to stop. Callable from any thread, sync.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

/// Stops on SIGINT or SIGTERM, from a thread of its own (one-shot commands; the daemon's
/// `signals::forward` also turns SIGHUP into a reload).
pub fn stop_on_signals(trigger: Trigger) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("ckptd-signals".to_owned())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                tracing::warn!(
                    signal,
                    "interrupted: the deletion in flight finishes, no other is started"
                );
                trigger.stop();
            }
        })?;
    Ok(())
}

impl Shutdown {
    /// One that is never asked for: one-shot commands stop when their work is done.
    pub fn never() -> Self {
        let (trigger, shutdown) = channel();
        Self {
            _never: Some(std::sync::Arc::new(trigger)),
            ..shutdown
        }
    }

    /// Whether shutdown was asked for, or can no longer be (its trigger is gone: the signal
    /// thread died, so SIGTERM would never be seen; stopping cleanly beats being killed).
    pub fn requested(&self) -> bool {
        *self.rx.borrow() || self.rx.has_changed().is_err()
    }

    /// Returns once shutdown is asked for, or its trigger is gone.
    pub async fn wait(&mut self) {
        let _ = self.rx.wait_for(|stop| *stop).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stopping_is_seen_by_every_holder_and_wakes_a_waiter() {
        let (trigger, shutdown) = channel();
        let mut waiter = shutdown.clone();
        assert!(!shutdown.requested());
        let waiting = tokio::spawn(async move { waiter.wait().await });
        std::thread::spawn(move || trigger.stop()).join().unwrap();
        waiting.await.unwrap();
        assert!(shutdown.requested());
        let never = Shutdown::never();
        assert!(!never.requested());
        assert!(!never.clone().requested());
    }

    #[tokio::test]
    async fn a_trigger_gone_without_stopping_stops_rather_than_never() {
        let (trigger, mut shutdown) = channel();
        drop(trigger);
        assert!(shutdown.requested());
        shutdown.wait().await;
    }
}
