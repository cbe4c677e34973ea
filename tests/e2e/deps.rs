//! `chartroom dependency update|build` against a running Chartroom and real Helm 3 and 4.
//!
//! A parent chart depends on (a) `common ^1.0` by URL (with a trailing `/`, matched to the
//! configured repository), (b) `redis` through the `@myrepo` alias with `alias: cache`,
//! `condition` and `tags`, and (c) a `file://../local` folder. Shown here:
//!
//! * `chartroom dependency update` picks `common-1.2.0` (not 1.0.0, not 2.0.0), rewrites
//!   `@myrepo` to its URL, packages the local folder, writes `charts/` and a `Chart.lock` byte
//!   for byte like Helm's (except `generated`), with the same digest as Helm's; a second run
//!   leaves it alone and deletes a stale archive but not a non-chart file;
//! * both Helms' `helm dependency build` accept that lock unchanged and `helm template` renders
//!   the subcharts (alias values scoping included);
//! * both Helms' `helm dependency update` locks are accepted unchanged by
//!   `chartroom dependency build`, which downloads the same versions;
//! * an edited constraint makes `dependency build` fail as out of sync (exit 2); an
//!   unsatisfiable constraint (exit 3) and an unknown `@alias` (exit 3) fail `update`;
//! * `chartroom package --dependency-update` packages a chart that both Helms render.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::support::*;

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

fn write(path: &Path, data: &str) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, data).expect("write");
}

/// The names of the files (not folders) in `dir`.
fn file_names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry"))
        .filter(|e| e.file_type().expect("type").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn without_generated(lock: &str) -> String {
    lock.lines().filter(|l| !l.starts_with("generated:")).map(|l| format!("{l}\n")).collect()
}

fn digest_of(lock: &str) -> String {
    lock.lines().find_map(|l| l.strip_prefix("digest: ")).expect("digest line").to_owned()
}

const PARENT_TEMPLATE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-parent\n";

/// `<root>/parent` (the chart with dependencies) and `<root>/local` (its `file://` dependency).
fn source_tree(root: &Path, repo_url: &str) -> PathBuf {
    let parent = root.join("parent");
    write(
        &parent.join("Chart.yaml"),
        &format!(
            "apiVersion: v2\nname: parent\nversion: 0.1.0\ndependencies:\n\
             - name: common\n  version: \"^1.0\"\n  repository: \"{repo_url}/\"\n\
             - name: redis\n  version: \">=1.0.0 <2.0.0\"\n  repository: \"@myrepo\"\n  alias: cache\n  condition: cache.enabled\n  tags:\n  - backend\n\
             - name: local\n  version: \"0.1.x\"\n  repository: \"file://../local\"\n"
        ),
    );
    write(&parent.join("values.yaml"), "cache:\n  enabled: true\n  marker: from-parent\n");
    write(&parent.join("templates/configmap.yaml"), PARENT_TEMPLATE);
    let local = root.join("local");
    write(&local.join("Chart.yaml"), &default_chart_yaml("local", "0.1.0"));
    write(&local.join("values.yaml"), &default_values_yaml("local", "0.1.0"));
    write(&local.join("templates/configmap.yaml"), CONFIGMAP_TEMPLATE);
    parent
}

const EXPECTED_ARCHIVES: [&str; 3] = ["common-1.2.0.tgz", "local-0.1.0.tgz", "redis-1.1.0.tgz"];

#[track_caller]
fn assert_archives(parent: &Path) {
    let names = file_names(&parent.join("charts"));
    let want: BTreeSet<String> = EXPECTED_ARCHIVES.iter().map(|s| s.to_string()).collect();
    assert_eq!(names, want, "charts/ of {}", parent.display());
    let dirs: Vec<_> = fs::read_dir(parent.join("charts")).expect("read").filter_map(|e| e.ok()).collect();
    assert_eq!(dirs.len(), 3, "no temporary folder left in charts/: {dirs:?}");
}

#[track_caller]
fn assert_renders(helm: &Helm, chart: &Path) {
    let out = helm.run(&["template", "rel", p(chart)]);
    assert!(out.contains("name: rel-parent"), "{}: {out}", helm.label());
    assert!(out.contains("name: rel-common") && out.contains("marker: \"common-1.2.0-values\""), "{out}");
    // The alias renames the subchart; its values come from the parent's `cache:` key.
    assert!(out.contains("name: rel-cache") && out.contains("marker: \"from-parent\""), "{out}");
    assert!(out.contains("chartVersion: \"1.1.0\""), "{out}");
    assert!(out.contains("name: rel-local") && out.contains("marker: \"local-0.1.0-values\""), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependency_update_and_build_interoperate_with_helm() {
    let server = Server::start(&[]).await;
    let url = server.repo_url();
    for v in ["1.0.0", "1.2.0", "2.0.0"] {
        server.upload_ok(ChartBuilder::chart("common", v).build()).await;
    }
    for v in ["1.0.0", "1.1.0", "2.1.0"] {
        server.upload_ok(ChartBuilder::chart("redis", v).build()).await;
    }
    let helms: Vec<Helm> = BOTH_HELMS.iter().map(|v| Helm::new(*v)).collect();
    for h in &helms {
        h.repo_add("myrepo", &url);
    }
    let helm3 = &helms[0];
    let work = tempfile::Builder::new().prefix("chartroom-e2e-deps-").tempdir().expect("tempdir");
    let work = work.path();

    // 1. chartroom dependency update.
    let base = source_tree(&work.join("base"), &url);
    let out = Cli::like(helm3).ok(&["dependency", "update", p(&base)]);
    assert!(out.contains("Wrote"), "{out}");
    assert_archives(&base);
    let lock = fs::read_to_string(base.join("Chart.lock")).expect("Chart.lock");
    let body = format!(
        "dependencies:\n- name: common\n  repository: {url}/\n  version: 1.2.0\n- name: redis\n  repository: {url}\n  version: 1.1.0\n- name: local\n  repository: file://../local\n  version: 0.1.0\n"
    );
    assert!(lock.starts_with(&body), "Chart.lock:\n{lock}");
    let generated = lock.lines().last().expect("generated line");
    assert!(generated.starts_with("generated: \"20") && generated.ends_with("Z\""), "{lock}");
    let digest = digest_of(&lock);
    assert_eq!(digest.len(), "sha256:".len() + 64, "{lock}");
    assert_renders(helm3, &base);

    // A second update keeps the lock, removes an outdated archive, leaves other files alone.
    fs::write(base.join("charts/common-1.0.0.tgz"), ChartBuilder::chart("common", "1.0.0").build()).expect("write");
    fs::write(base.join("charts/README.txt"), "not a chart\n").expect("write");
    let out = Cli::like(helm3).ok(&["dependency", "update", p(&base)]);
    assert!(out.contains("up to date"), "{out}");
    assert_eq!(fs::read_to_string(base.join("Chart.lock")).expect("lock"), lock, "the lock must not change");
    let names = file_names(&base.join("charts"));
    assert!(!names.contains("common-1.0.0.tgz") && names.contains("README.txt"), "{names:?}");
    fs::remove_file(base.join("charts/README.txt")).expect("rm");

    for helm in &helms {
        let label = helm.label();

        // 2. helm dependency build accepts chartroom's lock unchanged.
        let copy = work.join(format!("{label}-build"));
        copy_tree(&work.join("base"), &copy);
        let parent = copy.join("parent");
        fs::remove_dir_all(parent.join("charts")).expect("rm charts");
        let out = helm.run(&["dependency", "build", p(&parent)]);
        assert!(!out.contains("out of sync"), "{label}: {out}");
        assert_eq!(fs::read_to_string(parent.join("Chart.lock")).expect("lock"), lock, "{label} changed the lock");
        assert_eq!(
            file_names(&parent.join("charts")),
            EXPECTED_ARCHIVES.iter().map(|s| s.to_string()).collect(),
            "{label}"
        );
        assert_renders(helm, &parent);

        // 3. chartroom dependency build accepts Helm's lock unchanged.
        let copy = work.join(format!("{label}-update"));
        let parent = source_tree(&copy, &url);
        helm.run(&["dependency", "update", p(&parent)]);
        let helm_lock = fs::read_to_string(parent.join("Chart.lock")).expect("Helm's Chart.lock");
        assert_eq!(digest_of(&helm_lock), digest, "{label}: same dependencies, same digest\n{helm_lock}");
        assert_eq!(without_generated(&helm_lock), without_generated(&lock), "{label}: same Chart.lock text");
        fs::remove_dir_all(parent.join("charts")).expect("rm charts");
        let out = Cli::like(helm).ok(&["dependency", "build", p(&parent)]);
        assert!(out.contains("Built from"), "{out}");
        assert_eq!(fs::read_to_string(parent.join("Chart.lock")).expect("lock"), helm_lock, "{label}: lock changed");
        assert_archives(&parent);
        assert_renders(helm, &parent);
    }

    // 4. An edited constraint: the lock is out of sync (exit 2), for chartroom and Helm.
    let copy = work.join("edited");
    copy_tree(&work.join("base"), &copy);
    let parent = copy.join("parent");
    let chart_yaml = fs::read_to_string(parent.join("Chart.yaml")).expect("read");
    fs::write(parent.join("Chart.yaml"), chart_yaml.replace("\"^1.0\"", "\"~1.2\"")).expect("write");
    let out = Cli::like(helm3).output(&["dependency", "build", p(&parent)]);
    assert_eq!(out.status.code(), Some(2), "{}", describe_output(&out));
    assert!(
        describe_output(&out).contains(
            "the lock file (Chart.lock) is out of sync with the dependencies file (Chart.yaml). Please update the dependencies"
        ),
        "{}",
        describe_output(&out)
    );
    let out = helm3.run_fail(&["dependency", "build", p(&parent)]);
    assert!(out.contains("out of sync"), "Helm agrees: {out}");
    // update resolves it and rewrites the lock.
    Cli::like(helm3).ok(&["dependency", "update", p(&parent)]);
    let new_lock = fs::read_to_string(parent.join("Chart.lock")).expect("lock");
    assert_ne!(digest_of(&new_lock), digest);
    helm3.run(&["dependency", "build", p(&parent)]);

    // 5. No version satisfies a constraint: exit 3, naming the dependency; nothing changes.
    let copy = work.join("unsatisfiable");
    copy_tree(&work.join("base"), &copy);
    let parent = copy.join("parent");
    fs::write(parent.join("Chart.yaml"), chart_yaml.replace("\"^1.0\"", "\"^3.0\"")).expect("write");
    let before = snapshot_dir(&parent);
    let out = Cli::like(helm3).output(&["dependency", "update", p(&parent)]);
    assert_eq!(out.status.code(), Some(3), "{}", describe_output(&out));
    let all = describe_output(&out);
    assert!(
        all.contains(&format!(
            "can't get a valid version for 1 subchart(s): \"common\" (repository \"{url}/\", version \"^3.0\")"
        )),
        "{all}"
    );
    assert_eq!(snapshot_dir(&parent), before, "a failed update must not change the folder");

    // An unknown @alias: exit 3.
    fs::write(parent.join("Chart.yaml"), chart_yaml.replace("@myrepo", "@nope")).expect("write");
    let out = Cli::like(helm3).output(&["dependency", "update", p(&parent)]);
    assert_eq!(out.status.code(), Some(3), "{}", describe_output(&out));
    assert!(describe_output(&out).contains("no repository definition for @nope"), "{}", describe_output(&out));

    // 6. chartroom package --dependency-update.
    let parent = source_tree(&work.join("package"), &url);
    let dest = work.join("package-dest");
    let out = Cli::like(helm3).ok(&["package", p(&parent), "-d", p(&dest), "--dependency-update"]);
    assert!(out.contains("Successfully packaged chart"), "{out}");
    assert!(parent.join("Chart.lock").is_file());
    let tgz = dest.join("parent-0.1.0.tgz");
    for helm in &helms {
        assert_renders(helm, &tgz);
    }
}
