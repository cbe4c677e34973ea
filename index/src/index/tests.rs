//! The index's rules: rendering (both representations, paged against a full render), the
//! fragments' single copy, copies and duplicates, name order, order independence.

use super::pages::{header_footer, write_chart};
use super::*;
use crate::entry::StoredObject;
use crate::format::IndexFormat;
use chartroom_chart::metadata::Metadata;

impl Index {
    /// The whole body of one representation in one buffer (serving uses [`Index::render`]).
    fn render_bytes_of(&mut self, kind: Representation) -> Bytes {
        let rendered = self.render(kind).expect("the format renders it");
        let mut out = Vec::with_capacity(rendered.len);
        for c in &rendered.chunks {
            out.extend_from_slice(c);
        }
        Bytes::from(out)
    }

    /// The whole body of the first representation the format renders (YAML unless JSON only).
    fn render_bytes(&mut self) -> Bytes {
        let kind = if self.yaml.is_some() { Representation::Yaml } else { Representation::Json };
        self.render_bytes_of(kind)
    }
}

pub(crate) fn meta(name: &str, version: &str) -> Metadata {
    Metadata {
        name: name.into(),
        version: version.into(),
        api_version: "v2".into(),
        description: "A Helm chart for Kubernetes".into(),
        app_version: "1.16.0".into(),
        chart_type: "application".into(),
        ..Default::default()
    }
}

fn entry(name: &str, version: &str, config: &RenderConfig) -> Entry {
    let object = StoredObject { file: format!("{name}-{version}.tgz"), size: 10, etag: None };
    Entry::new(meta(name, version), "ab".repeat(32), Timestamp::UNIX_EPOCH, object, config).unwrap()
}

#[test]
fn renders_helm_shaped_yaml() {
    let config = RenderConfig::default();
    let mut index = Index::new(config.clone());
    index.set_generated(Timestamp::UNIX_EPOCH);
    assert_eq!(
        &index.render_bytes()[..],
        b"apiVersion: v1\nentries: {}\ngenerated: \"1970-01-01T00:00:00Z\"\nserverInfo: {}\n"
    );
    index.insert(entry("mychart", "0.1.0", &config));
    index.insert(entry("mychart", "0.2.0", &config));
    index.insert(entry("alpha", "1.10", &config));
    let body = String::from_utf8(index.render_bytes().to_vec()).unwrap();
    let expected = r#"apiVersion: v1
entries:
  alpha:
  - apiVersion: v2
    appVersion: 1.16.0
    created: "1970-01-01T00:00:00Z"
    description: A Helm chart for Kubernetes
    digest: abababababababababababababababababababababababababababababababab
    name: alpha
    type: application
    urls:
    - charts/alpha-1.10.tgz
    version: "1.10"
  mychart:
  - apiVersion: v2
    appVersion: 1.16.0
    created: "1970-01-01T00:00:00Z"
    description: A Helm chart for Kubernetes
    digest: abababababababababababababababababababababababababababababababab
    name: mychart
    type: application
    urls:
    - charts/mychart-0.2.0.tgz
    version: 0.2.0
  - apiVersion: v2
    appVersion: 1.16.0
    created: "1970-01-01T00:00:00Z"
    description: A Helm chart for Kubernetes
    digest: abababababababababababababababababababababababababababababababab
    name: mychart
    type: application
    urls:
    - charts/mychart-0.1.0.tgz
    version: 0.1.0
generated: "1970-01-01T00:00:00Z"
serverInfo: {}
"#;
    assert_eq!(body, expected);
    assert_eq!(index.len(), 3);
    assert!(index.remove("mychart", "0.2.0").is_some());
    assert!(index.remove("mychart", "0.2.0").is_none());
    assert_eq!(index.remove_chart("mychart").len(), 1);
    assert_eq!(index.len(), 1);
    assert!(index.by_file("mychart-0.1.0.tgz").is_none());
    assert!(index.by_file("alpha-1.10.tgz").is_some());
}

/// Found by fuzzing: a `Chart.yaml` an upload accepts, with a DEL or a C1 control inside
/// a dependency's `import-values` or `tags` (escaped in the `Chart.yaml`), made the whole
/// `index.yaml` unreadable for YAML readers ("control characters are not allowed").
#[test]
fn control_characters_in_dependency_values_keep_the_index_readable() {
    let chart_yaml = "apiVersion: v2\nname: dep\nversion: 1.0.0\ndependencies:\n- name: sub\n  repository: \"\"\n  tags: [\"t\\x7f\"]\n  import-values: [{child: \"a\\x85\", \"parent\\u2028\": \"b\\x9f\"}]\n";
    let md = Metadata::from_yaml(chart_yaml.as_bytes()).expect("an upload accepts this Chart.yaml");
    let config = RenderConfig::default();
    let object = StoredObject { file: "dep-1.0.0.tgz".into(), size: 10, etag: None };
    let mut index = Index::new(config.clone());
    index.insert(Entry::new(md.clone(), "ab".repeat(32), Timestamp::UNIX_EPOCH, object, &config).unwrap());
    let body = index.render_bytes();
    #[derive(serde::Deserialize)]
    struct File {
        entries: std::collections::BTreeMap<String, Vec<Metadata>>,
    }
    let read: File =
        serde_saphyr::from_slice(&body).unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&body)));
    assert_eq!(read.entries["dep"][0].dependencies, md.dependencies);
}

#[test]
fn json_and_context_path() {
    let config =
        RenderConfig { chart_url: Some("https://h/x".into()), context_path: "/x".into(), format: IndexFormat::Json };
    let mut index = Index::new(config.clone());
    index.set_generated(Timestamp::UNIX_EPOCH);
    index.insert(entry("a", "1.0.0", &config));
    let body: serde_json::Value = serde_json::from_slice(&index.render_bytes()).unwrap();
    assert_eq!(body["serverInfo"]["contextPath"], "/x");
    assert_eq!(body["entries"]["a"][0]["urls"][0], "https://h/x/charts/a-1.0.0.tgz");
    assert_eq!(body["entries"]["a"][0]["created"], "1970-01-01T00:00:00Z");
    let first_key = index.chart_json("a").unwrap();
    assert!(first_key.starts_with("[{\"name\":\"a\",\"version\":\"1.0.0\""), "{first_key}");
}

/// The body rendered from scratch, without pages.
fn naive(index: &Index, kind: Representation) -> String {
    let (header, footer) = header_footer(kind, &index.config, index.generated, index.charts.is_empty());
    let mut out = header;
    for (i, (name, versions)) in index.charts.iter().enumerate() {
        write_chart(&mut out, kind, i == 0, &name.0, versions);
    }
    out + &footer
}

/// Issue 16: after a render, each version's YAML is a slice of a served page, not a copy.
fn assert_fragments_live_in_pages(index: &Index) {
    let pages = &index.yaml.as_ref().expect("a YAML body").pages;
    for slot in index.charts.values().flatten() {
        let at = slot.yaml.as_ptr_range();
        assert!(
            pages.iter().any(|p| {
                let page = p.bytes.as_ptr_range();
                page.start <= at.start && at.end <= page.end
            }),
            "{} {} holds its own copy of its YAML",
            slot.entry.name(),
            slot.entry.version()
        );
    }
}

#[test]
fn paged_rendering_matches_a_full_render_through_any_change_sequence() {
    for format in [IndexFormat::Yaml, IndexFormat::Json, IndexFormat::Auto] {
        let config = RenderConfig { format, ..Default::default() };
        let kinds: Vec<Representation> = [Representation::Yaml, Representation::Json]
            .into_iter()
            .filter(|k| match k {
                Representation::Yaml => format.renders_yaml(),
                Representation::Json => format.renders_json(),
            })
            .collect();
        let mut index = Index::new(config.clone());
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut digests = std::collections::HashSet::new();
        for step in 0..1500 {
            let name = format!("chart{}", next() % 300);
            let version = format!("1.0.{}", next() % 8);
            match next() % 10 {
                0 => {
                    index.remove_chart(&name);
                }
                1..=3 => {
                    index.remove(&name, &version);
                }
                _ => {
                    index.insert(entry(&name, &version, &config));
                }
            }
            if step % 7 == 0 || step > 1400 {
                index.set_generated(Timestamp::from_second(step).unwrap());
                for &kind in &kinds {
                    // With both representations, JSON is rendered less often than YAML: each
                    // keeps its own record of the charts changed since its last render.
                    if kinds.len() == 2 && kind == Representation::Json && step % 3 != 0 && step <= 1400 {
                        continue;
                    }
                    let rendered = index.render(kind).unwrap();
                    let mut body = Vec::new();
                    for c in &rendered.chunks {
                        body.extend_from_slice(c);
                    }
                    assert_eq!(rendered.len, body.len());
                    assert_eq!(String::from_utf8(body).unwrap(), naive(&index, kind), "{format} {kind:?} step={step}");
                    assert!(digests.insert(rendered.digest), "every change gives a new digest");
                }
                if format.renders_yaml() {
                    assert_fragments_live_in_pages(&index);
                }
            }
        }
        for &kind in &kinds {
            let pages = match kind {
                Representation::Yaml => &index.yaml,
                Representation::Json => &index.json,
            };
            assert!(pages.as_ref().unwrap().pages.len() > 1, "the test must exercise several pages");
        }
        if format.renders_json() {
            let v: serde_json::Value = serde_json::from_slice(&index.render_bytes_of(Representation::Json)).unwrap();
            assert_eq!(v["entries"].as_object().unwrap().len(), index.charts.len());
        }
        assert_eq!(index.chart_count(), index.names().count());
        // Emptying the index leaves a valid body.
        let names: Vec<String> = index.names().map(str::to_owned).collect();
        for n in names {
            index.remove_chart(&n);
        }
        assert_eq!(index.chart_count(), 0);
        for &kind in &kinds {
            assert_eq!(String::from_utf8(index.render_bytes_of(kind).to_vec()).unwrap(), naive(&index, kind));
        }
    }
}

/// `auto` renders both bodies from the same entries: the YAML is the bytes of `yaml`, the JSON
/// the bytes of `json`, and the two describe the same versions.
#[test]
fn auto_renders_the_yaml_and_the_json_bodies() {
    let mut bodies = Vec::new();
    for format in [IndexFormat::Yaml, IndexFormat::Json, IndexFormat::Auto] {
        let config = RenderConfig { chart_url: Some("https://h/x".into()), context_path: "/x".into(), format };
        let mut index = Index::new(config.clone());
        index.set_generated(Timestamp::UNIX_EPOCH);
        for (name, version) in
            [("b", "1.0.0"), ("a", "2.0.0"), ("a", "1.0.0"), ("chart10", "1.0.0"), ("chart2", "1.0.0")]
        {
            index.insert(entry(name, version, &config));
        }
        let yaml = format.renders_yaml().then(|| index.render_bytes_of(Representation::Yaml));
        let json = format.renders_json().then(|| index.render_bytes_of(Representation::Json));
        assert_eq!(index.render(Representation::Yaml).is_some(), format.renders_yaml());
        assert_eq!(index.render(Representation::Json).is_some(), format.renders_json());
        bodies.push((yaml, json));
    }
    let [(yaml, _), (_, json), (auto_yaml, auto_json)] = <[_; 3]>::try_from(bodies).unwrap();
    assert_eq!(auto_yaml, yaml, "the YAML of auto is the YAML of yaml");
    assert_eq!(auto_json, json, "the JSON of auto is the JSON of json");
    let json = json.unwrap();
    let text = std::str::from_utf8(&json).unwrap();
    assert!(
        text.starts_with("{\"apiVersion\":\"v1\",\"generated\":\"1970-01-01T00:00:00Z\",\"entries\":{\"a\":["),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let names: Vec<&String> = v["entries"].as_object().unwrap().keys().collect();
    assert_eq!(names.len(), 4);
    let versions: Vec<&str> =
        v["entries"]["a"].as_array().unwrap().iter().map(|e| e["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["2.0.0", "1.0.0"], "newest first, as in the YAML");
    // The JSON names come in the YAML's (go-yaml's) order.
    let order: Vec<usize> =
        ["\"a\":", "\"b\":", "\"chart2\":", "\"chart10\":"].iter().map(|k| text.find(k).unwrap()).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
}

/// A copy of an indexed entry with other provenance keeps the version's YAML; a copy whose
/// version is gone, or now held by another archive, is not indexed (it has no YAML of its own).
#[test]
fn copies_of_indexed_entries_keep_their_fragment_or_are_refused() {
    use crate::provenance::ProvenanceRecord;
    let config = RenderConfig::default();
    let mut index = Index::new(config.clone());
    index.set_generated(Timestamp::UNIX_EPOCH);
    index.insert(entry("a", "1.0.0", &config));
    let body = index.render_bytes();
    let indexed = Arc::clone(index.get("a", "1.0.0").unwrap());
    let record = ProvenanceRecord { size: 1, etag: None, signature: None, failure: None };
    assert!(index.insert(indexed.with_provenance(Some(record))).is_some());
    assert!(index.get("a", "1.0.0").unwrap().provenance().is_some());
    assert_eq!(index.render_bytes(), body, "same YAML");
    // Another archive now holds the version: the stale copy does not replace it.
    let object = StoredObject { file: "a-1.0.0.tgz".into(), size: 10, etag: None };
    let other = Entry::new(meta("a", "1.0.0"), "cd".repeat(32), Timestamp::UNIX_EPOCH, object, &config).unwrap();
    index.insert(other);
    let body = index.render_bytes();
    assert!(index.insert(indexed.with_provenance(None)).is_none());
    assert_eq!(index.get("a", "1.0.0").unwrap().digest(), "cd".repeat(32));
    assert_eq!(index.render_bytes(), body);
    // The version is gone: the copy does not bring it back.
    index.remove("a", "1.0.0");
    assert!(index.insert(indexed.with_provenance(None)).is_none());
    assert!(index.is_empty());
    assert_eq!(index.by_file("a-1.0.0.tgz").map(|e| e.digest().to_string()), None);
}

#[test]
fn which_copy_of_a_duplicate_version_wins() {
    let canonical = "a-1.0.0.tgz";
    // (indexed copy, candidate copy, does the indexed copy keep the version?)
    for (existing, candidate, kept) in [
        ("a-1.0.0.tgz", "a-1.0.0.tgz", false),
        ("a-1.0.0.tgz", "copy.tgz", true),
        ("copy.tgz", "a-1.0.0.tgz", false),
        ("copy.tgz", "other.tgz", true),
        ("copy.tgz", "copy.tgz", false),
    ] {
        assert_eq!(existing_copy_wins(existing, candidate, canonical), kept, "{existing} vs {candidate}");
    }
}

#[test]
fn admission_and_replacement_at_a_file() {
    let config = RenderConfig::default();
    let mut index = Index::new(config.clone());
    let at = |name: &str, version: &str, file: &str| {
        let object = StoredObject { file: file.into(), size: 1, etag: None };
        Entry::new(meta(name, version), "ab".repeat(32), Timestamp::UNIX_EPOCH, object, &config).unwrap()
    };
    assert_eq!(index.admission("a", "1.0.0", "copy.tgz"), Admission::Admit);
    index.admit(at("a", "1.0.0", "copy.tgz"));
    assert_eq!(index.admission("a", "1.0.0", "other.tgz"), Admission::Duplicate { kept: "copy.tgz".into() });
    assert_eq!(index.admission("a", "1.0.0", "a-1.0.0.tgz"), Admission::Admit);
    index.admit(at("a", "1.0.0", "a-1.0.0.tgz"));
    assert_eq!(index.get("a", "1.0.0").map(|e| e.file()), Some("a-1.0.0.tgz"));
    assert!(index.by_file("copy.tgz").is_none(), "the replaced copy is no longer indexed");
    // A file now holding another version: its old entry goes.
    index.admit(at("a", "2.0.0", "a-1.0.0.tgz"));
    assert!(index.get("a", "1.0.0").is_none());
    assert_eq!(index.len(), 1);
}

#[test]
fn go_yaml_name_order() {
    let mut names = vec!["chart10", "chart2", "Zeta", "alpha", "a-b", "a1"];
    names.sort_by_key(|n| ChartName((*n).into()));
    assert_eq!(names, vec!["Zeta", "a-b", "a1", "alpha", "chart2", "chart10"]);
}

/// Property test (issue 17): the index is a function of the set of versions it holds, not of
/// the order in which they were added and removed.
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn versions() -> impl Strategy<Value = Vec<(String, String)>> {
        proptest::collection::btree_set(
            (prop_oneof![Just("alpha"), Just("beta"), Just("mychart"), Just("z")], 0u64..4, 0u64..12, 0u64..3),
            1..24,
        )
        .prop_map(|set| set.into_iter().map(|(name, a, b, c)| (name.to_owned(), format!("{a}.{b}.{c}"))).collect())
    }

    fn body(index: &mut Index) -> String {
        index.set_generated(Timestamp::UNIX_EPOCH);
        String::from_utf8(index.render_bytes().to_vec()).unwrap()
    }

    proptest! {
        #[test]
        fn adds_and_removes_in_any_order_give_the_same_index(
            (all, removed, adds, removes) in versions().prop_flat_map(|all| {
                let n = all.len();
                (
                    Just(all.clone()),
                    proptest::collection::vec(any::<bool>(), n),
                    Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
                    Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
                )
            }),
            interleave in any::<bool>(),
        ) {
            let config = RenderConfig::default();
            // Straight: only what stays, in sorted order.
            let mut straight = Index::new(config.clone());
            for (i, (name, version)) in all.iter().enumerate() {
                if !removed[i] {
                    straight.insert(entry(name, version, &config));
                }
            }
            // Shuffled: everything added in one order, the removed ones taken out in another
            // (each removal right after its add, or all at the end).
            let mut shuffled = Index::new(config.clone());
            for &i in &adds {
                let (name, version) = &all[i];
                shuffled.insert(entry(name, version, &config));
                if interleave && removed[i] {
                    shuffled.remove(name, version);
                }
            }
            for &i in &removes {
                if removed[i] {
                    let (name, version) = &all[i];
                    shuffled.remove(name, version);
                }
            }
            prop_assert_eq!(shuffled.len(), straight.len());
            prop_assert_eq!(body(&mut shuffled), body(&mut straight));
        }
    }
}

/// A start (every chart) and a large resync (many charts) render the two bodies of `auto` on
/// two threads; an upload (a chart or two) on one. Either way the bodies are what a full
/// render writes and every YAML fragment is a slice of its page.
#[test]
fn rendering_both_bodies_at_once_gives_what_rendering_them_in_turn_gives() {
    let config =
        RenderConfig { chart_url: Some("https://h/x".into()), context_path: String::new(), format: IndexFormat::Auto };
    let mut index = Index::new(config.clone());
    index.set_generated(Timestamp::UNIX_EPOCH);
    for i in 0..400 {
        for version in ["1.0.0", "1.1.0"] {
            index.insert(entry(&format!("chart{i:03}"), version, &config));
        }
    }
    let check = |index: &mut Index, what: &str| {
        let (yaml, json) = index.render_all();
        for (rendered, kind) in [(yaml, Representation::Yaml), (json, Representation::Json)] {
            let rendered = rendered.expect("auto renders both");
            let body: Vec<u8> = rendered.chunks.iter().flat_map(|c| c.iter().copied()).collect();
            assert_eq!(String::from_utf8(body).unwrap(), naive(index, kind), "{what}: {kind:?}");
        }
        assert_fragments_live_in_pages(index);
    };
    assert!(index.yaml.as_ref().unwrap().pending() >= PARALLEL_RENDER_FROM);
    check(&mut index, "first render");
    assert!(index.yaml.as_ref().unwrap().pages.len() > 2, "several pages");
    for i in (0..400).step_by(3) {
        index.insert(entry(&format!("chart{i:03}"), "2.0.0", &config));
    }
    index.remove_chart("chart000");
    assert!(index.json.as_ref().unwrap().pending() >= PARALLEL_RENDER_FROM);
    check(&mut index, "many charts changed");
    index.insert(entry("chart001", "3.0.0", &config));
    assert!(index.json.as_ref().unwrap().pending() < PARALLEL_RENDER_FROM);
    check(&mut index, "one chart changed");
}
