//! `chartroom search` and `chartroom pull` against a running Chartroom: repositories by URL and
//! by the name given to `helm repo add` (Helm's env vars and `repositories.yaml`), version
//! selection, JSON output, index caching with ETag revalidation, digests equal to the index,
//! archives and `--untar` folders that real Helm 3 and 4 load and render, and failures with
//! their exit codes (unknown chart 3, no matching version 3, unknown repository 3, malformed
//! reference 2, unreachable repository 5, digest mismatch 7 leaving no file).

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::support::*;

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// `(name, version)` pairs of `--output json`, checking each object's fields.
fn json_rows(stdout: &str) -> Vec<(String, String)> {
    let v: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("search JSON ({e}): {stdout}"));
    v.as_array()
        .unwrap_or_else(|| panic!("expected a JSON array: {stdout}"))
        .iter()
        .map(|o| {
            for k in ["name", "version", "app_version", "description"] {
                assert!(o[k].is_string(), "field {k} missing in {o}");
            }
            (o["name"].as_str().unwrap_or_default().to_owned(), o["version"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

/// `(name, version)` pairs of the table output (tab-separated columns after the header).
fn table_rows(stdout: &str) -> Vec<(String, String)> {
    let mut lines = stdout.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with("NAME") && header.contains("CHART VERSION\tAPP VERSION\tDESCRIPTION"), "{stdout}");
    lines
        .map(|l| {
            let mut cols = l.split('\t').map(str::trim);
            (cols.next().unwrap_or_default().to_owned(), cols.next().unwrap_or_default().to_owned())
        })
        .collect()
}

fn rows(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

async fn server_with_charts() -> Server {
    let server = Server::start(&[]).await;
    for (name, version) in [("web", "1.0.0"), ("web", "1.1.0"), ("web", "2.0.0-rc.1"), ("db", "0.1.0")] {
        let extra = format!(
            "apiVersion: v2\nname: {name}\nversion: {version}\ndescription: The {name} chart, for tests\nappVersion: \"{version}-app\"\n"
        );
        server.upload_ok(ChartBuilder::chart(name, version).file("Chart.yaml", &extra).build()).await;
    }
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_by_url_and_by_helm_repo_name_with_etag_cache() {
    let server = server_with_charts().await;
    let url = server.repo_url();
    let env = Cli::empty();

    // Table: newest stable version per chart, sorted by name.
    let out = env.ok(&["search", &url]);
    assert_eq!(table_rows(&out), rows(&[("db", "0.1.0"), ("web", "1.1.0")]), "{out}");
    assert!(out.contains("1.1.0-app") && out.contains("The web chart, for tests"), "{out}");
    // --versions, --devel, --version, term (case-insensitive, name or description).
    let out = env.ok(&["search", &url, "--versions"]);
    assert_eq!(table_rows(&out), rows(&[("db", "0.1.0"), ("web", "1.1.0"), ("web", "1.0.0")]), "{out}");
    let out = env.ok(&["search", &url, "web", "--devel", "--output", "json"]);
    assert_eq!(json_rows(&out), rows(&[("web", "2.0.0-rc.1")]));
    let out = env.ok(&["search", &url, "--versions", "--devel", "--output", "json"]);
    assert_eq!(json_rows(&out), rows(&[("db", "0.1.0"), ("web", "2.0.0-rc.1"), ("web", "1.1.0"), ("web", "1.0.0")]));
    let out = env.ok(&["search", &url, "--version", "~1.0", "--versions", "-o", "json"]);
    assert_eq!(json_rows(&out), rows(&[("web", "1.0.0")]));
    let out = env.ok(&["search", &url, "WEB", "--output", "json"]);
    assert_eq!(json_rows(&out), rows(&[("web", "1.1.0")]));
    let out = env.ok(&["search", &url, "db chart", "-o", "json"]);
    assert_eq!(json_rows(&out), rows(&[("db", "0.1.0")]), "description matches too");
    // No results: exit 0.
    assert_eq!(env.ok(&["search", &url, "zzz"]).trim(), "No results found");
    assert_eq!(env.ok(&["search", &url, "zzz", "-o", "json"]).trim(), "[]");

    // The index is cached under the Helm repository cache with its ETag; the next run
    // revalidates it (304, cached copy reused), and a changed index is seen at once.
    let cache = env.cache_dir();
    let names: Vec<String> = fs::read_dir(&cache)
        .expect("cache folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.starts_with("chartroom-") && n.ends_with("-index.yaml")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("chartroom-") && n.ends_with("-index.yaml.etag")), "{names:?}");
    let out = env.output_with(&["search", &url, "-o", "json"], &[("CHARTROOM_LOG", "chartroom_client=debug")]);
    assert!(out.status.success(), "{}", describe_output(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("index not modified"), "{}", describe_output(&out));
    server.upload_ok(ChartBuilder::chart("web", "1.2.0").build()).await;
    let out = env.output_with(&["search", &url, "web", "-o", "json"], &[("CHARTROOM_LOG", "chartroom_client=debug")]);
    assert!(out.status.success(), "{}", describe_output(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("index not modified"), "{}", describe_output(&out));
    assert_eq!(json_rows(&String::from_utf8_lossy(&out.stdout)), rows(&[("web", "1.2.0")]));

    // By the name given to `helm repo add` (both Helms write repositories.yaml).
    for version in BOTH_HELMS {
        let helm = Helm::new(version);
        helm.repo_add("myrepo", &url);
        let env = Cli::like(&helm);
        let out = env.ok(&["search", "myrepo", "--output", "json"]);
        assert_eq!(json_rows(&out), rows(&[("myrepo/db", "0.1.0"), ("myrepo/web", "1.2.0")]), "{}", helm.label());
        let out = env.ok(&["search", "myrepo", "web"]);
        assert_eq!(table_rows(&out), rows(&[("myrepo/web", "1.2.0")]), "{}", helm.label());
        let err = env.fail(&["search", "otherrepo"], 3);
        assert!(err.contains("\"otherrepo\" not found") && err.contains("myrepo"), "{err}");
    }

    // Unreachable repository: exit 5.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let err = env.fail(&["search", &closed], 5);
    assert!(err.contains(&format!("cannot reach {closed}/index.yaml")), "{err}");
    // A server that is not a chart repository: 404 on index.yaml is "not found" (3).
    let err = env.fail(&["search", &format!("{url}/nothing-here")], 3);
    assert!(err.contains("is this a chart repository?"), "{err}");
    // Bad constraint: usage (2).
    env.fail(&["search", &url, "--version", ">>1"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_selects_verifies_and_helm_loads_the_result() {
    let server = server_with_charts().await;
    let url = server.repo_url();
    let index = server.index().await;
    let digest_of = |v: &str| index.expect_entry("web", v).digest().trim_start_matches("sha256:").to_owned();
    let helms: Vec<Helm> = BOTH_HELMS.iter().map(|v| Helm::new(*v)).collect();
    helms[0].repo_add("cr", &url);
    let env = Cli::like(&helms[0]);
    let work = tempfile::tempdir().expect("tempdir");

    // (arguments, expected version): exact, constraint, latest stable, --devel, --repo URL.
    let cases: [(&[&str], &str); 5] = [
        (&["cr/web", "--version", "1.0.0"], "1.0.0"),
        (&["cr/web", "--version", "^1"], "1.1.0"),
        (&["cr/web"], "1.1.0"),
        (&["cr/web", "--devel"], "2.0.0-rc.1"),
        (&["web", "--repo", &url, "--version", "<1.1"], "1.0.0"),
    ];
    for (i, (args, version)) in cases.iter().enumerate() {
        let dest = work.path().join(format!("case{i}"));
        let mut full = vec!["pull"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["-d", p(&dest)]);
        let out = env.ok(&full);
        let file = dest.join(format!("web-{version}.tgz"));
        let bytes = read_single(&dest, &format!("web-{version}.tgz"));
        assert_eq!(sha256_hex(&bytes), digest_of(version), "{full:?}");
        assert_eq!(out, format!("Pulled: web-{version}\nDigest: {}\n", digest_of(version)), "{full:?}");
        let listing: Vec<_> = fs::read_dir(&dest).expect("dest").flatten().map(|e| e.file_name()).collect();
        assert_eq!(listing.len(), 1, "only the archive in {}: {listing:?}", dest.display());
        if i == 0 {
            for helm in &helms {
                let shown = helm.run(&["show", "chart", p(&file)]);
                assert!(shown.contains("name: web") && shown.contains("version: 1.0.0"), "{}: {shown}", helm.label());
            }
        }
    }

    // --untar: a chart folder (no archive kept) that both Helms render.
    let dest = work.path().join("untar");
    let out = env.ok(&["pull", "cr/web", "--untar", "-d", p(&dest)]);
    assert!(out.starts_with("Pulled: web-1.1.0\n"), "{out}");
    let listing: Vec<String> =
        fs::read_dir(&dest).expect("dest").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(listing, ["web"]);
    for helm in &helms {
        let rendered = helm.run(&["template", "rel", p(&dest.join("web"))]);
        assert!(rendered.contains("marker: \"web-1.1.0-values\""), "{}: {rendered}", helm.label());
        assert!(rendered.contains("chartVersion: \"1.1.0\""), "{}: {rendered}", helm.label());
    }
    // Untarring over an existing folder is refused (conflict, 4), leaving it untouched.
    let err = env.fail(&["pull", "cr/web", "--untar", "-d", p(&dest)], 4);
    assert!(err.contains("already exists"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_failures_have_distinct_exit_codes_and_leave_nothing() {
    let server = server_with_charts().await;
    let url = server.repo_url();
    let env = Cli::empty();
    let work = tempfile::tempdir().expect("tempdir");
    let dest = work.path().join("dest");
    let d = p(&dest);

    let err = env.fail(&["pull", "nope", "--repo", &url, "-d", d], 3);
    assert!(err.contains(&format!("chart nope not found in {url}")), "{err}");
    let err = env.fail(&["pull", "web", "--repo", &url, "--version", "^5", "-d", d], 3);
    assert!(err.contains("no version of web matches ^5 (available: 2.0.0-rc.1, 1.1.0, 1.0.0)"), "{err}");
    let err = env.fail(&["pull", "justachart", "-d", d], 2);
    assert!(err.contains("expected <repo>/<chart>"), "{err}");
    env.fail(&["pull", &format!("{url}/web"), "-d", d], 2);
    let err = env.fail(&["pull", "nosuchrepo/web", "-d", d], 3);
    assert!(err.contains("repository \"nosuchrepo\" not found"), "{err}");
    let closed = format!("http://127.0.0.1:{}", free_port());
    let err = env.fail(&["pull", "web", "--repo", &closed, "-d", d], 5);
    assert!(err.contains("cannot reach"), "{err}");

    // Digest mismatch: the stored archive is replaced behind the server's back (no resync), so
    // the index keeps the old digest while the new bytes are served.
    let indexed = server.index().await.expect_entry("db", "0.1.0").digest().trim_start_matches("sha256:").to_owned();
    let altered = ChartBuilder::chart("db", "0.1.0").file("README.md", "tampered").build();
    let stored = server.storage_dir().join("db-0.1.0.tgz");
    assert!(stored.is_file(), "storage holds {:?}", server.storage_files());
    fs::write(&stored, &altered).expect("overwrite stored chart");
    let served = server.get("/charts/db-0.1.0.tgz").await;
    served.assert_status(200);
    assert_eq!(served.body, altered, "the server streams the altered bytes");
    fs::create_dir_all(&dest).expect("dest");
    let err = env.fail(&["pull", "db", "--repo", &url, "-d", d], 7);
    assert!(
        err.contains(&format!(
            "digest mismatch for db-0.1.0.tgz: index says {indexed}, downloaded {}",
            sha256_hex(&altered)
        )),
        "{err}"
    );
    let err = env.fail(&["pull", "db", "--repo", &url, "--untar", "-d", d], 7);
    assert!(err.contains("digest mismatch"), "{err}");
    let left: Vec<_> = fs::read_dir(&dest).expect("dest").flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "nothing may be left in the destination: {left:?}");
}

/// Helm's own packaging and a cm-push-style multipart upload, then `chartroom pull`: the bytes
/// Helm produced come back unchanged and Helm renders them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_of_charts_packaged_by_helm_and_uploaded_like_cm_push() {
    let server = Server::start(&[]).await;
    let env = Cli::empty();
    let url = server.repo_url();
    for (i, version) in BOTH_HELMS.iter().enumerate() {
        let helm = Helm::new(*version);
        let work = tempfile::tempdir().expect("tempdir");
        let name = format!("made-by-{}", helm.label());
        helm.run_in(Some(work.path()), &["create", &name]);
        helm.run_in(Some(work.path()), &["package", &name, "--version", &format!("0.{i}.0")]);
        let file = format!("{name}-0.{i}.0.tgz");
        let packaged = fs::read(work.path().join(&file)).expect("helm package output");
        server.upload_multipart(Some((&file, packaged.clone())), None, "").await.assert_status(201);

        let dest = work.path().join("pulled");
        let out = env.ok(&["pull", &name, "--repo", &url, "-d", p(&dest)]);
        assert!(out.starts_with(&format!("Pulled: {name}-0.{i}.0\n")), "{out}");
        let pulled = read_single(&dest, &file);
        assert_eq!(sha256_hex(&pulled), sha256_hex(&packaged), "{}: pulled bytes are the uploaded ones", helm.label());
        let rendered = helm.run(&["template", "rel", p(&dest.join(&file))]);
        assert!(rendered.contains("kind: Deployment"), "{}: {rendered}", helm.label());
    }

    // --untar expands subcharts too, like `helm pull --untar` (Helm's frobnitz fixture has a
    // directory subchart and a packaged one).
    let frobnitz = read_testdata("helm/pkg/chart/v2/loader/testdata/frobnitz-1.2.3.tgz");
    server.upload_raw(frobnitz).await.assert_status(201);
    let work = tempfile::tempdir().expect("tempdir");
    env.ok(&["pull", "frobnitz", "--repo", &url, "--untar", "-d", p(work.path())]);
    let root = work.path().join("frobnitz");
    assert!(root.join("charts/alpine/Chart.yaml").is_file(), "directory subchart extracted");
    assert!(root.join("charts/mariner-4.3.2.tgz").is_file(), "packaged subchart extracted");
    let shown = Helm::new(BOTH_HELMS[1]).run(&["show", "chart", p(&root)]);
    assert!(shown.contains("name: frobnitz"), "{shown}");
}
