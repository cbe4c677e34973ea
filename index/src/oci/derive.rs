//! The config blob and manifest of a chart that arrived by HTTP: the bytes `helm push` writes
//! for that archive (`helm/helm:pkg/registry/client.go` `Push`, `util.go`
//! `generateOCIAnnotations`), with `org.opencontainers.image.created` taken from the index
//! entry's `created`, so every replica derives the same manifest digest, restart after restart.

use bytes::Bytes;
use chartroom_chart::metadata::Metadata;
use chartroom_chart::oci::{self, Descriptor};

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

/// Derives the config blob and manifest of an indexed chart version; `prov` is its provenance
/// file, if it has one (a provenance layer, as `helm push` adds for a `.prov` beside the archive).
pub fn derive_manifest(entry: &Entry, prov: Option<&[u8]>) -> Result<DerivedManifest, OciError> {
    let config = entry.metadata_json().to_owned();
    let metadata: Metadata = serde_json::from_str(&config)
        .map_err(|e| OciError::Internal(format!("cannot read back the metadata of {}: {e}", entry.name())))?;
    let created = entry.created.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let annotations = oci::annotations(&metadata, &created);
    let config = Bytes::from(config);
    let config_digest = Digest::of(&config);
    let chart_digest = Digest::from_hex(&entry.digest())
        .map_err(|e| OciError::Internal(format!("index digest of {}: {e}", entry.name())))?;
    let chart_size = entry.size();
    let config_descriptor = Descriptor {
        media_type: media::HELM_CONFIG.to_owned(),
        digest: config_digest.to_string(),
        size: config.len() as u64,
    };
    let layer =
        Descriptor { media_type: media::HELM_CHART.to_owned(), digest: chart_digest.to_string(), size: chart_size };
    let mut layers = vec![layer];
    if let Some(prov) = prov {
        layers.push(Descriptor {
            media_type: media::HELM_PROVENANCE.to_owned(),
            digest: Digest::of(prov).to_string(),
            size: prov.len() as u64,
        });
    }
    let manifest = oci::manifest_json(&config_descriptor, &layers, &annotations)
        .map_err(|e| OciError::Internal(format!("cannot serialize the manifest of {}: {e}", entry.name())))?;
    let manifest = Bytes::from(manifest);
    let digest = Digest::of(&manifest);
    Ok(DerivedManifest { config, config_digest, manifest, digest, chart_digest, chart_size })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{RenderConfig, StoredObject};

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
        let derived = derive_manifest(&entry(metadata.clone()), None).unwrap();
        assert_eq!(
            derived.config,
            r#"{"name":"mychart","version":"0.1.0","description":"A Helm chart for Kubernetes","apiVersion":"v2","appVersion":"1.16.0","type":"application"}"#
        );
        insta::assert_snapshot!(String::from_utf8_lossy(&derived.manifest), @r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:65a07b841ece031e6d0ec5eb948eacb17aa6d7294cdeb01d5348e86242951487","size":141},"layers":[{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"sha256:abababababababababababababababababababababababababababababababab","size":1234}],"annotations":{"org.opencontainers.image.created":"2024-05-06T07:08:09Z","org.opencontainers.image.description":"A Helm chart for Kubernetes","org.opencontainers.image.title":"mychart","org.opencontainers.image.version":"0.1.0"}}"#);
    }

    #[test]
    fn same_entry_same_digest() {
        let metadata = Metadata { name: "a".into(), version: "1.0.0".into(), ..Default::default() };
        assert_eq!(
            derive_manifest(&entry(metadata.clone()), None).unwrap(),
            derive_manifest(&entry(metadata), None).unwrap()
        );
        let signed = derive_manifest(
            &entry(Metadata { name: "a".into(), version: "1.0.0".into(), ..Default::default() }),
            Some(b"prov"),
        )
        .unwrap();
        let text = String::from_utf8_lossy(&signed.manifest).into_owned();
        assert!(
            text.contains(&format!(
                "{{\"mediaType\":\"{}\",\"digest\":\"{}\",\"size\":4}}",
                media::HELM_PROVENANCE,
                Digest::of(b"prov")
            )),
            "{text}"
        );
    }
}
