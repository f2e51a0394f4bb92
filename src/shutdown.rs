//! The one source of truth for "ckptd is stopping": SIGTERM or SIGINT set it (from the signal
//! thread), the daemon's loop wakes on it, and a pass checks it between deletions, so the
//! deletion in flight finishes and the next one is never started.

use tokio::sync::watch;

/// Sets the shutdown; held by whoever turns signals into it.
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

/// Tells whether shutdown was asked for, and waits for it.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A new shutdown, not yet asked for, and its trigger.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    /// Asks every holder of the [`Shutdown`] to stop. Callable from any thread, sync.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    /// One that is never asked for: one-shot commands stop when their work is done.
    pub fn never() -> Self {
        channel().1
    }

    /// Whether shutdown was asked for.
    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Returns once shutdown is asked for; never, if its trigger is gone without asking.
    pub async fn wait(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
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
        assert!(!Shutdown::never().requested());
    }
}
