//! A short-lived, bounded cache of successful password verifications, so that a burst of
//! requests (`helm repo update` on many repositories, parallel chart downloads) pays for bcrypt or
//! argon2 once rather than on every request.
//!
//! Entries are keyed by a keyed SHA-256 of (user, password, stored hash): the cache never holds a
//! password, its key is useless without the per-process random key, and a changed hash (after a
//! reload) never matches an old entry. Only successes are cached.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Size and lifetime of the verification cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// How long a successful verification is reused.
    pub ttl: Duration,
    /// Most entries kept; the oldest goes first when full. 0 disables the cache.
    pub capacity: usize,
}

impl Default for CacheSettings {
    fn default() -> CacheSettings {
        CacheSettings { ttl: Duration::from_secs(30), capacity: 4096 }
    }
}

pub(crate) type CacheKey = [u8; 32];

pub(crate) struct VerificationCache {
    settings: CacheSettings,
    secret: [u8; 32],
    entries: Mutex<HashMap<CacheKey, Instant>>,
}

impl VerificationCache {
    pub(crate) fn new(settings: CacheSettings) -> VerificationCache {
        let mut secret = [0u8; 32];
        // Without OS randomness the key is still unique to this value's address and start time;
        // the cache stays correct, only less opaque in a memory dump.
        if getrandom::fill(&mut secret).is_err() {
            let fallback = Sha256::digest(format!("{:?}{:p}", Instant::now(), &secret));
            secret.copy_from_slice(&fallback);
        }
        VerificationCache { settings, secret, entries: Mutex::new(HashMap::new()) }
    }

    /// The key of one (user, password, stored hash) triple. Each part is length-prefixed so that
    /// no two triples share an encoding.
    pub(crate) fn key(&self, user: &str, password: &[u8], stored_hash: &str) -> CacheKey {
        let mut hasher = Sha256::new();
        hasher.update(self.secret);
        for part in [user.as_bytes(), password, stored_hash.as_bytes()] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        hasher.finalize().into()
    }

    /// Whether `key` was verified less than the TTL ago.
    pub(crate) fn hit(&self, key: &CacheKey) -> bool {
        self.hit_at(key, Instant::now())
    }

    fn hit_at(&self, key: &CacheKey, now: Instant) -> bool {
        let Ok(entries) = self.entries.lock() else { return false };
        entries.get(key).is_some_and(|at| now.saturating_duration_since(*at) < self.settings.ttl)
    }

    /// Records a successful verification.
    pub(crate) fn insert(&self, key: CacheKey) {
        self.insert_at(key, Instant::now());
    }

    fn insert_at(&self, key: CacheKey, now: Instant) {
        if self.settings.capacity == 0 {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.len() >= self.settings.capacity && !entries.contains_key(&key) {
            let ttl = self.settings.ttl;
            entries.retain(|_, at| now.saturating_duration_since(*at) < ttl);
            if entries.len() >= self.settings.capacity {
                // Still full of live entries: drop the oldest. O(n), but only after a slow hash
                // verification, so it never dominates.
                if let Some(oldest) = entries.iter().min_by_key(|(_, at)| **at).map(|(k, _)| *k) {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(key, now);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_until_the_ttl_then_misses() {
        let ttl = Duration::from_secs(30);
        let cache = VerificationCache::new(CacheSettings { ttl, capacity: 8 });
        let key = cache.key("alice", b"pw", "$2y$...");
        let t0 = Instant::now();
        assert!(!cache.hit_at(&key, t0));
        cache.insert_at(key, t0);
        assert!(cache.hit_at(&key, t0 + ttl - Duration::from_millis(1)));
        assert!(!cache.hit_at(&key, t0 + ttl), "an entry as old as the TTL is not reused");
    }

    #[test]
    fn keys_separate_every_part() {
        let cache = VerificationCache::new(CacheSettings::default());
        let base = cache.key("alice", b"pw", "h");
        assert_ne!(base, cache.key("alice", b"pw", "h2"), "a changed stored hash misses");
        assert_ne!(base, cache.key("alicep", b"w", "h"), "parts are length-prefixed");
        assert_ne!(base, cache.key("alice", b"pw2", "h"));
        let other = VerificationCache::new(CacheSettings::default());
        assert_ne!(base, other.key("alice", b"pw", "h"), "the key is secret per cache");
    }

    #[test]
    fn stays_within_capacity_dropping_expired_then_oldest() {
        let ttl = Duration::from_secs(60);
        let cache = VerificationCache::new(CacheSettings { ttl, capacity: 3 });
        let keys: Vec<_> = (0..6).map(|i| cache.key(&format!("u{i}"), b"p", "h")).collect();
        let t0 = Instant::now();
        let at = |seconds: u64| t0 + Duration::from_secs(seconds);
        for (i, key) in keys.iter().take(5).enumerate() {
            cache.insert_at(*key, at(i as u64));
        }
        assert_eq!(cache.len(), 3);
        assert!(!cache.hit_at(&keys[0], at(5)) && !cache.hit_at(&keys[1], at(5)), "oldest dropped");
        assert!(keys[2..5].iter().all(|k| cache.hit_at(k, at(5))));
        // Much later everything has expired: inserting sweeps the expired entries first.
        cache.insert_at(keys[5], at(200));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn capacity_zero_disables() {
        let cache = VerificationCache::new(CacheSettings { ttl: Duration::from_secs(60), capacity: 0 });
        let key = cache.key("a", b"b", "c");
        cache.insert(key);
        assert!(!cache.hit(&key));
    }
}
