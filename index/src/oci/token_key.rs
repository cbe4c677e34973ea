//! The signing key of the registry tokens (`/v2/token`), shared by every replica through
//! storage: 32 random bytes at `.chartroom/oci/token-key` of the root, written create-only by
//! the first replica that needs it, read by the others. Whoever can read the store can forge
//! tokens, as whoever can write it can replace charts: the store is trusted either way.

use bytes::Bytes;
use chartroom_storage::StorageError;

use super::error::OciError;
use crate::repo::Repository;

const KEY: [&str; 1] = ["token-key"];
const KEY_LEN: usize = 32;

impl Repository {
    /// The registry-token key, created on first use.
    pub async fn oci_token_key(&self) -> Result<Vec<u8>, OciError> {
        let root = self.oci_root();
        if let Some(key) = root.oci_read(&KEY).await? {
            return checked(key);
        }
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key).map_err(|e| OciError::Internal(format!("no randomness for the token key: {e}")))?;
        match root.oci_put(&KEY, Bytes::copy_from_slice(&key), true).await {
            Ok(_) => Ok(key.to_vec()),
            // Another replica wrote it first: theirs is the key.
            Err(StorageError::AlreadyExists(_)) => match root.oci_read(&KEY).await? {
                Some(key) => checked(key),
                None => Err(OciError::Internal("the token key vanished".into())),
            },
            Err(e) => Err(e.into()),
        }
    }
}

fn checked(key: Bytes) -> Result<Vec<u8>, OciError> {
    if key.len() < KEY_LEN {
        return Err(OciError::Internal(format!("the token key in storage is {} bytes, not {KEY_LEN}", key.len())));
    }
    Ok(key.to_vec())
}

#[cfg(test)]
mod tests {
    use crate::options::RepoOptions;
    use crate::repo::Repository;
    use chartroom_storage::Storage;

    #[tokio::test]
    async fn replicas_share_one_key() {
        let storage = Storage::memory();
        let options = RepoOptions { poll_interval: None, ..RepoOptions::default() };
        let (a, _) = Repository::open(storage.clone(), options.clone()).await.unwrap();
        let (b, _) = Repository::open(storage, options).await.unwrap();
        let key = a.oci_token_key().await.unwrap();
        assert_eq!(key.len(), 32);
        assert_eq!(b.oci_token_key().await.unwrap(), key);
        assert_eq!(a.oci_token_key().await.unwrap(), key);
    }
}
