//! `--index-format auto` against `--index-format yaml` with the real Helm 3.17 and 4.1: the same
//! charts, the same commands, the same outputs (repository URLs aside), while Helm's cached index
//! shows that it was given JSON under `auto` and YAML under `yaml`; curl gets YAML either way.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::*;

/// Charts uploaded to both servers: stable and pre-release versions, and one whose metadata needs
/// escaping in JSON (`<`, `>`, `&`, non-ASCII) and carries the optional fields.
fn charts() -> Vec<Vec<u8>> {
    let beta_yaml = "apiVersion: v2\nname: beta\nversion: 0.3.0\nappVersion: \"1.0\"\n\
        description: \"Beta <b>&</b> ünïcode \\\"quoted\\\"\"\nkeywords: [web, \"a&b\"]\nhome: https://example.com/beta\n\
        sources: [https://example.com/src]\nmaintainers:\n- name: Zoë\n  email: z@example.com\n\
        annotations:\n  example.com/note: \"<x>\"\nkubeVersion: \">=1.20.0-0\"\ndeprecated: false\ntype: application\n";
    let mut out: Vec<Vec<u8>> = ["1.0.0", "1.2.0", "1.3.0-rc.1", "2.0.0"]
        .into_iter()
        .map(|v| ChartBuilder::chart("alpha", v).build())
        .collect();
    out.push(ChartBuilder::chart("beta", "0.3.0").file("Chart.yaml", beta_yaml).build());
    out.push(ChartBuilder::chart("chart10", "1.0.0").build());
    out.push(ChartBuilder::chart("chart2", "1.0.0-alpha.1").build());
    out
}

/// Helm's cached copy of the index of repository `name` (the raw response bytes).
fn cached_index(helm: &Helm, name: &str) -> Vec<u8> {
    let home = helm.work_dir("probe").parent().and_then(Path::parent).map(Path::to_path_buf).expect("Helm home");
    let path: PathBuf = home.join("cache").join("repository").join(format!("{name}-index.yaml"));
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Runs every Helm command of the comparison against `server` and returns (what, output) pairs,
/// with the server's URL replaced by `<URL>`.
async fn transcript(v: HelmVersion, server: &Server, json: bool) -> Vec<(String, String)> {
    let helm = Helm::new(v);
    let url = server.repo_url();
    let mut out = Vec::new();
    let mut record = |what: &str, text: String| out.push((what.to_owned(), text.replace(&url, "<URL>")));
    for chart in charts() {
        server.upload_ok(chart).await;
    }
    record("repo add", helm.run(&["repo", "add", "cr", &url]));
    let cached = cached_index(&helm, "cr");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&cached).is_ok(),
        json,
        "{}: Helm's cached index: {}",
        helm.label(),
        String::from_utf8_lossy(&cached[..cached.len().min(200)])
    );
    for args in [
        &["search", "repo", "cr/"][..],
        &["search", "repo", "cr/", "--versions"],
        &["search", "repo", "cr/", "--devel"],
        &["search", "repo", "cr/", "--versions", "--devel"],
        &["search", "repo", "cr/alpha", "--version", "^1.0", "--versions"],
        &["search", "repo", "ünïcode"],
        &["search", "repo", "cr/", "--versions", "--devel", "-o", "json"],
    ] {
        record(&args.join(" "), helm.run(args));
    }
    // An upload after `repo add`, seen after `repo update`.
    server.upload_ok(ChartBuilder::chart("alpha", "3.0.0").build()).await;
    record("repo update", helm.run(&["repo", "update"]));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&cached_index(&helm, "cr")).is_ok(), json);
    record("search after update", helm.run(&["search", "repo", "cr/alpha", "--versions", "--devel"]));
    // Pulls, each verified against the index digest by the test as well as by the bytes.
    let index = server.index().await;
    for (what, args, file, version) in [
        ("pull exact", vec!["pull", "cr/alpha", "--version", "1.2.0"], "alpha-1.2.0.tgz", "1.2.0"),
        ("pull caret", vec!["pull", "cr/alpha", "--version", "^1.0"], "alpha-1.2.0.tgz", "1.2.0"),
        ("pull devel", vec!["pull", "cr/alpha", "--version", "~1.3.0-0"], "alpha-1.3.0-rc.1.tgz", "1.3.0-rc.1"),
        ("pull latest", vec!["pull", "cr/alpha"], "alpha-3.0.0.tgz", "3.0.0"),
        ("pull escaped", vec!["pull", "cr/beta"], "beta-0.3.0.tgz", "0.3.0"),
    ] {
        let d = helm.work_dir(&what.replace(' ', "-"));
        let mut args = args;
        args.extend(["-d", p(&d)]);
        record(what, helm.run(&args));
        let got = fs::read(d.join(file)).unwrap_or_else(|e| panic!("{what}: {file}: {e}"));
        let name = file.split('-').next().unwrap_or_default();
        assert_eq!(sha256_hex(&got), index.expect_entry(name, version).digest(), "{what}");
        record(&format!("{what} sha256"), sha256_hex(&got));
    }
    record("show chart", helm.run(&["show", "chart", "cr/beta"]));
    record("template", helm.run(&["template", "rel", "cr/alpha", "--version", "2.0.0"]));
    // `dependency update` of a local chart whose dependency lives on the server.
    let parent = helm.work_dir("deps").join("parent");
    fs::create_dir_all(parent.join("templates")).expect("mkdir");
    let chart_yaml = format!(
        "apiVersion: v2\nname: parent\nversion: 0.1.0\ndependencies:\n  - name: alpha\n    version: \"^1.0\"\n    repository: \"{url}\"\n  - name: beta\n    version: \">=0.1.0\"\n    repository: \"@cr\"\n"
    );
    fs::write(parent.join("Chart.yaml"), chart_yaml).expect("Chart.yaml");
    fs::write(parent.join("values.yaml"), "alpha:\n  replicaCount: 2\n").expect("values");
    record("dependency update", helm.run(&["dependency", "update", p(&parent)]));
    let lock = fs::read_to_string(parent.join("Chart.lock")).expect("Chart.lock");
    // The lock's digest covers the repository URL (another port per server) and its time differs.
    let lock: String = lock.lines().filter(|l| !l.starts_with("digest:") && !l.starts_with("generated:")).collect();
    record("Chart.lock", lock);
    let mut deps: Vec<String> = fs::read_dir(parent.join("charts"))
        .expect("charts/")
        .flatten()
        .map(|e| format!("{} {}", e.file_name().to_string_lossy(), sha256_hex(&fs::read(e.path()).expect("read"))))
        .collect();
    deps.sort();
    record("charts/", deps.join("\n"));
    record("template parent", helm.run(&["template", "p", p(&parent)]));
    out
}

async fn same_outputs(v: HelmVersion) {
    let auto = Server::start(&["--index-format", "auto"]).await;
    let yaml = Server::start(&["--index-format", "yaml"]).await;
    let with_auto = transcript(v, &auto, true).await;
    let with_yaml = transcript(v, &yaml, false).await;
    assert_eq!(with_auto.len(), with_yaml.len());
    for ((what, a), (_, y)) in with_auto.iter().zip(&with_yaml) {
        assert_eq!(a, y, "{}: `{what}` differs between auto (left) and yaml (right)", v.label());
    }
    // Not every output may be empty (the comparison must compare something).
    let search = &with_auto.iter().find(|(w, _)| w == "search repo cr/ --versions --devel").expect("search").1;
    assert!(search.contains("cr/alpha") && search.contains("1.3.0-rc.1") && search.contains("cr/chart2"), "{search}");

    // curl, a browser, anything that is not Helm ≥ 3.13: YAML from both.
    for server in [&auto, &yaml] {
        for ua in ["curl/8.5.0", "Helm/3.12.3", "Mozilla/5.0"] {
            let r = server.get_with("/index.yaml", &[("user-agent", ua)]).await;
            r.assert_status(200);
            assert!(r.body.starts_with(b"apiVersion: v1\nentries:\n"), "{ua}: {}", String::from_utf8_lossy(&r.body));
        }
    }
    let r = auto.get_with("/index.yaml", &[("user-agent", "Helm/3.17.2")]).await;
    assert!(r.body.starts_with(b"{\"apiVersion\":\"v1\""), "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("vary").as_deref(), Some("Accept-Encoding, User-Agent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm3_behaves_the_same_with_auto_and_yaml() {
    same_outputs(HelmVersion::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm4_behaves_the_same_with_auto_and_yaml() {
    same_outputs(HelmVersion::V4).await;
}
