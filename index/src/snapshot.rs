//! Immutable served index bodies: built once per change, served by refcount from memory.

use std::io::Write;
use std::sync::OnceLock;
use std::time::SystemTime;

use bytes::Bytes;

use crate::index::Index;

/// One published version of the index body with its precomputed validators.
#[derive(Debug)]
pub struct Snapshot {
    /// The body, as chunks to send in order (header, pages, footer).
    pub chunks: Vec<Bytes>,
    /// Total body length.
    pub len: usize,
    /// Strong ETag, quoted: `"<sha256 of body>"`.
    pub etag: String,
    /// Strong ETag of the gzip variant, quoted: `"<sha256 of body>-gz"`. Another representation
    /// of the same body, so another validator.
    pub gzip_etag: String,
    /// `Last-Modified` value (HTTP date of `generated`).
    pub last_modified: String,
    pub last_modified_time: SystemTime,
    /// Number of chart versions in the body.
    pub versions: usize,
    /// Number of chart names in the body.
    pub charts: usize,
    pub json: bool,
    gzip: OnceLock<Bytes>,
}

impl Snapshot {
    pub(crate) fn build(index: &mut Index) -> Snapshot {
        let rendered = index.render();
        let digest = hex::encode(rendered.digest);
        let secs = index.generated().as_second().max(0) as u64;
        let last_modified_time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        Snapshot {
            chunks: rendered.chunks,
            len: rendered.len,
            etag: format!("\"{digest}\""),
            gzip_etag: format!("\"{digest}-gz\""),
            last_modified: httpdate::fmt_http_date(last_modified_time),
            last_modified_time,
            versions: index.len(),
            charts: index.names().count(),
            json: index.config().json,
            gzip: OnceLock::new(),
        }
    }

    /// The whole body in one buffer (copies; serving streams [`Snapshot::chunks`]).
    #[cfg(test)]
    fn body(&self) -> Bytes {
        if let [only] = self.chunks.as_slice() {
            return only.clone();
        }
        let mut out = Vec::with_capacity(self.len);
        for chunk in &self.chunks {
            out.extend_from_slice(chunk);
        }
        Bytes::from(out)
    }

    /// The gzip variant if it has been computed.
    #[cfg(test)]
    fn gzip(&self) -> Option<&Bytes> {
        self.gzip.get()
    }

    /// The gzip variant, computed on first use (CPU-bound: call from a blocking task).
    /// Concurrent callers wait for the one computation.
    pub fn gzip_or_compress(&self) -> &Bytes {
        self.gzip.get_or_init(|| {
            let mut enc =
                flate2::write::GzEncoder::new(Vec::with_capacity(self.len / 8 + 64), flate2::Compression::new(6));
            // Writing into a Vec cannot fail.
            for chunk in &self.chunks {
                let _ = enc.write_all(chunk);
            }
            // Exactly its length (the buffer's growth slack would be kept as long as the body).
            Bytes::from(enc.finish().unwrap_or_default().into_boxed_slice())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::RenderConfig;

    #[test]
    fn etag_follows_bytes_and_gzip_roundtrips() {
        let mut index = Index::new(RenderConfig::default());
        index.set_generated(jiff::Timestamp::UNIX_EPOCH);
        let a = Snapshot::build(&mut index);
        let b = Snapshot::build(&mut index);
        assert_eq!(a.etag, b.etag);
        assert_eq!(a.gzip_etag, format!("{}-gz\"", a.etag.trim_end_matches('"')));
        index.set_generated(jiff::Timestamp::from_second(1).unwrap());
        let c = Snapshot::build(&mut index);
        assert_ne!(a.etag, c.etag);
        assert!(a.gzip().is_none());
        let gz = a.gzip_or_compress().clone();
        assert_eq!(a.gzip(), Some(&gz));
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain).unwrap();
        assert_eq!(plain, a.body());
        assert_eq!(a.last_modified, "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
