//! `chartroom package` against `helm package`, for three charts: the `helm create` scaffold, a
//! chart with a `.helmignore` (file, directory, anchored and negated rules), and a chart with a
//! packaged (`charts/x.tgz`) and a directory subchart. Each folder is packaged by Helm 3 and by
//! Chartroom, then Helm 3.17 and Helm 4.1 must print the same `helm show chart`,
//! `helm show values` and `helm template` for both archives. Also: reproducible bytes,
//! `--version`/`--app-version`, and failures that leave no file behind.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::*;

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A file of a chart folder: path relative to the folder, content.
type TreeFile<'a> = (&'a str, &'a [u8]);

/// Writes `files` (paths relative to `root`) and returns `root`.
fn write_tree(root: &Path, files: &[TreeFile]) -> PathBuf {
    for (rel, data) in files {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, data).expect("write");
    }
    root.to_path_buf()
}

/// The one file in `dir`.
fn only_file(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = fs::read_dir(dir).expect("read dir").map(|e| e.expect("entry").path()).collect();
    assert_eq!(files.len(), 1, "expected one file in {}: {files:?}", dir.display());
    files.into_iter().next().expect("one file")
}

/// `chartroom package <chart> -d <dest> <extra>`; returns the archive path it reports.
fn chartroom_package(chart: &Path, dest: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["package", p(chart), "-d", p(dest)];
    args.extend(extra);
    let out = Cli::new().output(&args);
    let all = text(&out);
    assert!(out.status.success(), "chartroom {args:?} failed: {all}");
    let line = all.lines().find_map(|l| l.strip_prefix("Successfully packaged chart and saved it to: "));
    let path = PathBuf::from(line.unwrap_or_else(|| panic!("unexpected output of chartroom {args:?}: {all}")));
    assert!(path.is_file(), "{} does not exist", path.display());
    assert_eq!(path, only_file(dest));
    path
}

/// `helm package <chart> -d <dest> <extra>` with Helm 3; returns the archive path.
fn helm_package(helm: &Helm, chart: &Path, dest: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["package", p(chart), "-d", p(dest)];
    args.extend(extra);
    let out = helm.run(&args);
    assert!(out.contains("Successfully packaged chart"), "{out}");
    only_file(dest)
}

/// stdout of a successful Helm command.
#[track_caller]
fn helm_stdout(helm: &Helm, args: &[&str]) -> String {
    let out = helm.output_in(None, args);
    assert!(out.status.success(), "{} {args:?} failed: {}", helm.label(), text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `helm show chart`, `helm show values`, `helm template rel` are identical for both archives,
/// with every Helm; returns the template output (of the first Helm).
#[track_caller]
fn assert_same_rendering(helms: &[Helm], helm_tgz: &Path, chartroom_tgz: &Path) -> String {
    let mut rendered = None;
    for helm in helms {
        for cmd in [&["show", "chart"][..], &["show", "values"], &["template", "rel"]] {
            let with = |tgz: &Path| {
                let mut args = cmd.to_vec();
                args.push(p(tgz));
                helm_stdout(helm, &args)
            };
            let expected = with(helm_tgz);
            let got = with(chartroom_tgz);
            assert_eq!(
                got,
                expected,
                "{} {cmd:?}: chartroom's archive ({}) differs from helm's ({})",
                helm.label(),
                chartroom_tgz.display(),
                helm_tgz.display()
            );
            if cmd[0] == "template" && rendered.is_none() {
                rendered = Some(got);
            }
        }
    }
    rendered.expect("rendered")
}

/// Entry names of a `.tgz`, in archive order.
fn tgz_names(path: &Path) -> Vec<String> {
    let bytes = fs::read(path).expect("read tgz");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    let mut names = Vec::new();
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        names.push(String::from_utf8_lossy(&entry.path_bytes()).into_owned());
        let mut sink = Vec::new();
        entry.read_to_end(&mut sink).expect("read entry");
    }
    names
}

fn both_helms() -> Vec<Helm> {
    BOTH_HELMS.into_iter().map(Helm::new).collect()
}

#[test]
fn helm_create_chart_renders_identically_and_reproducibly() {
    let helms = both_helms();
    let helm3 = &helms[0];
    let work = helm3.work_dir("package-create");
    helm3.run_in(Some(&work), &["create", "scaffold"]);
    let chart = work.join("scaffold");

    let from_helm = helm_package(helm3, &chart, &work.join("helm"), &[]);
    let ours = chartroom_package(&chart, &work.join("ours"), &[]);
    assert_eq!(ours.file_name(), from_helm.file_name());
    let rendered = assert_same_rendering(&helms, &from_helm, &ours);
    assert!(rendered.contains("kind: Deployment") && rendered.contains("name: rel-scaffold"), "{rendered}");
    // Same files as Helm's archive (Helm writes no directory entries either), in Helm's order.
    assert_eq!(tgz_names(&ours), tgz_names(&from_helm));

    // Reproducible: again, and from a copy elsewhere with fresh modification times.
    let again = chartroom_package(&chart, &work.join("again"), &[]);
    let copy = work.join("elsewhere/scaffold");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    copy_tree(&chart, &copy);
    let copied = chartroom_package(&copy, &work.join("copied"), &[]);
    let digest = sha256_hex(&fs::read(&ours).expect("read"));
    assert_eq!(sha256_hex(&fs::read(&again).expect("read")), digest, "packaging twice changed the bytes");
    assert_eq!(sha256_hex(&fs::read(&copied).expect("read")), digest, "a copy of the folder packaged differently");

    // --version / --app-version, against Helm's own flags.
    let flags = ["--version", "2.3.4-rc.1", "--app-version", "v9.9"];
    let from_helm = helm_package(helm3, &chart, &work.join("helm-flags"), &flags);
    let ours = chartroom_package(&chart, &work.join("ours-flags"), &flags);
    assert_eq!(ours.file_name().and_then(|n| n.to_str()), Some("scaffold-2.3.4-rc.1.tgz"));
    assert_same_rendering(&helms, &from_helm, &ours);
    for helm in &helms {
        let shown = helm_stdout(helm, &["show", "chart", p(&ours)]);
        assert!(shown.contains("\nversion: 2.3.4-rc.1\n"), "{}: {shown}", helm.label());
        assert!(shown.contains("appVersion: v9.9\n"), "{}: {shown}", helm.label());
    }
}

const IGNORING_HELMIGNORE: &str = "\
# Helm's rules: basename, directory, anchored, path, and Helm's own negation
secret.txt
tmp/
/anchored.txt
*.bak
docs/*.log

# Helm negation: whatever does NOT match is ignored (here: names not starting with a letter or _)
![a-zA-Z_]*
";

const FILES_TEMPLATE: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-files
data:
  greeting: {{ .Values.greeting | quote }}
  files: |
    {{- range $path, $_ := .Files }}
    {{ $path }}
    {{- end }}
";

#[test]
fn helmignore_chart_renders_identically() {
    let helms = both_helms();
    let helm3 = &helms[0];
    let work = helm3.work_dir("package-helmignore");
    let chart = write_tree(
        &work.join("ignorer"),
        &[
            (
                "Chart.yaml",
                b"apiVersion: v2\nname: ignorer\nversion: 0.3.0\nappVersion: \"2.0\"\ndescription: .helmignore rules\n",
            ),
            ("values.yaml", b"\xEF\xBB\xBFgreeting: hello\n"),
            (".helmignore", IGNORING_HELMIGNORE.as_bytes()),
            ("templates/files.yaml", FILES_TEMPLATE.as_bytes()),
            ("templates/.hidden.yaml", b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: hidden\n"),
            ("secret.txt", b"top secret"),
            ("docs/secret.txt", b"nested secret"),
            ("tmp/a.txt", b"tmp dir"),
            ("docs/tmp/b.txt", b"nested tmp dir"),
            ("other/tmp", b"a regular file named tmp"),
            ("anchored.txt", b"anchored"),
            ("docs/anchored.txt", b"not at the root"),
            ("old.bak", b"backup"),
            ("docs/x.log", b"log"),
            ("docs/sub/y.log", b"deeper log"),
            ("x.log", b"root log"),
            ("9lives.txt", b"negation drops it"),
            ("notes.txt", b"kept"),
            ("docs/readme.md", b"kept"),
        ],
    );

    let from_helm = helm_package(helm3, &chart, &work.join("helm"), &[]);
    let ours = chartroom_package(&chart, &work.join("ours"), &[]);
    let rendered = assert_same_rendering(&helms, &from_helm, &ours);
    assert!(!rendered.contains("kind: Secret"), "templates/.hidden.yaml must be ignored: {rendered}");

    let expected: BTreeSet<String> = [
        "Chart.yaml",
        "values.yaml",
        "templates/files.yaml",
        "docs/anchored.txt",
        "docs/readme.md",
        "docs/sub/y.log",
        "notes.txt",
        "other/tmp",
        "x.log",
    ]
    .into_iter()
    .map(|f| format!("ignorer/{f}"))
    .collect();
    let got: BTreeSet<String> = tgz_names(&ours).into_iter().collect();
    assert_eq!(got, expected);
    assert_eq!(tgz_names(&from_helm).into_iter().collect::<BTreeSet<_>>(), expected, "Helm agrees");
}

#[test]
fn subchart_chart_renders_identically() {
    let helms = both_helms();
    let helm3 = &helms[0];
    let work = helm3.work_dir("package-subcharts");

    // A packaged subchart, made by Helm, and a directory subchart.
    let packed = write_tree(
        &work.join("src/packed"),
        &[
            ("Chart.yaml", b"apiVersion: v2\nname: packed\nversion: 0.1.0\n"),
            ("values.yaml", b"marker: packed-default\nenabled: false\n"),
            ("templates/configmap.yaml", CONFIGMAP_TEMPLATE.as_bytes()),
        ],
    );
    let parent = work.join("parent");
    helm_package(helm3, &packed, &parent.join("charts"), &[]);
    let chart_yaml = "\
apiVersion: v2
name: parent
description: 'Parent: with subcharts # not a comment'
version: 1.0.0
appVersion: \"1.10\"
annotations:
  enabled: \"yes\"
  released: \"2024-01-01\"
  octal: \"0755\"
keywords: [\"on\", \"off\", plain]
maintainers:
- name: Someone
  email: someone@example.com
dependencies:
- name: packed
  version: 0.1.0
  repository: \"\"
  condition: packed.enabled
  tags: [extras]
- name: dirsub
  version: \">=1.0.0\"
  repository: file://charts/dirsub
  alias: sub2
";
    write_tree(
        &parent,
        &[
            ("Chart.yaml", chart_yaml.as_bytes()),
            (
                "Chart.lock",
                b"dependencies:\n- name: packed\n  repository: \"\"\n  version: 0.1.0\n- name: dirsub\n  repository: file://charts/dirsub\n  version: 1.2.0\ndigest: sha256:0000000000000000000000000000000000000000000000000000000000000000\ngenerated: \"2024-01-02T03:04:05.123456789Z\"\n",
            ),
            ("values.yaml", b"marker: parent\npacked:\n  enabled: true\n  marker: from-parent\nsub2:\n  marker: aliased\n"),
            ("templates/configmap.yaml", CONFIGMAP_TEMPLATE.as_bytes()),
            ("charts/.gitkeep", b""),
            ("charts/dirsub/Chart.yaml", b"apiVersion: v2\nname: dirsub\nversion: 1.2.0\n"),
            ("charts/dirsub/values.yaml", b"marker: dirsub-default\n"),
            ("charts/dirsub/templates/configmap.yaml", CONFIGMAP_TEMPLATE.as_bytes()),
            ("charts/dirsub/README.md", b"directory subchart\n"),
        ],
    );

    let from_helm = helm_package(helm3, &parent, &work.join("helm"), &[]);
    let ours = chartroom_package(&parent, &work.join("ours"), &[]);
    let rendered = assert_same_rendering(&helms, &from_helm, &ours);
    for marker in ["marker: \"parent\"", "marker: \"from-parent\"", "marker: \"aliased\""] {
        assert!(rendered.contains(marker), "{marker} missing from {rendered}");
    }
    let names = tgz_names(&ours);
    // Like `helm package`: the packaged subchart expanded into a folder named by its chart.
    let helm_names: BTreeSet<String> = tgz_names(&from_helm).into_iter().collect();
    assert_eq!(names.iter().cloned().collect::<BTreeSet<_>>(), helm_names);
    assert!(names.contains(&"parent/charts/packed/Chart.yaml".to_owned()), "{names:?}");
    assert!(names.contains(&"parent/charts/dirsub/Chart.yaml".to_owned()), "{names:?}");
    assert!(!names.iter().any(|n| n.contains(".gitkeep")), "Helm's loader drops charts/.*: {names:?}");
    for helm in &helms {
        let shown = helm_stdout(helm, &["show", "chart", p(&ours)]);
        assert!(shown.contains("enabled: \"yes\""), "{}: {shown}", helm.label());
        assert!(shown.contains("appVersion: \"1.10\""), "{}: {shown}", helm.label());
    }
}

#[test]
fn failures_are_clear_and_leave_no_file() {
    let helm3 = Helm::new(HelmVersion::V3);
    let work = helm3.work_dir("package-failures");
    let dest = work.join("dest");
    fs::create_dir_all(&dest).expect("mkdir");
    let base: [(&str, &[u8]); 2] =
        [("values.yaml", b"a: 1\n"), ("templates/configmap.yaml", CONFIGMAP_TEMPLATE.as_bytes())];

    let cases: [(&str, &[TreeFile], &str); 4] = [
        (
            "bad-version",
            &[("Chart.yaml", b"apiVersion: v2\nname: bad-version\nversion: not-a-version\n")],
            "Chart.yaml: version \"not-a-version\" is not a valid semantic version",
        ),
        ("bad-yaml", &[("Chart.yaml", b"apiVersion: v2\nname: [bad\n")], "Chart.yaml: invalid YAML"),
        (
            "double-star",
            &[("Chart.yaml", b"apiVersion: v2\nname: double-star\nversion: 1.0.0\n"), (".helmignore", b"docs/**/x\n")],
            "double-star (**) syntax is not supported",
        ),
        (
            "missing-dep",
            &[(
                "Chart.yaml",
                b"apiVersion: v2\nname: missing-dep\nversion: 1.0.0\ndependencies:\n- name: absent\n  version: 1.0.0\n  repository: https://example.invalid\n",
            )],
            "found in Chart.yaml, but missing in charts/ directory: absent",
        ),
    ];
    for (name, files, message) in cases {
        let chart = write_tree(&work.join(name), &base);
        write_tree(&chart, files);
        let out = Cli::new().output(&["package", p(&chart), "-d", p(&dest)]);
        let all = text(&out);
        assert!(!out.status.success(), "{name}: chartroom package succeeded: {all}");
        assert!(all.contains(message), "{name}: expected {message:?} in: {all}");
        let left: Vec<_> = fs::read_dir(&dest).expect("read dest").collect();
        assert!(left.is_empty(), "{name}: files left behind: {left:?}");
        // Helm refuses these folders too.
        helm3.run_fail(&["package", p(&chart), "-d", p(&work.join("helm-dest"))]);
    }

    // --dependency-update without dependencies: nothing to update, the chart is packaged
    // (with dependencies: tests/e2e/deps.rs).
    let chart = write_tree(
        &work.join("dep-update"),
        &[("Chart.yaml", b"apiVersion: v2\nname: dep-update\nversion: 1.0.0\n"), ("values.yaml", b"a: 1\n")],
    );
    let out = Cli::new().output(&["package", p(&chart), "-d", p(&dest), "--dependency-update"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(dest.join("dep-update-1.0.0.tgz").is_file(), "{}", text(&out));
}
