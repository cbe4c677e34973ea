//! `chartroom install`: a chart whose dependencies are not in its archive (a parent needing a
//! child, which itself needs a grandchild) becomes a self-contained folder, by `helm repo add`
//! name and by `--repo <url>`, that Helm 3 and Helm 4 render with `helm template` after the
//! server is stopped, from fresh Helm homes; a packaged subchart shipped in the archive is
//! unpacked and completed too. Failures: a tampered dependency (digest mismatch, exit 7,
//! nothing left in the destination), an existing destination folder (exit 4), an unknown chart
//! (exit 3). A chart shipping all its subcharts, packaged inside packaged ones, installs with no
//! download beyond its own and its nested archives become folders.

use std::fs;
use std::path::Path;

use crate::support::*;

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const CHILD_CM: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.cmName }}\ndata:\n  from: child\n";

/// A repository holding `grandchild 0.1.0`, `child 1.0.0` (needs grandchild, not shipped),
/// `child 2.0.0` (outside the parent's constraint), `parent 1.0.0` (needs child ^1.0, not
/// shipped) and `bundle 1.0.0` (ships child 1.0.0 packaged in charts/, without its grandchild).
async fn repository() -> Server {
    let server = Server::start(&[]).await;
    let url = server.repo_url();
    server.upload_ok(ChartBuilder::chart("grandchild", "0.1.0").build()).await;
    for version in ["1.0.0", "2.0.0"] {
        server.upload_ok(child_tgz(&url, version)).await;
    }
    let parent_yaml = format!(
        "apiVersion: v2\nname: parent\nversion: 1.0.0\ndescription: needs child\ndependencies:\n  - name: child\n    version: ^1.0\n    repository: {url}\n"
    );
    let parent = ChartBuilder::new()
        .top_folder("parent")
        .file("Chart.yaml", parent_yaml)
        .file("values.yaml", "marker: parent-values\nchild:\n  cmName: named-by-parent\n")
        .file("templates/configmap.yaml", CONFIGMAP_TEMPLATE)
        .build();
    server.upload_ok(parent).await;
    let bundle_yaml = format!(
        "apiVersion: v2\nname: bundle\nversion: 1.0.0\ndependencies:\n  - name: child\n    version: ^1.0\n    repository: {url}\n"
    );
    let bundle = ChartBuilder::new()
        .top_folder("bundle")
        .file("Chart.yaml", bundle_yaml)
        .file("values.yaml", "marker: bundle-values\n")
        .file("templates/configmap.yaml", CONFIGMAP_TEMPLATE)
        .file("charts/child-1.0.0.tgz", child_tgz(&url, "1.0.0"))
        .build();
    server.upload_ok(bundle).await;
    server
}

fn child_tgz(url: &str, version: &str) -> Vec<u8> {
    let yaml = format!(
        "apiVersion: v2\nname: child\nversion: {version}\ndependencies:\n  - name: grandchild\n    version: \"~0.1\"\n    repository: {url}\n"
    );
    ChartBuilder::chart("child", version)
        .file("Chart.yaml", &yaml)
        .file("values.yaml", format!("marker: child-{version}-values\ncmName: child-default-name\n"))
        .file("templates/cm.yaml", CHILD_CM)
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installed_folder_renders_offline_with_both_helms() {
    let mut server = repository().await;
    let url = server.repo_url();
    let work = tempfile::tempdir().expect("tempdir");
    let helm3 = Helm::new(HelmVersion::V3);
    helm3.repo_add("cr", &url);
    let configured = Cli::like(&helm3);
    let unconfigured = Cli::empty();

    let by_name = work.path().join("by-name");
    let out = configured.ok(&["install", "cr/parent", p(&by_name)]);
    let folder = by_name.join("parent");
    let digest = server.index().await.expect_entry("parent", "1.0.0").digest().trim_start_matches("sha256:").to_owned();
    assert!(out.starts_with(&format!("Installed: parent-1.0.0 in {}\nDigest: {digest}\n", folder.display())), "{out}");
    assert!(out.contains("Dependencies:\n  child 1.0.0\n  grandchild 0.1.0\n"), "{out}");
    assert!(out.contains(&format!("Next: helm install parent {}\n", folder.display())), "{out}");
    assert!(out.contains(&format!("helm template parent {}\n", folder.display())), "{out}");
    assert_eq!(listing(&by_name), ["parent"], "only the chart folder in the destination");
    assert!(folder.join("charts/child/Chart.yaml").is_file(), "{:?}", listing(&folder.join("charts")));
    assert!(folder.join("charts/child/charts/grandchild/Chart.yaml").is_file());
    // Packaged downloads became folders; the locks of the resolution are kept.
    assert_eq!(listing(&folder.join("charts")), ["child"]);
    assert_eq!(listing(&folder.join("charts/child/charts")), ["grandchild"]);
    assert!(folder.join("Chart.lock").is_file() && folder.join("charts/child/Chart.lock").is_file());

    let by_url = work.path().join("by-url");
    let out = unconfigured.ok(&["install", "parent", "--repo", &url, "--version", "1.0.0", p(&by_url)]);
    assert!(out.contains("Dependencies:\n  child 1.0.0\n  grandchild 0.1.0\n"), "{out}");

    // A packaged subchart shipped in the archive is unpacked, and its missing dependency fetched.
    let bundled = work.path().join("bundled");
    let out = configured.ok(&["install", "cr/bundle", p(&bundled)]);
    assert!(out.contains("Dependencies:\n  child 1.0.0\n  grandchild 0.1.0\n"), "{out}");
    assert!(bundled.join("bundle/charts/child/charts/grandchild/Chart.yaml").is_file());

    // No network from here on: the server is gone and every Helm home is fresh.
    assert!(server.stop().success(), "{}", server.log());
    for version in BOTH_HELMS {
        let helm = Helm::new(version);
        for dir in [by_name.join("parent"), by_url.join("parent")] {
            let rendered = helm.run(&["template", "rel", p(&dir)]);
            for expected in [
                "name: rel-parent",
                "marker: \"parent-values\"",
                "name: rel-child",
                "marker: \"child-1.0.0-values\"",
                "name: named-by-parent",
                "name: rel-grandchild",
                "marker: \"grandchild-0.1.0-values\"",
            ] {
                assert!(
                    rendered.contains(expected),
                    "{} {}: {expected:?} missing in\n{rendered}",
                    helm.label(),
                    dir.display()
                );
            }
        }
        let rendered = helm.run(&["template", "rel", p(&bundled.join("bundle"))]);
        for expected in ["name: rel-bundle", "name: child-default-name", "name: rel-grandchild"] {
            assert!(rendered.contains(expected), "{}: {expected:?} missing in\n{rendered}", helm.label());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendored_subcharts_are_unpacked_without_fetching() {
    // `outer` ships `middle` packaged, which ships `inner` packaged: nothing to download, and
    // the nested archives become folders; the chart and repository declared are never asked.
    let mut server = Server::start(&[]).await;
    let unused = format!("http://127.0.0.1:{}/unused", free_port());
    let dep = |name: &str| format!("dependencies:\n  - name: {name}\n    version: \"*\"\n    repository: {unused}\n");
    let inner = ChartBuilder::chart("inner", "0.3.0").build();
    let middle_yaml = format!("{}{}", default_chart_yaml("middle", "0.2.0"), dep("inner"));
    let middle = ChartBuilder::chart("middle", "0.2.0")
        .file("Chart.yaml", middle_yaml)
        .file("charts/inner-0.3.0.tgz", inner)
        .build();
    let outer_yaml = format!("{}{}", default_chart_yaml("outer", "0.1.0"), dep("middle"));
    server
        .upload_ok(
            ChartBuilder::chart("outer", "0.1.0")
                .file("Chart.yaml", outer_yaml)
                .file("charts/middle-0.2.0.tgz", middle)
                .build(),
        )
        .await;
    let work = tempfile::tempdir().expect("tempdir");
    let out = Cli::empty().ok(&["install", "outer", "--repo", &server.repo_url(), p(work.path())]);
    assert!(out.contains("Dependencies:\n  middle 0.2.0\n  inner 0.3.0\n"), "{out}");
    let folder = work.path().join("outer");
    assert_eq!(listing(&folder.join("charts")), ["middle"]);
    assert_eq!(listing(&folder.join("charts/middle/charts")), ["inner"]);
    assert!(server.stop().success(), "{}", server.log());
    for version in BOTH_HELMS {
        let helm = Helm::new(version);
        let rendered = helm.run(&["template", "rel", p(&folder)]);
        for expected in
            ["marker: \"outer-0.1.0-values\"", "marker: \"middle-0.2.0-values\"", "marker: \"inner-0.3.0-values\""]
        {
            assert!(rendered.contains(expected), "{}: {expected:?} missing in\n{rendered}", helm.label());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_failures_have_exit_codes_and_leave_nothing() {
    let server = repository().await;
    let url = server.repo_url();
    let env = Cli::empty();
    let work = tempfile::tempdir().expect("tempdir");

    // Unknown chart: 3, and no destination folder created.
    let dest = work.path().join("unknown");
    let err = env.fail(&["install", "nope", "--repo", &url, p(&dest)], 3);
    assert!(err.contains(&format!("chart nope not found in {url}")), "{err}");
    assert!(!dest.exists(), "nothing created for an unknown chart");

    // The chart folder exists already: 4, untouched.
    let dest = work.path().join("existing");
    fs::create_dir_all(dest.join("parent")).expect("mkdir");
    fs::write(dest.join("parent/mine.txt"), "keep").expect("write");
    let err = env.fail(&["install", "parent", "--repo", &url, p(&dest)], 4);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(listing(&dest), ["parent"]);
    assert_eq!(listing(&dest.join("parent")), ["mine.txt"]);

    // Archives altered in storage behind the server's back: the index keeps the old digest, the
    // download is refused (7) and nothing is left in the destination. First the chart itself...
    let stored = server.storage_dir().join("bundle-1.0.0.tgz");
    fs::write(&stored, ChartBuilder::chart("bundle", "1.0.0").build()).expect("overwrite stored chart");
    let dest = work.path().join("tampered-chart");
    fs::create_dir_all(&dest).expect("mkdir");
    let err = env.fail(&["install", "bundle", "--repo", &url, p(&dest)], 7);
    assert!(err.contains("digest mismatch for bundle-1.0.0.tgz"), "{err}");
    assert!(listing(&dest).is_empty(), "nothing may be left in the destination: {:?}", listing(&dest));

    // ... then a dependency fetched for it.
    let stored = server.storage_dir().join("child-1.0.0.tgz");
    assert!(stored.is_file(), "storage holds {:?}", server.storage_files());
    fs::write(&stored, ChartBuilder::chart("child", "1.0.0").file("README.md", "tampered").build())
        .expect("overwrite stored chart");
    let dest = work.path().join("tampered");
    fs::create_dir_all(&dest).expect("mkdir");
    let err = env.fail(&["install", "parent", "--repo", &url, p(&dest)], 7);
    assert!(err.contains("digest mismatch for child-1.0.0.tgz"), "{err}");
    assert!(listing(&dest).is_empty(), "nothing may be left in the destination: {:?}", listing(&dest));
}
