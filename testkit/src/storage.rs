//! Where a [`crate::Server`] keeps its charts, and the suite-wide choice between local storage
//! and S3 (`CHARTROOM_E2E_STORAGE`).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::s3::S3Server;

/// The bucket of the S3 target [`crate::Server::start`] creates in `CHARTROOM_E2E_STORAGE=s3`
/// mode.
pub const E2E_S3_BUCKET: &str = "chartroom-e2e";
/// The prefix every server started by [`crate::Server::start`] in `s3` mode uses, so that prefix
/// handling is exercised by the whole suite.
pub const E2E_S3_PREFIX: &str = "charts";

/// The storage the suite runs against: `CHARTROOM_E2E_STORAGE` = `local` (default) or `s3`.
/// Any other value fails the test.
pub fn e2e_storage() -> &'static str {
    static MODE: OnceLock<&'static str> = OnceLock::new();
    MODE.get_or_init(|| match std::env::var("CHARTROOM_E2E_STORAGE").as_deref() {
        Err(_) | Ok("") | Ok("local") => "local",
        Ok("s3") => "s3",
        Ok(other) => panic!("CHARTROOM_E2E_STORAGE must be `local` or `s3`, not {other:?}"),
    })
}

/// Where a [`crate::Server`] keeps its charts.
#[derive(Clone)]
pub enum StorageTarget {
    /// `--storage local` on the `storage/` folder of the server's temporary folder.
    Local,
    /// `--storage local` on this folder, which outlives the server (a benchmark's prepared
    /// repository).
    LocalDir(PathBuf),
    /// `--storage amazon` on `bucket` of `s3` under `prefix` (no leading or trailing `/`;
    /// empty for none), with the ChartMuseum environment variables.
    S3 { s3: Arc<S3Server>, bucket: String, prefix: String },
}

impl StorageTarget {
    /// What [`crate::Server::start`] uses: [`StorageTarget::Local`], or with
    /// `CHARTROOM_E2E_STORAGE=s3` a fresh s3s-fs with bucket [`E2E_S3_BUCKET`] and prefix
    /// [`E2E_S3_PREFIX`].
    pub fn from_env() -> StorageTarget {
        match e2e_storage() {
            "s3" => StorageTarget::fresh_s3(E2E_S3_PREFIX),
            _ => StorageTarget::Local,
        }
    }

    /// A new s3s-fs server with one new bucket ([`E2E_S3_BUCKET`]), used with `prefix`.
    pub fn fresh_s3(prefix: &str) -> StorageTarget {
        let s3 = S3Server::start();
        s3.create_bucket(E2E_S3_BUCKET);
        StorageTarget::S3 { s3, bucket: E2E_S3_BUCKET.to_owned(), prefix: prefix.to_owned() }
    }

    /// The S3 server of an S3 target.
    pub fn s3(&self) -> Option<&Arc<S3Server>> {
        match self {
            StorageTarget::Local | StorageTarget::LocalDir(_) => None,
            StorageTarget::S3 { s3, .. } => Some(s3),
        }
    }
}

impl std::fmt::Debug for StorageTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageTarget::Local => f.write_str("local"),
            StorageTarget::LocalDir(dir) => write!(f, "local {}", dir.display()),
            StorageTarget::S3 { s3, bucket, prefix } => {
                write!(f, "s3 {} bucket {bucket:?} prefix {prefix:?} (root {})", s3.endpoint(), s3.root().display())
            }
        }
    }
}
