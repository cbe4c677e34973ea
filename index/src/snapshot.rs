//! Immutable served index bodies: built once per change, served by refcount from memory.
//!
//! With `--index-format auto` a snapshot holds both the YAML and the JSON body; each has its own
//! strong ETag (and gzip ETag), so a validator matches only the representation it came from.

use std::io::Write;
use std::sync::OnceLock;
use std::time::SystemTime;

use bytes::Bytes;

use crate::index::{Index, Rendered};

/// One published version of the index with its precomputed validators: one body per
/// representation the format renders ([`crate::IndexFormat`]).
#[derive(Debug)]
pub struct Snapshot {
    /// The YAML body, unless only JSON is served.
    pub yaml: Option<Body>,
    /// The JSON body (`helm repo index --json`'s shape), when JSON is served.
    pub json: Option<Body>,
    /// `Last-Modified` value (HTTP date of `generated`).
    pub last_modified: String,
    pub last_modified_time: SystemTime,
    /// Number of chart versions in the body.
    pub versions: usize,
    /// Number of chart names in the body.
    pub charts: usize,
}

/// One representation of the index body.
#[derive(Debug)]
pub struct Body {
    /// The body, as chunks to send in order (header, pages, footer).
    pub chunks: Vec<Bytes>,
    /// Total body length.
    pub len: usize,
    /// Strong ETag, quoted: `"<sha256 over the body's parts>"`; the two representations have
    /// different bytes, so different ETags.
    pub etag: String,
    /// Strong ETag of the gzip variant, quoted: `"<sha256>-gz"`. Another representation of the
    /// same body, so another validator.
    pub gzip_etag: String,
    /// Whether this is the JSON body.
    pub json: bool,
    gzip: OnceLock<Bytes>,
}

impl Snapshot {
    pub(crate) fn build(index: &mut Index) -> Snapshot {
        let (yaml, json) = index.render_all();
        let yaml = yaml.map(|rendered| Body::new(rendered, false));
        let json = json.map(|rendered| Body::new(rendered, true));
        let secs = index.generated().as_second().max(0) as u64;
        let last_modified_time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        Snapshot {
            yaml,
            json,
            last_modified: httpdate::fmt_http_date(last_modified_time),
            last_modified_time,
            versions: index.len(),
            charts: index.chart_count(),
        }
    }

    /// The body served to clients that get no choice: YAML, or JSON when only JSON is served.
    pub fn primary(&self) -> &Body {
        match (&self.yaml, &self.json) {
            (Some(yaml), _) => yaml,
            (None, Some(json)) => json,
            // `Index::new` renders at least one representation.
            (None, None) => unreachable!("a snapshot without a body"),
        }
    }

    /// The body for a client: JSON when it reads JSON (a Helm ≥ 3.13, [`crate::helm_reads_json`])
    /// and JSON is served, else [`Snapshot::primary`].
    pub fn body_for(&self, reads_json: bool) -> &Body {
        match &self.json {
            Some(json) if reads_json || self.yaml.is_none() => json,
            _ => self.primary(),
        }
    }

    /// Whether the body depends on the client's `User-Agent` (`auto`: both representations).
    pub fn varies_by_user_agent(&self) -> bool {
        self.yaml.is_some() && self.json.is_some()
    }
}

impl Body {
    fn new(rendered: Rendered, json: bool) -> Body {
        let digest = hex::encode(rendered.digest);
        Body {
            chunks: rendered.chunks,
            len: rendered.len,
            etag: format!("\"{digest}\""),
            gzip_etag: format!("\"{digest}-gz\""),
            json,
            gzip: OnceLock::new(),
        }
    }

    /// The whole body in one buffer (copies; serving streams [`Body::chunks`]).
    #[cfg(test)]
    fn bytes(&self) -> Bytes {
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
    use crate::format::IndexFormat;

    #[test]
    fn etag_follows_bytes_and_gzip_roundtrips() {
        let mut index = Index::new(RenderConfig::default());
        index.set_generated(jiff::Timestamp::UNIX_EPOCH);
        let a = Snapshot::build(&mut index);
        let b = Snapshot::build(&mut index);
        assert!(a.json.is_none() && !a.varies_by_user_agent());
        let (a, b) = (a.primary(), b.primary());
        assert_eq!(a.etag, b.etag);
        assert_eq!(a.gzip_etag, format!("{}-gz\"", a.etag.trim_end_matches('"')));
        index.set_generated(jiff::Timestamp::from_second(1).unwrap());
        let c = Snapshot::build(&mut index);
        assert_ne!(a.etag, c.primary().etag);
        assert!(a.gzip().is_none());
        let gz = a.gzip_or_compress().clone();
        assert_eq!(a.gzip(), Some(&gz));
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain).unwrap();
        assert_eq!(plain, a.bytes());
        assert_eq!(c.last_modified, "Thu, 01 Jan 1970 00:00:01 GMT");
    }

    #[test]
    fn auto_holds_both_bodies_with_their_own_validators() {
        let mut bodies = Vec::new();
        for format in [IndexFormat::Yaml, IndexFormat::Json, IndexFormat::Auto] {
            let mut index = Index::new(RenderConfig { format, ..Default::default() });
            index.set_generated(jiff::Timestamp::UNIX_EPOCH);
            bodies.push(Snapshot::build(&mut index));
        }
        let [yaml, json, auto] = <[Snapshot; 3]>::try_from(bodies).unwrap();
        assert!(!yaml.body_for(true).json, "yaml serves YAML even to a Helm that reads JSON");
        assert!(json.body_for(false).json && json.primary().json, "json serves JSON to everyone");
        assert!(auto.varies_by_user_agent() && !yaml.varies_by_user_agent() && !json.varies_by_user_agent());
        assert_eq!(auto.body_for(false).bytes(), yaml.primary().bytes());
        assert_eq!(auto.body_for(false).etag, yaml.primary().etag, "auto's YAML keeps yaml's ETag");
        assert_eq!(auto.body_for(true).bytes(), json.primary().bytes());
        assert_eq!(auto.body_for(true).etag, json.primary().etag);
        let (y, j) = (auto.body_for(false), auto.body_for(true));
        let validators = [&y.etag, &y.gzip_etag, &j.etag, &j.gzip_etag];
        let distinct: std::collections::HashSet<_> = validators.iter().collect();
        assert_eq!(distinct.len(), 4, "{validators:?}");
    }
}
