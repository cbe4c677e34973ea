//! A small reader of repository indexes as Helm, ChartMuseum and Chartroom write them (YAML
//! in the sigs.k8s.io/yaml shape, or the JSON form), independent of the server's own code so
//! the tests check what is served, not what the server believes it serves.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, Clone, Default)]
pub struct IndexEntry {
    /// Top-level scalar fields of the entry (unquoted).
    pub fields: BTreeMap<String, String>,
    pub urls: Vec<String>,
}

impl IndexEntry {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.fields.get(k).map(String::as_str)
    }
    pub fn version(&self) -> &str {
        self.get("version").unwrap_or("")
    }
    pub fn digest(&self) -> &str {
        self.get("digest").unwrap_or("")
    }
    pub fn created(&self) -> &str {
        self.get("created").unwrap_or("")
    }
}

#[derive(Debug, Clone, Default)]
pub struct Index {
    pub api_version: Option<String>,
    pub generated: Option<String>,
    /// `serverInfo.contextPath`, if any.
    pub context_path: Option<String>,
    /// Chart name → versions in served order.
    pub entries: BTreeMap<String, Vec<IndexEntry>>,
    pub is_json: bool,
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.starts_with('"') {
        serde_json::from_str::<String>(v).unwrap_or_else(|_| v.trim_matches('"').to_owned())
    } else if v.starts_with('\'') && v.ends_with('\'') && v.len() >= 2 {
        v[1..v.len() - 1].replace("''", "'")
    } else {
        v.to_owned()
    }
}

fn split_kv(t: &str) -> (String, String) {
    match t.find(": ") {
        Some(i) => (t[..i].to_owned(), unquote(&t[i + 2..])),
        None => (t.trim_end_matches(':').to_owned(), String::new()),
    }
}

impl Index {
    pub fn parse(bytes: &[u8]) -> Index {
        let text = std::str::from_utf8(bytes).expect("index is UTF-8");
        if text.trim_start().starts_with('{') {
            return Index::parse_json(text);
        }
        let mut idx = Index::default();
        let mut section = String::new();
        let mut chart: Option<String> = None;
        let mut chart_indent: Option<usize> = None;
        let mut dash_indent: Option<usize> = None;
        let mut expect_dash = false;
        let mut cur_key = String::new();
        for line in text.lines() {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let ind = line.len() - line.trim_start().len();
            let t = line.trim();
            if ind == 0 {
                let (k, v) = split_kv(t);
                section = k.clone();
                match k.as_str() {
                    "apiVersion" => idx.api_version = Some(v),
                    "generated" => idx.generated = Some(v),
                    "serverInfo" if v.starts_with('{') => {
                        // flow style: {contextPath: /x}
                        let inner = v.trim_start_matches('{').trim_end_matches('}');
                        for kv in inner.split(',') {
                            let (k2, v2) = split_kv(kv.trim());
                            if k2 == "contextPath" {
                                idx.context_path = Some(v2);
                            }
                        }
                    }
                    _ => {}
                }
                continue;
            }
            match section.as_str() {
                "serverInfo" => {
                    let (k, v) = split_kv(t);
                    if k == "contextPath" {
                        idx.context_path = Some(v);
                    }
                }
                "entries" => {
                    let ci = *chart_indent.get_or_insert(ind);
                    if ind == ci && !t.starts_with("- ") {
                        let (k, v) = split_kv(t);
                        let name = unquote(&k);
                        idx.entries.entry(name.clone()).or_default();
                        chart = Some(name);
                        expect_dash = v.is_empty();
                        continue;
                    }
                    let Some(c) = chart.clone() else { continue };
                    if t.starts_with("- ") && expect_dash {
                        dash_indent = Some(ind);
                        expect_dash = false;
                    }
                    let Some(di) = dash_indent else { continue };
                    if ind == di && t.starts_with("- ") {
                        let (k, v) = split_kv(&t[2..]);
                        let mut e = IndexEntry::default();
                        if !v.is_empty() {
                            e.fields.insert(k.clone(), v);
                        }
                        cur_key = k;
                        idx.entries.get_mut(&c).expect("chart").push(e);
                    } else if ind == di + 2 && !t.starts_with("- ") {
                        let (k, v) = split_kv(t);
                        let e = idx.entries.get_mut(&c).and_then(|v| v.last_mut()).expect("entry");
                        if k == "urls" && v.starts_with('[') {
                            let inner = v.trim_start_matches('[').trim_end_matches(']');
                            e.urls = inner.split(',').map(unquote).filter(|s| !s.is_empty()).collect();
                        } else if !v.is_empty() {
                            e.fields.insert(k.clone(), v);
                        }
                        cur_key = k;
                    } else if t.starts_with("- ") && ind >= di + 2 && cur_key == "urls" {
                        let e = idx.entries.get_mut(&c).and_then(|v| v.last_mut()).expect("entry");
                        e.urls.push(unquote(&t[2..]));
                    }
                }
                _ => {}
            }
        }
        idx
    }

    fn parse_json(text: &str) -> Index {
        let v: Value = serde_json::from_str(text).expect("JSON index parses");
        let mut idx = Index {
            is_json: true,
            api_version: v["apiVersion"].as_str().map(str::to_owned),
            generated: v["generated"].as_str().map(str::to_owned),
            context_path: v["serverInfo"]["contextPath"].as_str().map(str::to_owned),
            ..Index::default()
        };
        if let Some(entries) = v["entries"].as_object() {
            for (name, list) in entries {
                let mut out = Vec::new();
                for e in list.as_array().cloned().unwrap_or_default() {
                    let mut ie = IndexEntry::default();
                    if let Some(obj) = e.as_object() {
                        for (k, val) in obj {
                            match val {
                                Value::String(s) => {
                                    ie.fields.insert(k.clone(), s.clone());
                                }
                                Value::Bool(b) => {
                                    ie.fields.insert(k.clone(), b.to_string());
                                }
                                Value::Number(n) => {
                                    ie.fields.insert(k.clone(), n.to_string());
                                }
                                _ => {}
                            }
                        }
                        ie.urls = obj
                            .get("urls")
                            .and_then(Value::as_array)
                            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                            .unwrap_or_default();
                    }
                    out.push(ie);
                }
                idx.entries.insert(name.clone(), out);
            }
        }
        idx
    }

    /// Versions of `chart` in served order (empty when absent).
    pub fn versions(&self, chart: &str) -> Vec<String> {
        self.entries.get(chart).map(|v| v.iter().map(|e| e.version().to_owned()).collect()).unwrap_or_default()
    }

    pub fn entry(&self, chart: &str, version: &str) -> Option<&IndexEntry> {
        self.entries.get(chart)?.iter().find(|e| e.version() == version)
    }

    #[track_caller]
    pub fn expect_entry(&self, chart: &str, version: &str) -> &IndexEntry {
        self.entry(chart, version).unwrap_or_else(|| {
            panic!(
                "index has no entry {chart} {version}; entries: {:?}",
                self.entries
                    .iter()
                    .map(|(k, v)| (k, v.iter().map(|e| e.version()).collect::<Vec<_>>()))
                    .collect::<Vec<_>>()
            )
        })
    }

    pub fn total_versions(&self) -> usize {
        self.entries.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::read_testdata;

    /// The harness's own index parser must read the index shapes Helm and ChartMuseum write, or
    /// the server tests would prove nothing.
    #[test]
    fn index_parser_reads_helm_and_chartmuseum_indexes() {
        let cm = Index::parse(&read_testdata("helm/pkg/repo/v1/testdata/chartmuseum-index.yaml"));
        assert_eq!(cm.context_path.as_deref(), Some("/v1/helm"));
        assert_eq!(cm.api_version.as_deref(), Some("v1"));
        assert_eq!(cm.versions("nginx"), ["0.2.0", "0.1.0"]);
        assert_eq!(cm.versions("alpine"), ["1.0.0"]);
        assert_eq!(cm.versions("chartWithNoURL"), ["1.0.0"]);
        assert_eq!(cm.expect_entry("alpine", "1.0.0").urls.len(), 2);
        assert_eq!(cm.expect_entry("nginx", "0.1.0").digest(), "sha256:1234567890abcdef");
        assert!(cm.expect_entry("chartWithNoURL", "1.0.0").urls.is_empty());

        let js = Index::parse(&read_testdata("helm/pkg/repo/v1/testdata/local-index.json"));
        assert!(js.is_json);
        assert_eq!(js.versions("nginx"), ["0.2.0", "0.1.0"]);
        assert_eq!(js.total_versions(), 4);

        // The shape sigs.k8s.io/yaml (Helm, ChartMuseum) writes: lists not indented under keys.
        let sigs = "apiVersion: v1\nentries:\n  alpha:\n  - apiVersion: v2\n    created: \"2024-05-01T10:00:00.123456789Z\"\n    description: 'it''s'\n    digest: abc\n    maintainers:\n    - name: x\n    name: alpha\n    urls:\n    - charts/alpha-1.0.0.tgz\n    version: 1.0.0\n  - apiVersion: v2\n    created: \"2024-05-01T10:00:00Z\"\n    digest: def\n    name: alpha\n    urls:\n    - charts/alpha-0.9.0.tgz\n    version: 0.9.0\n  beta: []\ngenerated: \"2024-05-01T10:00:01Z\"\nserverInfo:\n  contextPath: /helm/v1\n";
        let s = Index::parse(sigs.as_bytes());
        assert_eq!(s.versions("alpha"), ["1.0.0", "0.9.0"]);
        assert!(s.versions("beta").is_empty());
        let e = s.expect_entry("alpha", "1.0.0");
        assert_eq!(e.urls, ["charts/alpha-1.0.0.tgz"]);
        assert_eq!(e.created(), "2024-05-01T10:00:00.123456789Z");
        assert_eq!(e.get("description"), Some("it's"));
        assert_eq!(e.get("name"), Some("alpha"));
        assert_eq!(s.generated.as_deref(), Some("2024-05-01T10:00:01Z"));
        assert_eq!(s.context_path.as_deref(), Some("/helm/v1"));
        assert!(Index::parse(b"apiVersion: v1\nentries: {}\ngenerated: \"x\"\nserverInfo: {}\n").entries.is_empty());
    }
}
