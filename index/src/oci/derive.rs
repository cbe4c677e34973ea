//! The config blob and manifest of a chart that arrived by HTTP: the bytes `helm push` writes
//! for that archive (`helm/helm:pkg/registry/client.go` `Push`, `util.go`
//! `generateOCIAnnotations`), with `org.opencontainers.image.created` taken from the index
//! entry's `created`, so every replica derives the same manifest digest, restart after restart.

use std::collections::BTreeMap;

use bytes::Bytes;
use chartroom_chart::metadata::Metadata;

use super::digest::Digest;
use super::error::OciError;
use super::media;
use crate::entry::Entry;

/// A derived manifest and the config blob it references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedManifest {
    pub config: Bytes,
    pub config_digest: Digest,
    pub manifest: Bytes,
    pub digest: Digest,
    /// The chart layer: the archive's digest and size.
    pub chart_digest: Digest,
    pub chart_size: u64,
}

/// An OCI descriptor as Go's `ocispec.Descriptor` marshals one Helm writes.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

#[derive(serde::Serialize)]
struct ManifestBody<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    config: Descriptor,
    layers: [Descriptor; 1],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

/// Derives the config blob and manifest of an indexed chart version.
pub fn derive_manifest(entry: &Entry) -> Result<DerivedManifest, OciError> {
    let config = entry.metadata_json();
    let metadata: Metadata = serde_json::from_str(&config)
        .map_err(|e| OciError::Internal(format!("cannot read back the metadata of {}: {e}", entry.name())))?;
    let created = entry.created.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let annotations = annotations(&metadata, &created);
    let config = Bytes::from(config);
    let config_digest = Digest::of(&config);
    let chart_digest = Digest::from_hex(&entry.digest)
        .map_err(|e| OciError::Internal(format!("index digest of {}: {e}", entry.name())))?;
    let chart_size = entry.object.size;
    let body = ManifestBody {
        schema_version: 2,
        config: Descriptor {
            media_type: media::HELM_CONFIG.to_owned(),
            digest: config_digest.to_string(),
            size: config.len() as u64,
        },
        layers: [Descriptor {
            media_type: media::HELM_CHART.to_owned(),
            digest: chart_digest.to_string(),
            size: chart_size,
        }],
        annotations: &annotations,
    };
    let manifest = chartroom_chart::gojson::to_vec(&body)
        .map_err(|e| OciError::Internal(format!("cannot serialize the manifest of {}: {e}", entry.name())))?;
    let manifest = Bytes::from(manifest);
    let digest = Digest::of(&manifest);
    Ok(DerivedManifest { config, config_digest, manifest, digest, chart_digest, chart_size })
}

/// Helm's manifest annotations: the standard ones that are not blank, then every `Chart.yaml`
/// annotation but title and version (which may override the others).
fn annotations(m: &Metadata, created: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut add = |key: &str, value: &str| {
        if !value.trim().is_empty() {
            out.insert(key.to_owned(), value.to_owned());
        }
    };
    add("org.opencontainers.image.description", &m.description);
    add("org.opencontainers.image.title", &m.name);
    add("org.opencontainers.image.version", &m.version);
    add("org.opencontainers.image.url", &m.home);
    add("org.opencontainers.image.created", created);
    if let Some(source) = m.sources.first() {
        add("org.opencontainers.image.source", source);
    }
    if !m.maintainers.is_empty() {
        let mut authors = String::new();
        for (i, maintainer) in m.maintainers.iter().enumerate() {
            authors.push_str(&maintainer.name);
            if !maintainer.email.is_empty() {
                authors.push_str(" (");
                authors.push_str(&maintainer.email);
                authors.push(')');
            }
            if i + 1 < m.maintainers.len() {
                authors.push_str(", ");
            }
        }
        add("org.opencontainers.image.authors", &authors);
    }
    for (key, value) in &m.annotations {
        if key != "org.opencontainers.image.title" && key != "org.opencontainers.image.version" {
            out.insert(key.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{RenderConfig, StoredObject};
    use chartroom_chart::metadata::Maintainer;

    fn entry(metadata: Metadata) -> Entry {
        let created: jiff::Timestamp = "2024-05-06T07:08:09.123456789Z".parse().unwrap();
        let object = StoredObject { file: "x.tgz".into(), size: 1234, etag: None };
        Entry::new(metadata, "ab".repeat(32), created, object, &RenderConfig::default()).unwrap()
    }

    #[test]
    fn config_is_helms_metadata_json() {
        let metadata = Metadata {
            name: "mychart".into(),
            version: "0.1.0".into(),
            description: "A Helm chart for Kubernetes".into(),
            api_version: "v2".into(),
            app_version: "1.16.0".into(),
            chart_type: "application".into(),
            ..Default::default()
        };
        let derived = derive_manifest(&entry(metadata)).unwrap();
        assert_eq!(
            derived.config,
            r#"{"name":"mychart","version":"0.1.0","description":"A Helm chart for Kubernetes","apiVersion":"v2","appVersion":"1.16.0","type":"application"}"#
        );
        insta::assert_snapshot!(String::from_utf8_lossy(&derived.manifest), @r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:65a07b841ece031e6d0ec5eb948eacb17aa6d7294cdeb01d5348e86242951487","size":141},"layers":[{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"sha256:abababababababababababababababababababababababababababababababab","size":1234}],"annotations":{"org.opencontainers.image.created":"2024-05-06T07:08:09Z","org.opencontainers.image.description":"A Helm chart for Kubernetes","org.opencontainers.image.title":"mychart","org.opencontainers.image.version":"0.1.0"}}"#);
    }

    #[test]
    fn annotations_as_helm_writes_them() {
        let mut metadata = Metadata {
            name: "demo".into(),
            version: "1.0.0+build.1".into(),
            home: "https://example.com/<home>".into(),
            sources: vec!["https://src".into(), "https://other".into()],
            maintainers: vec![
                Maintainer { name: "Ann".into(), email: "ann@x".into(), url: String::new() },
                Maintainer { name: "Bob".into(), ..Default::default() },
            ],
            ..Default::default()
        };
        metadata.annotations.insert("org.opencontainers.image.title".into(), "ignored".into());
        metadata.annotations.insert("org.opencontainers.image.url".into(), "https://override".into());
        metadata.annotations.insert("custom".into(), "".into());
        let got = annotations(&metadata, "2024-05-06T07:08:09Z");
        let want: BTreeMap<String, String> = [
            ("custom", ""),
            ("org.opencontainers.image.authors", "Ann (ann@x), Bob"),
            ("org.opencontainers.image.created", "2024-05-06T07:08:09Z"),
            ("org.opencontainers.image.source", "https://src"),
            ("org.opencontainers.image.title", "demo"),
            ("org.opencontainers.image.url", "https://override"),
            ("org.opencontainers.image.version", "1.0.0+build.1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn same_entry_same_digest() {
        let metadata = Metadata { name: "a".into(), version: "1.0.0".into(), ..Default::default() };
        assert_eq!(derive_manifest(&entry(metadata.clone())).unwrap(), derive_manifest(&entry(metadata)).unwrap());
    }
}
