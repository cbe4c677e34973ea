//! Patterns found in real public charts (issue 18), each made the way real charts are made and
//! driven through the server and every client command, with Helm 3 and Helm 4 as the reference:
//!
//! * `helm dependency update` + `helm package` of a chart whose `file://` dependency lives inside
//!   `charts/` (argo-cd's published 2.17.5–3.4.0, bitnami's kube-prometheus) writes every file of
//!   that subchart twice, with identical bytes: accepted by upload and `push`, served to both
//!   Helms, handled by `pull --untar`, `install` and `dependency update`; `chartroom package` of
//!   the same folder writes the files `helm package` writes, once. Repeats whose bytes differ
//!   are refused, naming the path.
//! * `values.yaml` with a key followed by more than 32 comment lines before its nested value or
//!   at the end of the file (argocd-notifications): packaged, uploaded and rendered.
//! * A repository (a static one, like GitHub Pages) whose dependency archive does not load:
//!   `dependency update`/`build` fail with the invalid-archive exit code (2) and change nothing;
//!   `pull --untar` and `install` of such an archive exit 2 (its digest matched), not 7.
//! * An index listing a version twice (grafana's does): `search --versions` shows it once with
//!   the row Helm shows, and `pull`/`dependency update` download the copy Helm downloads
//!   (Helm sorts versions with Go's unstable sort).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::support::*;

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (rel, data) in files {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, data).expect("write");
    }
}

/// Entry names of a `.tgz` in archive order (repeats included).
fn tgz_names(bytes: &[u8]) -> Vec<String> {
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    ar.entries()
        .expect("entries")
        .map(|e| String::from_utf8_lossy(&e.expect("entry").path_bytes()).into_owned())
        .collect()
}

fn repeated(names: &[String]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    names.iter().filter(|n| !seen.insert(n.as_str())).cloned().collect()
}

/// The single `.tgz` written into `dir`.
fn only_tgz(dir: &Path) -> PathBuf {
    let found: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tgz"))
        .collect();
    assert_eq!(found.len(), 1, "one archive in {}: {found:?}", dir.display());
    found.into_iter().next().expect("one")
}

/// `helm template rel <chart>` with both Helms must equal the rendering of `reference`.
#[track_caller]
fn assert_renders_like(reference: &Path, others: &[&Path]) -> String {
    let mut first = String::new();
    for version in BOTH_HELMS {
        let helm = Helm::new(version);
        let expected = helm.run(&["template", "rel", p(reference)]);
        for other in others {
            let got = helm.run(&["template", "rel", p(other)]);
            assert_eq!(got, expected, "{}: {} renders unlike {}", helm.label(), other.display(), reference.display());
        }
        if first.is_empty() {
            first = expected;
        }
    }
    first
}

/// `Chart.lock` without its `generated` line.
fn lock_body(dir: &Path) -> String {
    let text = fs::read_to_string(dir.join("Chart.lock")).expect("Chart.lock");
    text.lines().filter(|l| !l.starts_with("generated:")).collect::<Vec<_>>().join("\n")
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

// ---- repeated archive entries ------------------------------------------------------------------

const SUB_TEMPLATE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-redis-ha\ndata:\n  replicas: {{ .Values.replicas | quote }}\n";

/// An argo-cd-like chart: its `redis-ha` dependency is the folder `charts/redis-ha`, referenced
/// as `file://./charts/redis-ha`.
fn argo_like(root: &Path) {
    write_files(
        root,
        &[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: argo-like\nversion: 1.0.0\ndependencies:\n- name: redis-ha\n  version: 4.33.0\n  repository: file://./charts/redis-ha\n  condition: redis-ha.enabled\n",
            ),
            ("values.yaml", "marker: argo\nredis-ha:\n  enabled: true\n  replicas: 3\n"),
            ("templates/configmap.yaml", CONFIGMAP_TEMPLATE),
            ("charts/redis-ha/Chart.yaml", "apiVersion: v2\nname: redis-ha\nversion: 4.33.0\n"),
            ("charts/redis-ha/values.yaml", "replicas: 1\n"),
            ("charts/redis-ha/templates/cm.yaml", SUB_TEMPLATE),
            ("charts/redis-ha/README.md", "redis-ha, vendored\n"),
        ],
    );
}

/// `helm dependency update` then `helm package [--version v]`; returns the archive.
fn helm_update_and_package(helm: &Helm, chart: &Path, out: &Path, version: Option<&str>) -> PathBuf {
    helm.run(&["dependency", "update", p(chart)]);
    let mut args = vec!["package", p(chart), "-d", p(out)];
    if let Some(v) = version {
        args.extend(["--version", v]);
    }
    helm.run(&args);
    only_tgz(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_packaged_repeated_entries_are_accepted_everywhere() {
    let server = Server::start(&[]).await;
    let url = server.repo_url();
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    let helm3 = Helm::new(HelmVersion::V3);
    let helm4 = Helm::new(HelmVersion::V4);

    // Made the way argo-cd's archives are made, by each Helm.
    let mut archives = Vec::new();
    for (helm, version) in [(&helm3, "1.0.0"), (&helm4, "1.0.1")] {
        let chart = w.join(helm.label()).join("argo-like");
        argo_like(&chart);
        let tgz = helm_update_and_package(helm, &chart, &w.join(format!("{}-out", helm.label())), Some(version));
        assert!(chart.join("charts/redis-ha-4.33.0.tgz").is_file(), "{} packaged the file:// dependency", helm.label());
        let bytes = fs::read(&tgz).expect("archive");
        let names = tgz_names(&bytes);
        let twice = repeated(&names);
        assert!(
            twice.contains("argo-like/charts/redis-ha/Chart.yaml")
                && twice.contains("argo-like/charts/redis-ha/templates/cm.yaml"),
            "{} writes the subchart twice: {names:?}",
            helm.label()
        );
        archives.push((chart, tgz, bytes));
    }

    // Upload (raw) and push: accepted.
    server.upload_ok(archives[0].2.clone()).await;
    let cli = Cli::like(&helm3);
    cli.ok(&["push", p(&archives[1].1), &url]);
    let index = server.index().await;
    assert_eq!(index.versions("argo-like"), ["1.0.1", "1.0.0"]);
    assert_eq!(index.expect_entry("argo-like", "1.0.0").digest(), sha256_hex(&archives[0].2));

    // Both Helms consume them from Chartroom like the archives themselves.
    for (helm, version, tgz) in [(&helm3, "1.0.0", &archives[0].1), (&helm4, "1.0.1", &archives[1].1)] {
        helm.repo_add("cr", &url);
        helm.repo_update();
        let expected = helm.run(&["template", "rel", p(tgz)]);
        assert!(expected.contains("replicas: \"3\""), "the subchart renders once with the parent's values: {expected}");
        assert_eq!(expected.matches("name: rel-redis-ha").count(), 1, "{expected}");
        assert_eq!(helm.run(&["template", "rel", "cr/argo-like", "--version", version]), expected);
    }

    // pull --untar and install: each file once, rendered like the archive.
    let pulled = w.join("pulled");
    cli.ok(&["pull", "argo-like", "--repo", &url, "--version", "1.0.0", "--untar", "-d", p(&pulled)]);
    assert_eq!(listing(&pulled.join("argo-like/charts")), ["redis-ha"]);
    let installed = w.join("installed");
    cli.ok(&["install", "argo-like", "--repo", &url, "--version", "1.0.1", p(&installed)]);
    assert_eq!(listing(&installed.join("argo-like/charts")), ["redis-ha"]);
    assert_renders_like(&archives[0].1, &[&pulled.join("argo-like")]);
    assert_renders_like(&archives[1].1, &[&installed.join("argo-like")]);

    // `chartroom package` of the same folder: the files `helm package` writes, each once.
    let ours_dir = w.join("ours");
    cli.ok(&["package", p(&archives[0].0), "-d", p(&ours_dir)]);
    let ours = only_tgz(&ours_dir);
    let our_names = tgz_names(&fs::read(&ours).expect("ours"));
    assert!(repeated(&our_names).is_empty(), "{our_names:?}");
    let helm_names: BTreeSet<String> = tgz_names(&archives[0].2).into_iter().collect();
    assert_eq!(our_names.iter().cloned().collect::<BTreeSet<_>>(), helm_names);
    assert_renders_like(&archives[0].1, &[&ours]);

    // A chart depending on it through the repository: both tools lock and fetch the same.
    let mut locks = Vec::new();
    for tool in ["helm3", "chartroom"] {
        let app = w.join(format!("app-{tool}"));
        write_files(
            &app,
            &[
                (
                    "Chart.yaml",
                    &format!(
                        "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n- name: argo-like\n  version: ~1.0.0\n  repository: {url}\n"
                    ),
                ),
                ("templates/configmap.yaml", CONFIGMAP_TEMPLATE),
                ("values.yaml", "marker: app\n"),
            ],
        );
        if tool == "helm3" {
            helm3.run(&["dependency", "update", p(&app)]);
        } else {
            cli.ok(&["dependency", "update", p(&app)]);
        }
        assert_eq!(listing(&app.join("charts")), ["argo-like-1.0.1.tgz"], "{tool}");
        assert_eq!(fs::read(app.join("charts/argo-like-1.0.1.tgz")).expect("dep"), archives[1].2, "{tool}");
        locks.push(lock_body(&app));
    }
    assert_eq!(locks[0], locks[1]);
    assert_renders_like(&w.join("app-helm3"), &[&w.join("app-chartroom")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_entries_with_different_bytes_are_refused() {
    let server = Server::start(&[]).await;
    let work = tempfile::tempdir().expect("tempdir");
    let helm3 = Helm::new(HelmVersion::V3);
    let chart = work.path().join("argo-like");
    argo_like(&chart);
    helm3.run(&["dependency", "update", p(&chart)]);
    // The folder changed after the dependency update: the packaged copy is stale.
    fs::write(chart.join("charts/redis-ha/values.yaml"), "replicas: 5\n").expect("edit");
    let out = work.path().join("out");
    helm3.run(&["package", p(&chart), "-d", p(&out)]);
    let tgz = only_tgz(&out);
    let bytes = fs::read(&tgz).expect("archive");
    assert!(repeated(&tgz_names(&bytes)).contains("argo-like/charts/redis-ha/values.yaml"));

    let before = server.storage_snapshot();
    let r = server.upload_raw(bytes).await;
    r.assert_status(400);
    let message = r.error_message();
    assert!(
        message.contains("argo-like/charts/redis-ha/values.yaml") && message.contains("different contents"),
        "{message}"
    );
    assert_eq!(server.storage_snapshot(), before, "storage unchanged");
    assert!(server.index().await.versions("argo-like").is_empty());

    let cli = Cli::like(&helm3);
    let err = cli.fail(&["push", p(&tgz), &server.repo_url()], 2);
    assert!(err.contains("argo-like/charts/redis-ha/values.yaml"), "{err}");
    // Packaging that folder with Chartroom says which subcharts disagree.
    let err = cli.fail(&["package", p(&chart), "-d", p(&work.path().join("ours"))], 2);
    assert!(
        err.contains("charts/redis-ha and charts/redis-ha-4.33.0.tgz are both chart \"redis-ha\"")
            && err.contains("charts/redis-ha/values.yaml"),
        "{err}"
    );
}

// ---- long comment blocks -----------------------------------------------------------------------

/// argocd-notifications' `values.yaml` shape: a key, a blank line, then a long commented-out
/// example before the next key or the end of the file.
fn commented_values(lines: usize) -> String {
    let block: String =
        (0..lines).map(|i| format!("  #   - example line {i}: {{{{ .app.metadata.name }}}}\n")).collect();
    format!(
        "marker: notifications\nsubscriptions:\n  # For more information: https://example.invalid/subscriptions/\n\n{block}\ntemplates:\n  # For more information: https://example.invalid/templates/\n\n{block}  template.app-deployed: |\n    message: deployed\ntriggers:\n{block}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_comment_blocks_are_read() {
    let server = Server::start(&[]).await;
    let url = server.repo_url();
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    let chart = w.join("notifications");
    let chart_yaml = format!(
        "apiVersion: v2\nname: notifications\nversion: 1.0.0\nannotations:\n{}  example: \"yes\"\n",
        (0..40).map(|i| format!("  # annotation note {i}\n")).collect::<String>()
    );
    write_files(
        &chart,
        &[
            ("Chart.yaml", &chart_yaml),
            ("values.yaml", &commented_values(40)),
            (
                "templates/configmap.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  deployed: {{ index .Values.templates \"template.app-deployed\" | quote }}\n",
            ),
        ],
    );
    let helm3 = Helm::new(HelmVersion::V3);
    let cli = Cli::like(&helm3);
    helm3.run(&["package", p(&chart), "-d", p(&w.join("helm"))]);
    let from_helm = only_tgz(&w.join("helm"));
    cli.ok(&["package", p(&chart), "--version", "1.0.1", "-d", p(&w.join("ours"))]);
    let ours = only_tgz(&w.join("ours"));

    server.upload_ok(fs::read(&from_helm).expect("helm's")).await;
    cli.ok(&["push", p(&ours), &url]);
    let r = server.get("/api/charts/notifications/1.0.0/templates").await;
    r.assert_status(200);
    assert_eq!(r.json()["values"]["templates"]["template.app-deployed"], "message: deployed\n", "{}", r.text());

    let pulled = w.join("pulled");
    cli.ok(&["pull", "notifications", "--repo", &url, "--version", "1.0.0", "--untar", "-d", p(&pulled)]);
    let installed = w.join("installed");
    cli.ok(&["install", "notifications", "--repo", &url, "--version", "1.0.1", p(&installed)]);
    let rendered = assert_renders_like(&from_helm, &[&pulled.join("notifications")]);
    assert!(rendered.contains("deployed: \"message: deployed\\n\""), "{rendered}");
    assert_renders_like(&ours, &[&installed.join("notifications")]);

    // A chart depending on it, resolved by both tools.
    let mut locks = Vec::new();
    for tool in ["helm3", "chartroom"] {
        let app = w.join(format!("app-{tool}"));
        write_files(
            &app,
            &[(
                "Chart.yaml",
                &format!(
                    "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n{}- name: notifications\n  version: 1.0.0\n  repository: {url}\n",
                    (0..40).map(|i| format!("# why {i}\n")).collect::<String>()
                ),
            )],
        );
        if tool == "helm3" {
            helm3.run(&["dependency", "update", p(&app)]);
        } else {
            cli.ok(&["dependency", "update", p(&app)]);
        }
        locks.push(lock_body(&app));
    }
    assert_eq!(locks[0], locks[1]);
}

// ---- a static repository -------------------------------------------------------------------------

/// A static chart repository (what GitHub Pages serves): fixed files, so its index can say what
/// Chartroom's never says (a version twice, an archive that does not load). It records the paths
/// asked for.
struct StaticRepo {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StaticRepo {
    fn start(files: BTreeMap<String, Vec<u8>>) -> StaticRepo {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, halt) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(stream) = stream {
                    serve_one(stream, &files, &log);
                }
            }
        });
        StaticRepo { port, requests, stop, thread: Some(thread) }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The paths asked for since the last call.
    fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().expect("requests"))
    }
}

impl Drop for StaticRepo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_one(mut stream: TcpStream, files: &BTreeMap<String, Vec<u8>>, log: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/").trim_start_matches('/').to_owned();
    log.lock().expect("log").push(path.clone());
    let response = match files.get(&path) {
        Some(body) => {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(body);
            r
        }
        None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    };
    let _ = stream.write_all(&response);
}

/// One index entry: (chart, version, description, url, archive bytes whose digest it announces).
struct Listed<'a> {
    chart: &'a str,
    version: String,
    description: String,
    url: String,
    archive: &'a [u8],
}

/// `index.yaml` listing `entries` in the given order.
fn index_yaml(entries: &[Listed<'_>]) -> Vec<u8> {
    let mut by_chart: BTreeMap<&str, Vec<&Listed<'_>>> = BTreeMap::new();
    for e in entries {
        by_chart.entry(e.chart).or_default().push(e);
    }
    let mut out = String::from("apiVersion: v1\nentries:\n");
    for (chart, list) in by_chart {
        out.push_str(&format!("  {chart}:\n"));
        for e in list {
            out.push_str(&format!(
                "  - apiVersion: v2\n    name: {chart}\n    version: {}\n    description: {}\n    digest: {}\n    urls:\n    - {}\n",
                e.version,
                serde_json::to_string(&e.description).expect("JSON string"),
                sha256_hex(e.archive),
                e.url
            ));
        }
    }
    out.push_str("generated: \"2024-01-02T03:04:05Z\"\n");
    out.into_bytes()
}

// ---- archives that do not load -------------------------------------------------------------------

#[test]
fn archives_that_do_not_load_are_invalid_archives_everywhere() {
    // The index announces the archive's true digest: the bytes arrive intact, they just are not
    // a chart (Chart.yaml without a name).
    let broken = ChartBuilder::new()
        .entries([
            TarEntry::file("broken/Chart.yaml", "apiVersion: v2\nversion: 1.0.0\n"),
            TarEntry::file("broken/values.yaml", "a: 1\n"),
        ])
        .build();
    let good = ChartBuilder::chart("good", "1.2.0").build();
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    let mut files = BTreeMap::new();
    files.insert("charts/broken-1.0.0.tgz".to_owned(), broken.clone());
    files.insert("charts/good-1.2.0.tgz".to_owned(), good.clone());
    let listed = [
        Listed {
            chart: "broken",
            version: "1.0.0".into(),
            description: "x".into(),
            url: "charts/broken-1.0.0.tgz".into(),
            archive: &broken,
        },
        Listed {
            chart: "good",
            version: "1.2.0".into(),
            description: "x".into(),
            url: "charts/good-1.2.0.tgz".into(),
            archive: &good,
        },
    ];
    files.insert("index.yaml".to_owned(), index_yaml(&listed));
    let repo = StaticRepo::start(files);
    let url = repo.url();
    let cli = Cli::empty();

    // dependency update / build: exit 2 naming the dependency and the reason; nothing changes.
    let app = w.join("app");
    write_files(
        &app,
        &[
            (
                "Chart.yaml",
                &format!(
                    "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n- name: good\n  version: ^1.0.0\n  repository: {url}\n- name: broken\n  version: 1.0.0\n  repository: {url}\n"
                ),
            ),
            ("Chart.lock", "dependencies: []\ndigest: sha256:0000\ngenerated: \"2024-01-02T03:04:05Z\"\n"),
            ("charts/notes.txt", "kept\n"),
        ],
    );
    fs::write(app.join("charts/stale-0.1.0.tgz"), ChartBuilder::chart("stale", "0.1.0").build()).expect("stale");
    let before = snapshot_dir(&app);
    let err = cli.fail(&["dependency", "update", p(&app)], 2);
    assert!(
        err.contains(&format!("dependency broken 1.0.0 from {url}: broken-1.0.0.tgz is not a valid chart archive"))
            && err.contains("name is required"),
        "{err}"
    );
    assert_eq!(snapshot_dir(&app), before, "charts/ and Chart.lock left as they were");
    assert_eq!(listing(&app.join("charts")), ["notes.txt", "stale-0.1.0.tgz"], "no temporary folder left");
    fs::remove_file(app.join("Chart.lock")).expect("rm lock");
    let before = snapshot_dir(&app);
    let err = cli.fail(&["dependency", "build", p(&app)], 2);
    assert!(err.contains("dependency broken 1.0.0"), "{err}");
    assert_eq!(snapshot_dir(&app), before, "no Chart.lock written, charts/ unchanged");

    // pull --untar and install: the digest matched, the archive is invalid: 2, nothing left.
    let dest = w.join("dest");
    fs::create_dir_all(&dest).expect("dest");
    let err = cli.fail(&["pull", "broken", "--repo", &url, "--untar", "-d", p(&dest)], 2);
    assert!(err.contains("broken-1.0.0.tgz is not a valid chart archive"), "{err}");
    assert!(listing(&dest).is_empty(), "{:?}", listing(&dest));
    let err = cli.fail(&["install", "broken", "--repo", &url, p(&dest)], 2);
    assert!(err.contains("is not a valid chart archive"), "{err}");
    assert!(listing(&dest).is_empty(), "{:?}", listing(&dest));
    // Plain pull only checks the digest, as Helm only downloads.
    cli.ok(&["pull", "broken", "--repo", &url, "-d", p(&dest)]);
    assert_eq!(fs::read(dest.join("broken-1.0.0.tgz")).expect("pulled"), broken);

    // install of a chart whose dependency does not load: 2, nothing left. (The dependency's
    // repository URL is known only now: the parent comes from a second repository.)
    let needs_broken = ChartBuilder::chart("needs-broken", "1.0.0")
        .file(
            "Chart.yaml",
            format!(
                "apiVersion: v2\nname: needs-broken\nversion: 1.0.0\ndependencies:\n- name: broken\n  version: 1.0.0\n  repository: {url}\n"
            ),
        )
        .build();
    let listed = [Listed {
        chart: "needs-broken",
        version: "1.0.0".into(),
        description: "x".into(),
        url: "needs-broken-1.0.0.tgz".into(),
        archive: &needs_broken,
    }];
    let mut files = BTreeMap::new();
    files.insert("index.yaml".to_owned(), index_yaml(&listed));
    files.insert("needs-broken-1.0.0.tgz".to_owned(), needs_broken.clone());
    let needs = StaticRepo::start(files);
    let dest = w.join("dest2");
    let err = cli.fail(&["install", "needs-broken", "--repo", &needs.url(), p(&dest)], 2);
    assert!(err.contains("dependency broken 1.0.0"), "{err}");
    assert!(listing(&dest).is_empty(), "{:?}", listing(&dest));
}

// ---- a version listed twice ----------------------------------------------------------------------

/// Deterministic shuffle (xorshift), so that Go's sort has real work to do.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

#[test]
fn a_version_listed_twice_resolves_like_helm() {
    // (chart, number of versions, which minor is listed twice, shuffle seed). The last four take
    // pdqsort's pattern-breaking step, whose generator Go 1.24 changed: there Helm 3.17 (Go 1.23)
    // orders the two copies the other way round from Helm 4 (Go 1.25) and Chartroom.
    const GO_1_24_SENSITIVE: [&str; 4] = ["dup25", "dup30", "dup45", "dup80"];
    let cases: [(&str, usize, usize, u64); 11] = [
        ("dup5", 5, 2, 11),
        ("dup13", 13, 6, 7),
        ("dup40", 40, 39, 3),
        ("dup53", 53, 41, 5),
        ("dup60", 60, 17, 42),
        ("dup100", 100, 50, 9),
        ("dup282", 282, 96, 1234),
        ("dup25", 25, 7, 1),
        ("dup30", 30, 24, 72),
        ("dup45", 45, 18, 9),
        ("dup80", 80, 7, 1),
    ];
    let mut archives: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut listed_specs = Vec::new();
    for (chart, n, twice, seed) in cases {
        let mut versions: Vec<(String, &str)> = (0..n).map(|i| (format!("1.{i}.0"), "only")).collect();
        versions.push((format!("1.{twice}.0"), "copy-b"));
        if let Some(v) = versions.get_mut(twice) {
            v.1 = "copy-a";
        }
        shuffle(&mut versions, seed);
        for (version, copy) in versions {
            let path = format!("{copy}/{chart}-{version}.tgz");
            let values = format!("marker: {chart}-{version}-{copy}\n");
            archives.insert(path.clone(), ChartBuilder::chart(chart, &version).file("values.yaml", &values).build());
            // One chart has descriptions wider than the table's 50 columns, with an emoji (two
            // columns), as grafana's pyroscope has: cut where Helm cuts.
            let description = match chart {
                "dup13" => format!("🔥 {chart} {copy}: a description wider than the fifty columns of the table"),
                _ => format!("{chart} {copy}"),
            };
            listed_specs.push((chart, version, description, path));
        }
    }
    let listed: Vec<Listed<'_>> = listed_specs
        .iter()
        .map(|(chart, version, description, path)| Listed {
            chart,
            version: version.clone(),
            description: description.clone(),
            url: path.clone(),
            archive: archives.get(path).expect("archive"),
        })
        .collect();
    let mut files = archives.clone();
    files.insert("index.yaml".to_owned(), index_yaml(&listed));
    let repo = StaticRepo::start(files);
    let url = repo.url();
    let work = tempfile::tempdir().expect("tempdir");

    for version in BOTH_HELMS {
        let helm = Helm::new(version);
        helm.repo_add("r", &url);
        let cli = Cli::like(&helm);
        let older_go = |chart: &str| version == HelmVersion::V3 && GO_1_24_SENSITIVE.contains(&chart);
        // search --versions: the same rows (each version once, the same description).
        let helm_rows: BTreeSet<String> = helm
            .run(&["search", "repo", "r/", "--versions"])
            .lines()
            .skip(1)
            .map(|l| l.split('\t').map(str::trim).collect::<Vec<_>>().join("|"))
            .collect();
        let our_rows: BTreeSet<String> = cli
            .ok(&["search", "r", "--versions"])
            .lines()
            .skip(1)
            .map(|l| l.split('\t').map(str::trim).collect::<Vec<_>>().join("|"))
            .collect();
        let chart_of = |row: &String| row.trim_start_matches("r/").split('|').next().unwrap_or("").to_owned();
        let only_ours: Vec<&String> = our_rows.difference(&helm_rows).filter(|r| !older_go(&chart_of(r))).collect();
        let only_helm: Vec<&String> = helm_rows.difference(&our_rows).filter(|r| !older_go(&chart_of(r))).collect();
        assert!(
            only_ours.is_empty() && only_helm.is_empty(),
            "{}: ours {only_ours:?}, Helm's {only_helm:?}",
            helm.label()
        );
        for (chart, n, twice, _) in cases {
            let twice_version = format!("1.{twice}.0");
            assert_eq!(
                our_rows.iter().filter(|r| r.starts_with(&format!("r/{chart}|{twice_version}|"))).count(),
                1,
                "{chart} {twice_version} shown once"
            );
            assert_eq!(our_rows.iter().filter(|r| r.starts_with(&format!("r/{chart}|"))).count(), n);
            // pull: the same copy as Helm, for the exact version and for a range.
            for wanted in [twice_version.clone(), format!(">=1.{twice}.0 <1.{}.0", twice + 1)] {
                let dir = work.path().join(format!("{}-{chart}-helm", helm.label()));
                fs::create_dir_all(&dir).expect("mkdir");
                repo.take_requests();
                helm.run(&["pull", &format!("r/{chart}"), "--version", &wanted, "-d", p(&dir)]);
                let helm_got: Vec<String> = repo.take_requests().into_iter().filter(|r| r.ends_with(".tgz")).collect();
                let dir = work.path().join(format!("{}-{chart}-ours", helm.label()));
                cli.ok(&["pull", &format!("r/{chart}"), "--version", &wanted, "-d", p(&dir)]);
                let ours: Vec<String> = repo.take_requests().into_iter().filter(|r| r.ends_with(".tgz")).collect();
                if older_go(chart) {
                    assert_ne!(ours, helm_got, "{} {chart} {wanted}: Go 1.23 sorts these differently", helm.label());
                } else {
                    assert_eq!(ours, helm_got, "{} {chart} {wanted}", helm.label());
                }
                let _ = fs::remove_dir_all(work.path().join(format!("{}-{chart}-helm", helm.label())));
                let _ = fs::remove_dir_all(&dir);
            }
        }
    }

    // dependency update fetches the copy Helm fetches.
    let helm4 = Helm::new(HelmVersion::V4);
    let cli = Cli::like(&helm4);
    for tool in ["helm4", "chartroom"] {
        let app = work.path().join(format!("app-{tool}"));
        let deps: String = cases
            .iter()
            .map(|(chart, _, twice, _)| format!("- name: {chart}\n  version: 1.{twice}.0\n  repository: {url}\n"))
            .collect();
        write_files(
            &app,
            &[("Chart.yaml", &format!("apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n{deps}"))],
        );
        if tool == "helm4" {
            helm4.run(&["dependency", "update", p(&app)]);
        } else {
            cli.ok(&["dependency", "update", p(&app)]);
        }
    }
    assert_eq!(
        snapshot_dir(&work.path().join("app-chartroom/charts")),
        snapshot_dir(&work.path().join("app-helm4/charts"))
    );
}
