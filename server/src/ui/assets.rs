//! The catalogue's CSS and JavaScript, embedded in the binary and served under names that carry
//! a hash of their bytes, so a browser may cache them for a year: a new build with other bytes
//! has other names.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

/// One embedded file.
pub(crate) struct Asset {
    /// `chartroom-<16 hex digits of sha256>.css`
    pub name: String,
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

fn asset(stem: &str, ext: &str, bytes: &'static [u8], content_type: &'static str) -> Asset {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Asset { name: format!("{stem}-{hex}.{ext}"), bytes, content_type }
}

pub(crate) static CSS: LazyLock<Asset> =
    LazyLock::new(|| asset("chartroom", "css", include_bytes!("assets/ui.css"), "text/css; charset=utf-8"));
pub(crate) static JS: LazyLock<Asset> =
    LazyLock::new(|| asset("chartroom", "js", include_bytes!("assets/ui.js"), "text/javascript; charset=utf-8"));

/// The asset called `name`, if there is one (an old hash is not found: it is another build's).
pub(crate) fn find(name: &str) -> Option<&'static Asset> {
    [&*CSS, &*JS].into_iter().find(|a| a.name == name)
}
