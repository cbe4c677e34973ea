//! Storage writes and deletes settled by looking: when a call's answer is an error, what
//! storage holds decides whether it happened (a timeout or a reset connection after the change
//! committed is not a failure).

use bytes::Bytes;
use chartroom_storage::{ObjectInfo, Storage, StorageError};

/// Writes create-only, or replacing when the policy allows it for this request.
pub(crate) async fn write(
    storage: &Storage,
    file: &str,
    data: Bytes,
    overwrite: bool,
) -> Result<ObjectInfo, StorageError> {
    if overwrite { storage.put_replace(file, data).await } else { storage.put_new(file, data).await }
}

/// [`write`], and when it fails, what storage holds decides (one GET): a write whose answer was
/// lost after the object was stored (a timeout, a reset connection) holds these very bytes, and
/// is done. With `adopt`, so is a create-only write that finds these bytes already stored (an
/// earlier attempt of the same request whose answer was lost).
pub(crate) async fn write_settled(
    storage: &Storage,
    file: &str,
    data: Bytes,
    overwrite: bool,
    adopt: bool,
) -> Result<ObjectInfo, StorageError> {
    let error = match write(storage, file, data.clone(), overwrite).await {
        Ok(info) => return Ok(info),
        Err(StorageError::AlreadyExists(f)) if !adopt => return Err(StorageError::AlreadyExists(f)),
        Err(e) => e,
    };
    match storage.read_with_info(file).await {
        Ok((info, stored)) if stored == data => {
            tracing::info!(%file, error = %error, "the write failed, but storage holds these bytes: done");
            Ok(info)
        }
        _ => Err(error),
    }
}

/// Deletes `file`; when the answer is an error, a HEAD decides (one request): a delete whose
/// answer was lost after the object went is done. [`StorageError::NotFound`] when there was
/// nothing to delete.
pub(crate) async fn delete_settled(storage: &Storage, file: &str) -> Result<(), StorageError> {
    match storage.delete(file).await {
        Ok(()) => Ok(()),
        Err(StorageError::NotFound(f)) => Err(StorageError::NotFound(f)),
        Err(e) => match storage.head(file).await {
            Err(StorageError::NotFound(_)) => {
                tracing::info!(%file, error = %e, "the delete failed, but the object is gone: done");
                Ok(())
            }
            _ => Err(e),
        },
    }
}
