//! A semaphore with a short, bounded queue: at most `permits` holders at once, then at most
//! `max_waiting` requests waiting for a turn, each for at most `max_wait`. What is expensive
//! (unpacking an archive) runs a bounded number of times at once, as before; what arrives under
//! ordinary concurrency waits its turn instead of getting a 503 at once; what would pile up
//! without bound (a flood, a stalled storage) is still refused, quickly.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why no turn was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GateRefusal {
    #[error("{waiting} requests are waiting for a turn already")]
    QueueFull { waiting: usize },
    #[error("no turn came within {} ms", wait.as_millis())]
    TimedOut { wait: Duration },
    #[error("the repository is shutting down")]
    Closed,
}

pub(crate) struct Gate {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    max_wait: Duration,
}

/// Leaves the queue when dropped (a turn given, refused, or the request gone).
struct InQueue<'a>(&'a AtomicUsize);

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Gate {
    pub(crate) fn new(permits: usize, max_waiting: usize, max_wait: Duration) -> Gate {
        Gate { permits: Arc::new(Semaphore::new(permits)), waiting: AtomicUsize::new(0), max_waiting, max_wait }
    }

    /// A turn: at once when a permit is free, else after a wait in the queue (when it has room).
    pub(crate) async fn enter(&self) -> Result<OwnedSemaphorePermit, GateRefusal> {
        if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
            return Ok(permit);
        }
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _in_queue = InQueue(&self.waiting);
        if ahead >= self.max_waiting {
            return Err(GateRefusal::QueueFull { waiting: ahead });
        }
        match tokio::time::timeout(self.max_wait, Arc::clone(&self.permits).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(GateRefusal::Closed),
            Err(_) => Err(GateRefusal::TimedOut { wait: self.max_wait }),
        }
    }

    /// Requests waiting for a turn now.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_its_turn_within_the_bounds_and_is_refused_beyond_them() {
        let gate = Arc::new(Gate::new(1, 1, Duration::from_secs(60)));
        let held = gate.enter().await.unwrap();
        let waiter = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.enter().await.map(drop) }
        });
        while gate.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(gate.enter().await.err(), Some(GateRefusal::QueueFull { waiting: 1 }));
        assert_eq!(gate.waiting(), 1, "a refused request leaves the queue");
        drop(held);
        assert_eq!(waiter.await.unwrap(), Ok(()));
        assert_eq!(gate.waiting(), 0);

        let gate = Gate::new(1, 4, Duration::from_millis(10));
        let _held = gate.enter().await.unwrap();
        let refused = gate.enter().await.err();
        assert_eq!(refused, Some(GateRefusal::TimedOut { wait: Duration::from_millis(10) }));
        assert_eq!(gate.waiting(), 0);
    }
}
