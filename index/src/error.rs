//! Why a repository operation failed.

use chartroom_storage::StorageError;

use crate::entry::EntryError;
use crate::tenancy::Tenancy;
use crate::tenant::Tenant;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// A tenant path this server's layout does not serve (a tenant of another depth, or any
    /// tenant but the root on a single-repository server). Valid tenants without charts are
    /// served, as empty repositories.
    #[error("no repository {tenant}: {tenancy}")]
    NotServed { tenant: Tenant, tenancy: Tenancy },
    #[error("the repository is shutting down")]
    Closed,
}
