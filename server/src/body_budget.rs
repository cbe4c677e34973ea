//! The upload memory budget (`--max-upload-memory`): every request body that is buffered whole
//! (chart and provenance uploads, OCI blobs, chunks and manifests) is counted against one total
//! while it is read and until its request is answered. Without it, memory grew with
//! `--max-upload-size` × connections.
//!
//! A body that does not fit gets 503 with `Retry-After` at once, before it is read (a declared
//! `Content-Length` is reserved in full first), or as soon as a body without a declared length
//! outgrows what is left. Refusing rather than queueing keeps a waiting client from holding a
//! connection and a half-read body, and tells it plainly when to come back.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget is counted in units of this many bytes (a semaphore takes at most `u32` permits
/// per call; KiB units cover bodies up to 4 TiB).
const UNIT: u64 = 1024;

/// A body of unknown length reserves ahead in steps of this size (fewer semaphore calls).
const STEP: u64 = 256 * 1024;

/// The total, shared by every request of the server.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    permits: Arc<Semaphore>,
    bytes: u64,
}

/// A body did not fit: what the 503 says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetFull {
    /// The budget, in bytes.
    pub budget: u64,
}

/// The share of the budget one request holds; given back when dropped (the request answered,
/// failed or cancelled).
#[derive(Debug, Default)]
pub struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
    bytes: u64,
}

impl BodyBudget {
    /// A budget of `bytes` (rounded up to whole KiB).
    pub fn new(bytes: u64) -> BodyBudget {
        let units = bytes.div_ceil(UNIT).min(Semaphore::MAX_PERMITS as u64) as usize;
        BodyBudget { permits: Arc::new(Semaphore::new(units)), bytes }
    }

    /// Bytes not reserved now.
    #[cfg(test)]
    pub fn available(&self) -> u64 {
        self.permits.available_permits() as u64 * UNIT
    }

    /// Grows `held` to cover at least `needed` bytes (a body read so far, or declared), up to
    /// `limit` (the largest body allowed): more than needed for a body of unknown length, so
    /// that not every frame asks again.
    pub fn cover(&self, held: &mut Reservation, needed: u64, limit: u64, ahead: bool) -> Result<(), BudgetFull> {
        if needed <= held.bytes {
            return Ok(());
        }
        let target = if ahead { needed.saturating_add(STEP).min(limit.max(needed)) } else { needed };
        let more = target.div_ceil(UNIT) - held.bytes.div_ceil(UNIT);
        let more = u32::try_from(more).map_err(|_| BudgetFull { budget: self.bytes })?;
        let permit =
            Arc::clone(&self.permits).try_acquire_many_owned(more).map_err(|_| BudgetFull { budget: self.bytes })?;
        match held.permit.as_mut() {
            Some(existing) => existing.merge(permit),
            None => held.permit = Some(permit),
        }
        held.bytes = target.div_ceil(UNIT) * UNIT;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_bounded_and_given_back() {
        let budget = BodyBudget::new(1024 * 1024);
        let mut a = Reservation::default();
        budget.cover(&mut a, 600 * 1024, 1 << 30, false).unwrap();
        assert_eq!(budget.available(), 424 * 1024);
        let mut b = Reservation::default();
        assert_eq!(budget.cover(&mut b, 500 * 1024, 1 << 30, false), Err(BudgetFull { budget: 1024 * 1024 }));
        // A refused reservation takes nothing.
        assert_eq!(budget.available(), 424 * 1024);
        budget.cover(&mut b, 400 * 1024, 1 << 30, false).unwrap();
        // Growing an existing reservation takes only the difference.
        budget.cover(&mut a, 610 * 1024, 610 * 1024, true).unwrap();
        assert_eq!(budget.available(), 14 * 1024);
        drop(a);
        assert_eq!(budget.available(), 624 * 1024);
        drop(b);
        assert_eq!(budget.available(), 1024 * 1024);
    }

    #[test]
    fn unknown_lengths_reserve_ahead_but_never_past_the_limit() {
        let budget = BodyBudget::new(10 * 1024 * 1024);
        let mut r = Reservation::default();
        budget.cover(&mut r, 1, 100 * 1024, true).unwrap();
        assert_eq!(budget.available(), 10 * 1024 * 1024 - 100 * 1024);
        budget.cover(&mut r, 50 * 1024, 100 * 1024, true).unwrap();
        assert_eq!(budget.available(), 10 * 1024 * 1024 - 100 * 1024);
    }
}
