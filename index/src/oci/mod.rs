//! OCI distribution on the same store: one catalogue served through both protocols.
//!
//! * An OCI repository is `<tenant>/<chart name>`; a tag is a chart version with `+` written `_`.
//! * The chart layer of a chart manifest *is* the tenant's `<name>-<version>.tgz`; for a chart
//!   that arrived by HTTP the config blob and the manifest are derived from its index entry
//!   (`derive`: the bytes `helm push` writes, `created` from the entry, so every replica derives
//!   the same digest). A manifest pushed by a client is kept byte for byte and served instead.
//! * Everything else lives under `.chartroom/oci/` (`chartroom_storage::OCI_DIR`):
//!   - `<prefix>/.chartroom/oci/blobs/sha256/<hex>`: every pushed blob but chart layers, once
//!     (deduplicated across repositories); a repository sees a stored blob through a link,
//!     `<tenant>/.chartroom/oci/<name>/blobs/<hex>` (empty object);
//!   - `<tenant>/.chartroom/oci/<name>/manifests/<hex>`: pushed manifests by digest;
//!     `charts/<tag>`: the pushed manifest of a chart version; `tags/<tag>`: the digest a
//!     non-chart tag points at; `referrers/<first 32 hex of the subject>/<hex>`: manifests with a `subject`;
//!   - `<prefix>/.chartroom/oci/uploads/<id>/`: upload sessions (`uploads`).
//!
//! Every write of a chart goes through [`Repository::publish`](crate::Repository::publish) and
//! every delete through `unpublish`: validation, the overwrite policy, locks, the index and the
//! change log are the HTTP API's.

mod cleanup;
mod derive;
mod digest;
mod error;
mod manifest;
mod registry;
mod token_key;
mod uploads;

pub use derive::{DerivedManifest, derive_manifest};
pub use digest::{Digest, DigestError};
pub use error::OciError;
pub use manifest::{BlobRef, MAX_MANIFEST_SIZE, PushedManifest, Reference};
pub use registry::{BlobBody, BlobInfo, ManifestPut, OciManifest};
pub use uploads::{UploadLimits, UploadStatus, Uploads};

/// Media types of Helm charts in OCI registries (`helm/helm:pkg/registry/constants.go`).
pub mod media {
    use chartroom_chart::oci;
    pub const IMAGE_MANIFEST: &str = oci::MANIFEST_MEDIA_TYPE;
    pub const IMAGE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const HELM_CONFIG: &str = oci::CONFIG_MEDIA_TYPE;
    pub const HELM_CHART: &str = oci::CHART_LAYER_MEDIA_TYPE;
    /// Charts pushed by Helm before 3.8 (still accepted on pull).
    pub const HELM_CHART_LEGACY: &str = oci::LEGACY_CHART_LAYER_MEDIA_TYPE;
    pub const HELM_PROVENANCE: &str = oci::PROVENANCE_LAYER_MEDIA_TYPE;
}

/// The tag of a chart version: `+` is not allowed in tags, Helm writes `_` instead.
pub fn tag_of_version(version: &str) -> String {
    version.replace('+', "_")
}

/// The chart version a tag stands for (Helm's reverse mapping).
pub fn version_of_tag(tag: &str) -> String {
    tag.replace('_', "+")
}

/// Whether `name` is a valid last component of an OCI repository name (distribution spec:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`).
pub fn is_valid_name_component(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || !is_alnum(bytes[0]) || !is_alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if is_alnum(b) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or one or more `-`, between alphanumerics.
        let start = i;
        while i < bytes.len() && !is_alnum(bytes[i]) {
            i += 1;
        }
        let sep = &name[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Whether `tag` is a valid tag (distribution spec: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`).
pub fn is_valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_components() {
        for good in ["a", "demo", "my-chart", "my--chart", "a.b", "a_b", "a__b", "x1-2.3_4"] {
            assert!(is_valid_name_component(good), "{good}");
        }
        for bad in ["", "A", "Demo", "-a", "a-", "a..b", "a___b", "a._b", "a/b", "a b", ".a"] {
            assert!(!is_valid_name_component(bad), "{bad}");
        }
    }

    #[test]
    fn tags() {
        for good in ["1.0.0", "1.0.0_build.1", "latest", "_x", "1.0.0-rc.1"] {
            assert!(is_valid_tag(good), "{good}");
        }
        let long = "a".repeat(129);
        for bad in ["", "-a", ".a", "1.0.0+build", "a/b", long.as_str()] {
            assert!(!is_valid_tag(bad), "{bad}");
        }
        assert_eq!(tag_of_version("1.0.0+build.1"), "1.0.0_build.1");
        assert_eq!(version_of_tag("1.0.0_build.1"), "1.0.0+build.1");
    }
}
