//! Why a repository operation failed.

use chartroom_storage::StorageError;

use crate::entry::EntryError;
use crate::tenant::Tenant;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// A tenant this server does not serve.
    #[error("no repository {0}")]
    UnknownTenant(Tenant),
    #[error("the repository is shutting down")]
    Closed,
}
