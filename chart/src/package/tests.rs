use super::*;
use crate::archive::extract_files;

fn file(path: &str, data: &str) -> SourceFile {
    SourceFile { path: path.to_owned(), data: data.as_bytes().to_vec() }
}

const CHART: &str =
    "# comment\napiVersion: v2\nname: demo\nversion: 0.1.0\nappVersion: \"1.16.0\"\ndescription: A demo chart\n";

fn basic() -> Vec<SourceFile> {
    vec![
        file("values.yaml", "replicas: 1\n"),
        file("templates/b.yaml", "kind: B\n"),
        file("Chart.yaml", CHART),
        file("templates/a.yaml", "kind: A\n"),
        file("README.md", "# demo\n"),
        file(".helmignore", "*.bak\n"),
    ]
}

/// Names in archive order, and the headers' invariants.
fn entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header();
        assert_eq!(h.entry_type(), tar::EntryType::Regular);
        assert_eq!(h.mode().unwrap(), 0o644);
        assert_eq!(h.uid().unwrap(), 0);
        assert_eq!(h.gid().unwrap(), 0);
        assert_eq!(h.mtime().unwrap(), MTIME);
        assert_eq!(h.username_bytes(), Some(&b""[..]));
        assert_eq!(h.groupname_bytes(), Some(&b""[..]));
        assert!(h.as_ustar().is_some());
        let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        out.push((path, data));
    }
    out
}

fn names(bytes: &[u8]) -> Vec<String> {
    entries(bytes).into_iter().map(|(p, _)| p).collect()
}

#[test]
fn helm_order_and_reserialized_chart_yaml() {
    let p = package(basic(), &PackageOptions::default()).unwrap();
    assert_eq!(p.file_name, "demo-0.1.0.tgz");
    assert_eq!(p.metadata.name, "demo");
    assert_eq!(
        names(&p.bytes),
        [
            "demo/Chart.yaml",
            "demo/values.yaml",
            "demo/templates/a.yaml",
            "demo/templates/b.yaml",
            "demo/.helmignore",
            "demo/README.md"
        ]
    );
    let chart_yaml = &entries(&p.bytes)[0].1;
    assert_eq!(
        String::from_utf8_lossy(chart_yaml),
        "apiVersion: v2\nappVersion: 1.16.0\ndescription: A demo chart\nname: demo\nversion: 0.1.0\n"
    );
    // gzip header: no name, mtime 0, OS 255.
    assert_eq!(&p.bytes[..10], &[0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x02, 0xff]);
}

#[test]
fn reproducible_whatever_the_input_order() {
    let a = package(basic(), &PackageOptions::default()).unwrap();
    let mut files = basic();
    files.reverse();
    let b = package(files, &PackageOptions::default()).unwrap();
    assert_eq!(a.bytes, b.bytes);
}

#[test]
fn walk_order_is_by_component() {
    let mut files = basic();
    files.push(file("a-b/x", "1"));
    files.push(file("a/x", "2"));
    files.push(file("a.txt", "3"));
    let p = package(files, &PackageOptions::default()).unwrap();
    let n = names(&p.bytes);
    let pos = |s: &str| n.iter().position(|x| x == s).unwrap();
    assert!(pos("demo/a/x") < pos("demo/a-b/x"));
    assert!(pos("demo/a-b/x") < pos("demo/a.txt"));
}

#[test]
fn options_are_applied() {
    let opts = PackageOptions { version: Some("1.2.3-rc.1+b5".into()), app_version: Some("yes".into()) };
    let p = package(basic(), &opts).unwrap();
    assert_eq!(p.file_name, "demo-1.2.3-rc.1+b5.tgz");
    assert_eq!(p.metadata.version, "1.2.3-rc.1+b5");
    assert_eq!(p.metadata.app_version, "yes", "quoted, so not read as a boolean");
    let e = package(basic(), &PackageOptions { version: Some("nope".into()), app_version: None }).unwrap_err();
    assert_eq!(e.to_string(), "--version \"nope\" is not a valid semantic version");
}

#[test]
fn chart_yaml_validation() {
    let mut files = basic();
    files.retain(|f| f.path != "Chart.yaml");
    assert!(matches!(package(files.clone(), &PackageOptions::default()), Err(PackageError::ChartYamlMissing)));
    files.push(file("Chart.yaml", "apiVersion: v2\nname: demo\nversion: not-a-version\n"));
    let e = package(files, &PackageOptions::default()).unwrap_err();
    assert!(e.to_string().contains("is not a valid semantic version"), "{e}");
}

#[test]
fn bom_stripped_and_schema_checked() {
    let mut files = basic();
    files.retain(|f| f.path != "values.yaml");
    files.push(SourceFile { path: "values.yaml".into(), data: b"\xEF\xBB\xBFa: 1\n".to_vec() });
    files.push(SourceFile { path: "notes.txt".into(), data: b"\xEF\xBB\xBFhi".to_vec() });
    files.push(file("values.schema.json", "{\"type\": \"object\"}"));
    let p = package(files.clone(), &PackageOptions::default()).unwrap();
    let all = entries(&p.bytes);
    assert_eq!(all[1], ("demo/values.yaml".into(), b"a: 1\n".to_vec()));
    assert_eq!(all[2].0, "demo/values.schema.json");
    assert!(all.contains(&("demo/notes.txt".into(), b"hi".to_vec())));
    files.retain(|f| f.path != "values.schema.json");
    files.push(file("values.schema.json", "{"));
    let e = package(files, &PackageOptions::default()).unwrap_err();
    assert!(e.to_string().starts_with("Invalid JSON in values.schema.json"), "{e}");
}

#[test]
fn invalid_values_yaml() {
    let mut files = basic();
    files.retain(|f| f.path != "values.yaml");
    files.push(file("values.yaml", "a: [\n"));
    let e = package(files, &PackageOptions::default()).unwrap_err();
    assert!(e.to_string().starts_with("cannot load values.yaml"), "{e}");
}

fn subchart_tgz(name: &str) -> Vec<u8> {
    let files = vec![
        file("Chart.yaml", &format!("apiVersion: v2\nname: {name}\nversion: 0.2.0\n")),
        file("templates/x.yaml", "kind: X\n"),
    ];
    package(files, &PackageOptions::default()).unwrap().bytes
}

#[test]
fn subcharts_and_dependency_check() {
    let chart = "apiVersion: v2\nname: demo\nversion: 0.1.0\ndependencies:\n- name: packed\n  version: 0.2.0\n  repository: \"\"\n- name: inner\n  version: 1.0.0\n  repository: file://charts/inner-dir\n  alias: other\n";
    let mut files = vec![
        file("Chart.yaml", chart),
        file("Chart.lock", "dependencies: []\ndigest: sha256:00\ngenerated: \"2024-01-02T03:04:05Z\"\n"),
        SourceFile { path: "charts/packed-0.2.0.tgz".into(), data: subchart_tgz("packed") },
        file("charts/packed-0.2.0.tgz.prov", "prov"),
        file("charts/inner-dir/Chart.yaml", "\u{feff}apiVersion: v2\nname: inner\nversion: 1.0.0\n"),
        file("charts/inner-dir/values.yaml", "a: 1\n"),
        file("charts/inner-dir/templates/y.yaml", "kind: Y\n"),
        file("charts/.gitkeep", ""),
        file("charts/_skipped/Chart.yaml", "not: [valid"),
    ];
    let p = package(files.clone(), &PackageOptions::default()).unwrap();
    assert_eq!(
        names(&p.bytes),
        [
            "demo/Chart.yaml",
            "demo/Chart.lock",
            "demo/charts/packed-0.2.0.tgz.prov",
            "demo/charts/inner/Chart.yaml",
            "demo/charts/inner/values.yaml",
            "demo/charts/inner/templates/y.yaml",
            "demo/charts/packed/Chart.yaml",
            "demo/charts/packed/templates/x.yaml",
        ]
    );
    let chart_yaml = String::from_utf8(entries(&p.bytes)[0].1.clone()).unwrap();
    assert!(
        chart_yaml.contains(
            "dependencies:\n- name: packed\n  repository: \"\"\n  version: 0.2.0\n- alias: other\n  name: inner\n"
        ),
        "{chart_yaml}"
    );
    assert_eq!(p.metadata.dependencies.len(), 2);

    files.retain(|f| !f.path.starts_with("charts/inner-dir/"));
    let e = package(files.clone(), &PackageOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "found in Chart.yaml, but missing in charts/ directory: inner");

    files.push(file("charts/broken/Chart.yaml", "name: broken\nversion: nope\n"));
    let e = package(files, &PackageOptions::default()).unwrap_err();
    assert!(e.to_string().starts_with("subchart charts/broken: Chart.yaml: version"), "{e}");
}

/// The folder of a `file://./charts/sub` dependency and the archive `dependency update` made
/// of it: one folder `charts/sub/` in the package, as `helm package` writes it (Helm writes
/// it twice).
#[test]
fn a_subchart_present_as_folder_and_archive_is_written_once() {
    let sub = [
        file("charts/sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 0.2.0\n"),
        file("charts/sub/templates/x.yaml", "kind: X\n"),
        file("charts/sub/README.md", "only in the folder\n"),
    ];
    let mut files = basic();
    files.extend(sub.iter().cloned());
    files.push(SourceFile { path: "charts/sub-0.2.0.tgz".into(), data: subchart_tgz("sub") });
    let p = package(files.clone(), &PackageOptions::default()).unwrap();
    let names = names(&p.bytes);
    assert_eq!(
        names.iter().filter(|n| n.starts_with("demo/charts/")).collect::<Vec<_>>(),
        ["demo/charts/sub/Chart.yaml", "demo/charts/sub/templates/x.yaml", "demo/charts/sub/README.md"]
    );

    // The folder changed since the archive was made: Helm would write two different copies.
    if let Some(f) = files.iter_mut().find(|f| f.path == "charts/sub/templates/x.yaml") {
        f.data = b"kind: Y\n".to_vec();
    }
    let e = package(files, &PackageOptions::default()).unwrap_err();
    assert!(
        matches!(&e, PackageError::ConflictingSubcharts { name, path, first, second }
            if name == "sub" && path == "charts/sub/templates/x.yaml" && first == "charts/sub" && second == "charts/sub-0.2.0.tgz"),
        "{e}"
    );
    assert!(e.to_string().starts_with("subcharts charts/sub and charts/sub-0.2.0.tgz are both chart \"sub\""), "{e}");
}

#[test]
fn packaged_subcharts_are_expanded_recursively() {
    let inner = subchart_tgz("inner");
    let middle = package(
        vec![
            file("Chart.yaml", "apiVersion: v2\nname: middle\nversion: 1.0.0\n"),
            file("values.yaml", "m: 1\n"),
            SourceFile { path: "charts/inner-0.2.0.tgz".into(), data: inner },
        ],
        &PackageOptions::default(),
    )
    .unwrap();
    let mut files = basic();
    files.push(SourceFile { path: "charts/middle-1.0.0.tgz".into(), data: middle.bytes });
    let p = package(files, &PackageOptions::default()).unwrap();
    let names = names(&p.bytes);
    for expected in [
        "demo/charts/middle/Chart.yaml",
        "demo/charts/middle/values.yaml",
        "demo/charts/middle/charts/inner/Chart.yaml",
        "demo/charts/middle/charts/inner/templates/x.yaml",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
    }
    assert!(!names.iter().any(|n| n.ends_with(".tgz")), "{names:?}");
}

#[test]
fn stray_file_in_charts_fails_like_helm() {
    let mut files = basic();
    files.push(file("charts/README.md", "x"));
    let e = package(files, &PackageOptions::default()).unwrap_err();
    assert!(e.to_string().contains("charts/README.md"), "{e}");
    let mut files = basic();
    files.push(file("charts/bad.tgz", "not gzip"));
    let e = package(files, &PackageOptions::default()).unwrap_err();
    assert!(e.to_string().starts_with("subchart charts/bad.tgz"), "{e}");
}

#[test]
fn v1_charts_keep_requirements_and_drop_dependencies_from_chart_yaml() {
    let files = vec![
        file("Chart.yaml", "apiVersion: v1\nname: old\nversion: 1.0.0\n"),
        file("requirements.yaml", "dependencies:\n- name: sub\n  version: 0.2.0\n  repository: \"\"\n"),
        file("requirements.lock", "dependencies: []\ndigest: x\ngenerated: \"2024-01-02T03:04:05Z\"\n"),
        file("Chart.lock", "dependencies: []\n"),
        SourceFile { path: "charts/sub-0.2.0.tgz".into(), data: subchart_tgz("sub") },
    ];
    let p = package(files.clone(), &PackageOptions::default()).unwrap();
    let all = entries(&p.bytes);
    assert_eq!(
        all.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        [
            "old/Chart.yaml",
            "old/requirements.lock",
            "old/requirements.yaml",
            "old/charts/sub/Chart.yaml",
            "old/charts/sub/templates/x.yaml"
        ]
    );
    assert!(!String::from_utf8_lossy(&all[0].1).contains("dependencies"));
    assert_eq!(p.metadata.dependencies.len(), 1, "merged back from requirements.yaml when loading");

    // The same as v2: requirements.* dropped, dependencies in Chart.yaml, the lock as Chart.lock.
    let mut files = files;
    files[0] = file("Chart.yaml", "apiVersion: v2\nname: old\nversion: 1.0.0\n");
    let p = package(files, &PackageOptions::default()).unwrap();
    let all = entries(&p.bytes);
    assert_eq!(
        all.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["old/Chart.yaml", "old/Chart.lock", "old/charts/sub/Chart.yaml", "old/charts/sub/templates/x.yaml"]
    );
    assert!(all[1].1.starts_with(b"dependencies: []\ndigest: x"), "requirements.lock wins, as in Helm's walk");
    assert!(String::from_utf8_lossy(&all[0].1).contains("dependencies:\n- name: sub\n"));
}

#[test]
fn long_and_unicode_paths() {
    let long = format!("files/{}/{}.txt", "d".repeat(120), "f".repeat(120));
    let unicode = "files/naïve ☺.txt".to_owned();
    let mut files = basic();
    files.push(file(&long, "long"));
    files.push(file(&unicode, "u"));
    let p = package(files, &PackageOptions::default()).unwrap();
    let got = extract_files(&p.bytes, &Limits::default(), |_| true).unwrap();
    assert!(got.iter().any(|f| f.path == long && f.data == b"long"));
    assert!(got.iter().any(|f| f.path == unicode && f.data == b"u"));
    assert_eq!(pax_record("path", "a"), b"9 path=a\n");
    assert_eq!(pax_record("k", &"v".repeat(94)), format!("101 k={}\n", "v".repeat(94)).into_bytes());
    assert_eq!(pax_record("k", &"v".repeat(93)), format!("99 k={}\n", "v".repeat(93)).into_bytes());
}

#[test]
fn bad_paths_and_sizes() {
    for bad in ["", "/abs", "a//b", "./a", "a/../b", "a\\b", "a/"] {
        let mut files = basic();
        files.push(file(bad, "x"));
        assert!(matches!(package(files, &PackageOptions::default()), Err(PackageError::InvalidPath { .. })), "{bad:?}");
    }
    let mut files = basic();
    files.push(file("README.md", "again"));
    assert!(matches!(package(files, &PackageOptions::default()), Err(PackageError::DuplicatePath(_))));
    let mut files = basic();
    files.push(SourceFile { path: "big".into(), data: vec![0; 5 * 1024 * 1024 + 1] });
    assert!(matches!(package(files, &PackageOptions::default()), Err(PackageError::FileTooLarge { .. })));
}

#[test]
fn yaml_scalars_round_trip_through_the_parser() {
    let tricky = [
        "yes",
        "No",
        "on",
        "OFF",
        "y",
        "n",
        "true",
        "null",
        "~",
        "1.10",
        "0755",
        "1e3",
        "2024-01-01",
        "1:30",
        "",
        " lead",
        "trail ",
        "a: b",
        "a #b",
        "#x",
        "-x",
        "[a]",
        "{a}",
        "*a",
        "&a",
        "!a",
        "|",
        ">",
        "'q'",
        "\"q\"",
        "%x",
        "@x",
        "`x`",
        "a\nb",
        "tab\there",
        "nul\u{0}",
        "line\u{2028}sep",
        "bom\u{feff}",
        "del\u{7f}",
        "nel\u{85}",
        "naïve ☺ 𝄞",
        "back\\slash",
        "plain text",
        "https://example.com/a?b=c#d",
        "<<",
        "=",
        ".inf",
    ];
    for s in tricky {
        let md = Metadata {
            api_version: "v2".into(),
            name: "x".into(),
            version: "1.0.0".into(),
            description: s.into(),
            annotations: [(s.to_owned(), s.to_owned())].into_iter().collect(),
            ..Default::default()
        };
        let y = chart_yaml(&md).unwrap();
        let back: serde_json::Value = serde_saphyr::from_str(&y).unwrap_or_else(|e| panic!("{s:?}: {e}\n{y}"));
        if !s.is_empty() {
            assert_eq!(back["description"], serde_json::Value::String(s.to_owned()), "{s:?}\n{y}");
        }
        assert_eq!(back["annotations"][s], serde_json::Value::String(s.to_owned()), "{s:?}\n{y}");
    }
    assert_eq!(string_scalar("A Helm chart for Kubernetes"), "A Helm chart for Kubernetes");
    assert_eq!(string_scalar("Yes"), "\"Yes\"");
}

#[test]
fn nested_yaml_shapes() {
    let md = Metadata::from_yaml(
            b"apiVersion: v2\nname: x\nversion: 1.0.0\nmaintainers:\n- name: a\n  email: a@b.c\n- {}\nkeywords: [k1, '']\ndependencies:\n- name: d\n  repository: ''\n  tags: [t1, t2]\n  import-values:\n  - child: a.b\n    parent: c\n  - plain\n",
        )
        .unwrap();
    let y = chart_yaml(&md).unwrap();
    assert_eq!(
        y,
        "apiVersion: v2\ndependencies:\n- import-values:\n  - child: a.b\n    parent: c\n  - plain\n  name: d\n  repository: \"\"\n  tags:\n  - t1\n  - t2\nkeywords:\n- k1\n- \"\"\nmaintainers:\n- email: \"a@b.c\"\n  name: a\n- {}\nname: x\nversion: 1.0.0\n"
    );
    let back = Metadata::from_yaml(y.as_bytes()).unwrap();
    assert_eq!(back, md);
}

#[test]
fn never_panics_on_garbage() {
    let inputs: Vec<Vec<SourceFile>> = vec![
        vec![],
        vec![file("Chart.yaml", "")],
        vec![file("Chart.yaml", "- a")],
        vec![SourceFile { path: "Chart.yaml".into(), data: vec![0xff, 0xfe, 0x00] }],
        vec![file("Chart.yaml", "name: x\nversion: 1.0.0\n"), file("charts/a.tgz/x", "")],
        vec![file("Chart.yaml", "name: x\nversion: 1.0.0\n"), file("charts/a", "")],
        vec![file("Chart.yaml", "name: x\nversion: 1.0.0\n"), file("templates", "")],
    ];
    for files in inputs {
        let _ = package(files, &PackageOptions::default());
    }
}

/// Property test (issue 17): whatever a chart folder holds, packaging it and loading the archive
/// gives back the packager's metadata and every file's bytes.
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::archive::{Limits, extract_all, load_archive};

    fn chart_yaml() -> impl Strategy<Value = (String, String, String)> {
        (
            "[a-z][a-z0-9]{0,12}(-[a-z0-9]{1,6}){0,2}",
            (0u64..30, 0u64..30, 0u64..30, prop_oneof![Just(""), Just("-rc.1"), Just("+build.7")]),
            "\\PC{0,60}",
        )
            .prop_map(|(name, (a, b, c, suffix), description)| (name, format!("{a}.{b}.{c}{suffix}"), description))
    }

    fn templates() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
        proptest::collection::btree_map(
            "[a-z][a-z0-9_-]{0,15}\\.(yaml|tpl|txt)",
            proptest::collection::vec(any::<u8>(), 0..400),
            0..6,
        )
        .prop_map(|m| m.into_iter().map(|(k, v)| (format!("templates/{k}"), v)).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn packaged_charts_load_back_as_packaged(
            (name, version, description) in chart_yaml(),
            files in templates(),
            values in "([a-z]{1,8}: [a-z0-9]{0,8}\n){0,5}",
        ) {
            let mut text = format!("apiVersion: v2\nname: {name}\nversion: {version}\ndescription: ");
            crate::yaml::quoted(&mut text, &description);
            text.push('\n');
            let mut source = vec![file("Chart.yaml", &text), file("values.yaml", &values)];
            source.extend(files.iter().map(|(path, data)| SourceFile { path: path.clone(), data: data.clone() }));
            let packaged = package(source, &PackageOptions::default()).unwrap();
            prop_assert_eq!(&packaged.file_name, &format!("{name}-{version}.tgz"));
            let loaded = load_archive(&packaged.bytes, &Limits::default()).unwrap();
            prop_assert_eq!(&loaded.metadata, &packaged.metadata);
            // Helm's sanitizing applies (Unicode spaces become ' '), so the description is the
            // packager's, not necessarily the text written.
            prop_assert_eq!(&loaded.metadata.description, &packaged.metadata.description);
            prop_assert!(!description.is_empty() || loaded.metadata.description.is_empty());
            let unpacked = extract_all(&packaged.bytes, &Limits::default()).unwrap();
            for (path, data) in &files {
                let found = unpacked.iter().find(|f| &f.path == path);
                // A leading BOM is stripped on reading, as Helm does.
                let want: &[u8] = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
                prop_assert_eq!(found.map(|f| f.data.as_slice()), Some(want), "{}", path);
            }
            prop_assert_eq!(
                unpacked.iter().find(|f| f.path == "values.yaml").map(|f| f.data.clone()),
                Some(values.into_bytes())
            );
        }
    }
}
