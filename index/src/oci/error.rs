//! Why an OCI operation failed, in the distribution spec's terms (the server maps each to its
//! error code and status).

use crate::error::RepoError;
use crate::publish::{PublishError, UnpublishError};
use chartroom_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The repository has no chart and no artifact.
    #[error("repository {0} is not known")]
    NameUnknown(String),
    #[error("manifest {reference} is not known in repository {repository}")]
    ManifestUnknown { repository: String, reference: String },
    #[error("blob {digest} is not known in repository {repository}")]
    BlobUnknown { repository: String, digest: String },
    /// A digest that is not `sha256:<hex>`, or content that does not hash to the digest given.
    #[error("{0}")]
    DigestInvalid(String),
    #[error("{0}")]
    ManifestInvalid(String),
    #[error("manifest references blob {0}, which is not in the repository")]
    ManifestBlobUnknown(String),
    #[error("upload {0} is not known (finished, cancelled, expired or never started)")]
    UploadUnknown(String),
    #[error("{0}")]
    UploadInvalid(String),
    /// A chunk that does not start where the upload stands (416 with the current range).
    #[error("chunk starts at byte {got}, the upload has {size} bytes")]
    ChunkOutOfOrder { got: u64, size: u64 },
    /// A `Range` request outside the blob.
    #[error("range {0} cannot be satisfied for a blob of {1} bytes")]
    RangeNotSatisfiable(String, u64),
    /// The upload would exceed `--max-upload-size`.
    #[error("upload larger than the limit of {0} bytes (--max-upload-size / MAX_UPLOAD_SIZE)")]
    TooLarge(u64),
    #[error("{0}")]
    TooManyUploads(String),
    #[error("{0}")]
    Unsupported(String),
    /// The chart version exists and the overwrite policy keeps it.
    #[error("{0} already exists and charts are not overwritten (ALLOW_OVERWRITE is off)")]
    ChartExists(String),
    #[error(transparent)]
    Publish(PublishError),
    #[error(transparent)]
    Unpublish(UnpublishError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("{0}")]
    Internal(String),
}

impl From<StorageError> for OciError {
    fn from(err: StorageError) -> Self {
        OciError::Repo(err.into())
    }
}

impl From<PublishError> for OciError {
    fn from(err: PublishError) -> Self {
        match err {
            PublishError::Exists(file) => OciError::ChartExists(file),
            other => OciError::Publish(other),
        }
    }
}

impl From<UnpublishError> for OciError {
    fn from(err: UnpublishError) -> Self {
        match err {
            UnpublishError::Repo(e) => OciError::Repo(e),
            other => OciError::Unpublish(other),
        }
    }
}
