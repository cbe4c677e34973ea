//! Manifests pushed by clients: parsed just enough to check them (references, media types,
//! the chart layer of a chart) and to list them as referrers. The bytes are kept as sent.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;

use super::digest::Digest;
use super::error::OciError;
use super::{is_valid_tag, media};

/// Largest manifest accepted (Helm reads at most 4 MiB).
pub const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

/// What a manifest request names: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    /// A digest when it has a `:`, else a tag; both checked.
    pub fn parse(text: &str) -> Result<Reference, OciError> {
        if text.contains(':') {
            return Digest::parse(text).map(Reference::Digest).map_err(|e| OciError::DigestInvalid(e.to_string()));
        }
        if !is_valid_tag(text) {
            return Err(OciError::ManifestInvalid(format!(
                "invalid tag {text:?}: a tag is 1-128 of [A-Za-z0-9_.-], not starting with . or -"
            )));
        }
        Ok(Reference::Tag(text.to_owned()))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(tag) => f.write_str(tag),
            Reference::Digest(digest) => digest.fmt(f),
        }
    }
}

/// A descriptor of a pushed manifest, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// A pushed manifest (image manifest or image index), its bytes exactly as sent.
#[derive(Debug, Clone)]
pub struct PushedManifest {
    pub bytes: Bytes,
    pub digest: Digest,
    /// The body's `mediaType`, else the request's `Content-Type`.
    pub media_type: String,
    /// `artifactType`, else the config's media type (the referrers API's rule).
    pub artifact_type: Option<String>,
    pub config: Option<BlobRef>,
    pub layers: Vec<BlobRef>,
    /// An image index's manifests.
    pub manifests: Vec<BlobRef>,
    pub subject: Option<Digest>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(serde::Deserialize)]
struct RawDescriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(default)]
    digest: String,
    #[serde(default)]
    size: Option<i64>,
}

#[derive(serde::Deserialize)]
struct RawManifest {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<i64>,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
    config: Option<RawDescriptor>,
    #[serde(default)]
    layers: Vec<RawDescriptor>,
    #[serde(default)]
    manifests: Vec<RawDescriptor>,
    subject: Option<RawDescriptor>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

fn descriptor(raw: RawDescriptor, what: &str) -> Result<BlobRef, OciError> {
    let digest = Digest::parse(&raw.digest).map_err(|e| OciError::ManifestInvalid(format!("{what}: {e}")))?;
    let size = raw
        .size
        .and_then(|s| u64::try_from(s).ok())
        .ok_or_else(|| OciError::ManifestInvalid(format!("{what}: size must be a number of bytes")))?;
    if raw.media_type.is_empty() {
        return Err(OciError::ManifestInvalid(format!("{what}: mediaType is missing")));
    }
    Ok(BlobRef { media_type: raw.media_type, digest, size })
}

impl PushedManifest {
    /// Parses and checks a manifest sent with `content_type`.
    pub fn parse(bytes: Bytes, content_type: Option<&str>) -> Result<PushedManifest, OciError> {
        if bytes.len() > MAX_MANIFEST_SIZE {
            return Err(OciError::ManifestInvalid(format!("manifest larger than {MAX_MANIFEST_SIZE} bytes")));
        }
        let raw: RawManifest = serde_json::from_slice(&bytes)
            .map_err(|e| OciError::ManifestInvalid(format!("manifest is not valid JSON: {e}")))?;
        if raw.schema_version != Some(2) {
            return Err(OciError::ManifestInvalid("schemaVersion must be 2".into()));
        }
        let content_type = content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_owned());
        let media_type = match (raw.media_type, content_type) {
            (Some(body), Some(header)) if !header.is_empty() && body != header => {
                return Err(OciError::ManifestInvalid(format!(
                    "the manifest's mediaType {body:?} differs from its Content-Type {header:?}"
                )));
            }
            (Some(body), _) => body,
            (None, Some(header)) if !header.is_empty() => header,
            // Stored manifests are read back without their request's type.
            (None, _) if !raw.manifests.is_empty() => media::IMAGE_INDEX.to_owned(),
            (None, _) => media::IMAGE_MANIFEST.to_owned(),
        };
        if media_type != media::IMAGE_MANIFEST && media_type != media::IMAGE_INDEX {
            return Err(OciError::Unsupported(format!(
                "manifest type {media_type:?} is not supported: push {} or {}",
                media::IMAGE_MANIFEST,
                media::IMAGE_INDEX
            )));
        }
        let config = match raw.config {
            Some(c) => Some(descriptor(c, "config")?),
            None if media_type == media::IMAGE_MANIFEST => {
                return Err(OciError::ManifestInvalid("an image manifest needs a config".into()));
            }
            None => None,
        };
        let layers = raw
            .layers
            .into_iter()
            .enumerate()
            .map(|(i, l)| descriptor(l, &format!("layer {i}")))
            .collect::<Result<_, _>>()?;
        let manifests = raw
            .manifests
            .into_iter()
            .enumerate()
            .map(|(i, m)| descriptor(m, &format!("manifest {i}")))
            .collect::<Result<_, _>>()?;
        let subject = raw.subject.map(|s| descriptor(s, "subject")).transpose()?.map(|s| s.digest);
        let artifact_type = raw.artifact_type.or_else(|| config.as_ref().map(|c: &BlobRef| c.media_type.clone()));
        let digest = Digest::of(&bytes);
        Ok(PushedManifest {
            bytes,
            digest,
            media_type,
            artifact_type,
            config,
            layers,
            manifests,
            subject,
            annotations: raw.annotations,
        })
    }

    /// Whether this is a Helm chart (config of Helm's config type).
    pub fn is_chart(&self) -> bool {
        self.config.as_ref().is_some_and(|c| c.media_type == media::HELM_CONFIG)
    }

    /// The chart layer and the provenance layer of a chart manifest.
    pub fn chart_layers(&self) -> Result<(&BlobRef, Option<&BlobRef>), OciError> {
        let charts: Vec<&BlobRef> = self
            .layers
            .iter()
            .filter(|l| l.media_type == media::HELM_CHART || l.media_type == media::HELM_CHART_LEGACY)
            .collect();
        let provs: Vec<&BlobRef> = self.layers.iter().filter(|l| l.media_type == media::HELM_PROVENANCE).collect();
        match (charts.as_slice(), provs.as_slice()) {
            ([chart], []) => Ok((chart, None)),
            ([chart], [prov]) => Ok((chart, Some(prov))),
            ([], _) => {
                Err(OciError::ManifestInvalid(format!("a Helm chart manifest needs one {} layer", media::HELM_CHART)))
            }
            (_, [_, _, ..]) => {
                Err(OciError::ManifestInvalid("a Helm chart manifest has at most one provenance layer".into()))
            }
            _ => Err(OciError::ManifestInvalid("a Helm chart manifest has exactly one chart layer".into())),
        }
    }

    /// Every blob the manifest references in its repository (config and layers; not the
    /// manifests of an index, not the subject, which may be pushed later).
    pub fn blobs(&self) -> impl Iterator<Item = &BlobRef> {
        self.config.iter().chain(self.layers.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHART: &str = r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":10},"layers":[{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","size":20}],"annotations":{"a":"b"}}"#;

    #[test]
    fn helm_chart_manifest_without_media_type() {
        let m = PushedManifest::parse(Bytes::from_static(CHART.as_bytes()), Some(media::IMAGE_MANIFEST)).unwrap();
        assert!(m.is_chart());
        assert_eq!(m.media_type, media::IMAGE_MANIFEST);
        assert_eq!(m.artifact_type.as_deref(), Some(media::HELM_CONFIG));
        let (chart, prov) = m.chart_layers().unwrap();
        assert_eq!(chart.size, 20);
        assert!(prov.is_none());
        assert_eq!(m.blobs().count(), 2);
        assert_eq!(m.digest, Digest::of(CHART.as_bytes()));
    }

    #[test]
    fn refused_manifests() {
        let cases = [
            ("not json", "manifest is not valid JSON"),
            (r#"{"schemaVersion":1}"#, "schemaVersion must be 2"),
            (r#"{"schemaVersion":2}"#, "an image manifest needs a config"),
            (
                r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:zz","size":1}}"#,
                "config: invalid digest",
            ),
            (
                r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":-1}}"#,
                "config: size must be",
            ),
        ];
        for (body, want) in cases {
            let err = PushedManifest::parse(Bytes::from(body), None).unwrap_err().to_string();
            assert!(err.contains(want), "{body}: {err}");
        }
        let docker = PushedManifest::parse(
            Bytes::from_static(CHART.as_bytes()),
            Some("application/vnd.docker.distribution.manifest.v2+json"),
        );
        assert!(matches!(docker, Err(OciError::Unsupported(_))));
    }

    #[test]
    fn references() {
        assert_eq!(Reference::parse("1.0.0_b").unwrap(), Reference::Tag("1.0.0_b".into()));
        assert!(matches!(Reference::parse("sha256:zz"), Err(OciError::DigestInvalid(_))));
        assert!(matches!(Reference::parse("-x"), Err(OciError::ManifestInvalid(_))));
    }
}
