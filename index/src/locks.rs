//! Per-key locks of the write path.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::tenant::Tenant;

/// Serializes the writes to one chart version (upload, provenance upload, delete), so that its
/// files in storage and its index entry change together. Striped: bounded memory, no cleanup.
/// Replicas do not share these locks; across replicas, create-only writes decide.
pub(crate) struct KeyLocks {
    stripes: Vec<Arc<Mutex<()>>>,
}

impl Default for KeyLocks {
    fn default() -> Self {
        Self { stripes: (0..256).map(|_| Arc::new(Mutex::new(()))).collect() }
    }
}

impl KeyLocks {
    /// Locks `file` of `tenant`'s repository until the guard is dropped.
    pub(crate) async fn lock(&self, tenant: &Tenant, file: &str) -> OwnedMutexGuard<()> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (tenant, file).hash(&mut h);
        let stripe = (h.finish() as usize) % self.stripes.len();
        Arc::clone(&self.stripes[stripe]).lock_owned().await
    }
}
