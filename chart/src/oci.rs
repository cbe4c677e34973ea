//! A chart as an OCI artifact, the bytes `helm push` writes (`helm/helm:pkg/registry/client.go`
//! `Push`, `util.go` `generateOCIAnnotations`): the config blob (`Chart.yaml` as Go's
//! `json.Marshal(chart.Metadata)`), the manifest (no `mediaType` in the body, descriptors
//! `mediaType, digest, size`, layers sorted by digest, annotation keys sorted) and its
//! annotations. Pure: the creation time is an argument.

use std::collections::BTreeMap;

use crate::metadata::Metadata;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
pub const CHART_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// Charts pushed by Helm before 3.8 (still accepted on pull).
pub const LEGACY_CHART_LAYER_MEDIA_TYPE: &str = "application/tar+gzip";
pub const PROVENANCE_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

/// An OCI descriptor as Go's `ocispec.Descriptor` marshals the ones Helm writes.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// `sha256:<hex>`
    pub digest: String,
    pub size: u64,
}

/// The config blob of a chart.
pub fn config_json(metadata: &Metadata) -> Result<String, serde_json::Error> {
    crate::gojson::to_string(metadata)
}

/// Helm's manifest annotations: the standard ones that are not blank, then every `Chart.yaml`
/// annotation but title and version (which may override the others). `created` is RFC 3339.
pub fn annotations(m: &Metadata, created: &str) -> BTreeMap<String, String> {
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

#[derive(serde::Serialize)]
struct ManifestBody<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    config: &'a Descriptor,
    layers: Vec<&'a Descriptor>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

/// The manifest of a chart: `config`, then `layers` (chart, and provenance if any) sorted by
/// digest as Helm sorts them.
pub fn manifest_json(
    config: &Descriptor,
    layers: &[Descriptor],
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut layers: Vec<&Descriptor> = layers.iter().collect();
    layers.sort_by(|a, b| a.digest.cmp(&b.digest));
    crate::gojson::to_vec(&ManifestBody { schema_version: 2, config, layers, annotations })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::Maintainer;

    #[test]
    fn config_is_go_json_of_the_metadata() {
        let metadata = Metadata {
            name: "mychart".into(),
            version: "0.1.0".into(),
            description: "A Helm chart for Kubernetes".into(),
            api_version: "v2".into(),
            app_version: "1.16.0".into(),
            chart_type: "application".into(),
            ..Default::default()
        };
        assert_eq!(
            config_json(&metadata).unwrap(),
            r#"{"name":"mychart","version":"0.1.0","description":"A Helm chart for Kubernetes","apiVersion":"v2","appVersion":"1.16.0","type":"application"}"#
        );
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
    fn layers_sorted_by_digest() {
        let d = |m: &str, digest: &str| Descriptor { media_type: m.into(), digest: digest.into(), size: 1 };
        let config = d(CONFIG_MEDIA_TYPE, "sha256:cc");
        let body = manifest_json(
            &config,
            &[d(CHART_LAYER_MEDIA_TYPE, "sha256:bb"), d(PROVENANCE_LAYER_MEDIA_TYPE, "sha256:aa")],
            &BTreeMap::new(),
        )
        .unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(text.find("sha256:aa").unwrap() < text.find("sha256:bb").unwrap(), "{text}");
        assert!(!text.contains("annotations") && !text.contains("\"mediaType\":\"application/vnd.oci"), "{text}");
    }
}
