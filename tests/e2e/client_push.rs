//! `chartroom push` (issue 4, item 2): the `helm cm-push` upload protocol against a running
//! Chartroom, then real Helm 3.17 and 4.1 pull what was pushed. Covers a `.tgz` and a chart
//! folder, a context path discovered from the index, a repository named with `helm repo add`,
//! conflicts and `--force`, a provenance file verified by Helm, and the failures: 413, an
//! unreachable repository, an invalid archive (nothing sent), 401 naming the credentials tried
//! (from a tiny in-test responder that refuses every request; pushes to a Chartroom with
//! authentication are in `auth.rs`).

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// `chartroom push <args>`.
fn push(args: &[&str]) -> Run {
    Cli::new().run(&[&["push"], args].concat())
}

#[track_caller]
fn assert_pushed(r: &Run, name_version: &str, url: &str) {
    assert_eq!(r.code, 0, "chartroom push failed: {r:?}");
    let expected = format!("Pushed {name_version} to {url}");
    assert!(r.stdout.lines().any(|l| l == expected), "expected {expected:?} on stdout: {r:?}");
}

#[track_caller]
fn assert_failed(r: &Run, code: i32, needles: &[&str]) {
    assert_eq!(r.code, code, "expected exit code {code}: {r:?}");
    assert!(r.stderr.starts_with("Error: "), "expected `Error: <message>` on stderr: {r:?}");
    for n in needles {
        assert!(r.stderr.contains(n), "expected {n:?} in stderr: {r:?}");
    }
    assert!(r.stdout.is_empty(), "nothing on stdout on failure: {r:?}");
}

/// Writes `bytes` to `dir/name` and returns the path.
fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).expect("write file");
    path
}

/// `helm pull <repo>/<chart> --version <v>` with `helm`, asserting the file equals `expected`
/// and its sha256 is the index digest.
#[track_caller]
fn helm_pull_matches(helm: &Helm, chart: &str, version: &str, expected: &[u8], digest: &str) {
    let d = helm.work_dir(&format!("pull-{chart}-{version}"));
    helm.run(&["pull", &format!("cr/{chart}"), "--version", version, "-d", p(&d)]);
    let got = read_single(&d, &format!("{chart}-{version}.tgz"));
    assert_eq!(sha256_hex(&got), digest, "{}: pulled {chart} does not match the index digest", helm.label());
    assert!(got == expected, "{}: pulled {chart} differs from the pushed bytes", helm.label());
}

// ---------------------------------------------------------------------------------------------
// Successful pushes
// ---------------------------------------------------------------------------------------------

/// A `.tgz` pushed by URL is served byte for byte: both Helms pull it with the index digest and
/// render it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_tgz_by_url_then_both_helms_pull_it() {
    let server = Server::start(&[]).await;
    let tgz = ChartBuilder::chart("pushed", "1.2.3").build();
    let file = write_file(server.temp_dir(), "pushed-1.2.3.tgz", &tgz);

    let r = push(&[p(&file), &server.repo_url()]);
    assert_pushed(&r, "pushed-1.2.3", &server.url("/api/charts"));
    assert!(r.stderr.is_empty(), "no warnings expected: {r:?}");

    let idx = server.index().await;
    let digest = idx.expect_entry("pushed", "1.2.3").digest().to_owned();
    assert_eq!(digest, sha256_hex(&tgz), "the index digest is the pushed archive's");
    assert_eq!(server.storage_files(), ["pushed-1.2.3.tgz"]);

    for v in BOTH_HELMS {
        let helm = Helm::new(v);
        helm.repo_add("cr", &server.repo_url());
        helm_pull_matches(&helm, "pushed", "1.2.3", &tgz, &digest);
        let out = helm.run(&["template", "rel", "cr/pushed", "--version", "1.2.3"]);
        assert!(out.contains("marker: \"pushed-1.2.3-values\""), "{}: helm template: {out}", helm.label());
    }
}

/// A chart folder is packaged in memory exactly as `chartroom package` packages it (same bytes,
/// `.helmignore` honoured), then pushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_chart_directory() {
    let server = Server::start(&[]).await;
    let dir = server.temp_dir().join("src/folder");
    for (rel, data) in [
        ("Chart.yaml", default_chart_yaml("folder", "0.3.0")),
        ("values.yaml", default_values_yaml("folder", "0.3.0")),
        ("templates/configmap.yaml", CONFIGMAP_TEMPLATE.to_owned()),
        (".helmignore", "secret.txt\n".to_owned()),
        ("secret.txt", "do not ship\n".to_owned()),
    ] {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, data).expect("write");
    }

    let r = push(&[p(&dir), &server.repo_url()]);
    assert_pushed(&r, "folder-0.3.0", &server.url("/api/charts"));

    // The same bytes as `chartroom package` of the folder.
    let dest = server.temp_dir().join("packaged");
    let pkg = Cli::new().run(&["package", p(&dir), "-d", p(&dest)]);
    assert_eq!(pkg.code, 0, "chartroom package: {pkg:?}");
    let packaged = read_single(&dest, "folder-0.3.0.tgz");
    let stored = fs::read(server.storage_dir().join("folder-0.3.0.tgz")).expect("stored archive");
    assert!(stored == packaged, "push of a folder must upload what `chartroom package` writes");
    let idx = server.index().await;
    assert_eq!(idx.expect_entry("folder", "0.3.0").digest(), sha256_hex(&packaged));

    let helm = Helm::new(HelmVersion::V3);
    helm.repo_add("cr", &server.repo_url());
    let d = helm.work_dir("folder");
    helm.run(&["pull", "cr/folder", "--version", "0.3.0", "--untar", "-d", p(&d)]);
    assert!(d.join("folder/Chart.yaml").is_file(), "pulled chart has its Chart.yaml");
    assert!(!d.join("folder/secret.txt").exists(), ".helmignore'd file must not be pushed");
}

/// Under a context path, the repository URL alone is enough: the context path comes from the
/// index's `serverInfo.contextPath`. A wrong `--context-path` is a clear 404 (exit 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_discovers_the_context_path_from_the_index() {
    let server = Server::start(&["--context-path", "/helm/v1"]).await;
    assert_eq!(server.index().await.context_path.as_deref(), Some("/helm/v1"));
    let tgz = ChartBuilder::chart("ctx", "1.0.0").build();
    let file = write_file(server.temp_dir(), "ctx.tgz", &tgz);

    let r = push(&[p(&file), &server.repo_url()]);
    assert_pushed(&r, "ctx-1.0.0", &server.root_url("/helm/v1/api/charts"));
    assert_eq!(server.index().await.expect_entry("ctx", "1.0.0").digest(), sha256_hex(&tgz));

    // Given explicitly (and through the environment, like cm-push), the same.
    let tgz2 = ChartBuilder::chart("ctx", "1.0.1").build();
    let file2 = write_file(server.temp_dir(), "ctx2.tgz", &tgz2);
    let r = Cli::new().run_with(&["push", p(&file2), &server.repo_url()], &[("HELM_REPO_CONTEXT_PATH", "/helm/v1")]);
    assert_pushed(&r, "ctx-1.0.1", &server.root_url("/helm/v1/api/charts"));

    // A wrong context path: no upload API there.
    let tgz3 = ChartBuilder::chart("ctx", "1.0.2").build();
    let file3 = write_file(server.temp_dir(), "ctx3.tgz", &tgz3);
    let r = push(&[p(&file3), &server.repo_url(), "--context-path", "/wrong"]);
    assert_failed(&r, 3, &["no upload API at", "/wrong/api/helm/v1/charts", "is the context path right?"]);
    assert_eq!(server.index().await.versions("ctx"), ["1.0.1", "1.0.0"]);
}

/// A repository added with `helm repo add` is usable by name (Helm's `repositories.yaml` under
/// that Helm's `HELM_CONFIG_HOME`), here under a context path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_a_repository_named_with_helm_repo_add() {
    let server = Server::start(&["--context-path", "/charts-here"]).await;
    let helm = Helm::new(HelmVersion::V4);
    helm.repo_add("cr", &server.repo_url());
    let tgz = ChartBuilder::chart("named", "2.0.0").build();
    let file = write_file(server.temp_dir(), "named.tgz", &tgz);

    // The chartroom process gets exactly this Helm's environment (HOME, HELM_CONFIG_HOME, ...).
    let with_helm_env = |args: &[&str]| Cli::like(&helm).run(args);
    let r = with_helm_env(&["push", p(&file), "cr"]);
    assert_pushed(&r, "named-2.0.0", &server.root_url("/charts-here/api/charts"));

    helm.repo_update();
    let digest = sha256_hex(&tgz);
    assert_eq!(server.index().await.expect_entry("named", "2.0.0").digest(), digest);
    helm_pull_matches(&helm, "named", "2.0.0", &tgz, &digest);

    // An unknown name is "not found" (exit 3) and says where it looked.
    let r = with_helm_env(&["push", p(&file), "nope"]);
    assert_failed(&r, 3, &["no repository named \"nope\"", "repositories.yaml"]);
}

// ---------------------------------------------------------------------------------------------
// Conflicts, --force, provenance
// ---------------------------------------------------------------------------------------------

/// Pushing an existing version is a conflict (exit 4) that points at `--force`; `--force`
/// replaces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repush_conflicts_and_force_replaces() {
    let server = Server::start(&[]).await;
    let first = ChartBuilder::chart("dup", "1.0.0").build();
    let second = ChartBuilder::chart("dup", "1.0.0").file("README.md", "second build").build();
    let f1 = write_file(server.temp_dir(), "first.tgz", &first);
    let f2 = write_file(server.temp_dir(), "second.tgz", &second);

    assert_pushed(&push(&[p(&f1), &server.repo_url()]), "dup-1.0.0", &server.url("/api/charts"));
    let r = push(&[p(&f2), &server.repo_url()]);
    assert_failed(&r, 4, &["version 1.0.0 of dup already exists (use --force)"]);
    assert_eq!(server.index().await.expect_entry("dup", "1.0.0").digest(), sha256_hex(&first), "unchanged");

    assert_pushed(&push(&[p(&f2), &server.repo_url(), "--force"]), "dup-1.0.0", &server.url("/api/charts"));
    assert_eq!(server.index().await.expect_entry("dup", "1.0.0").digest(), sha256_hex(&second), "replaced");
    assert_eq!(server.index().await.versions("dup"), ["1.0.0"]);
}

/// `--prov` uploads the provenance file with the chart; both Helms verify the signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_with_provenance_then_helm_pull_verify() {
    let server = Server::start(&[]).await;
    let tgz = testdata(SIGNTEST_TGZ);
    let prov = testdata(SIGNTEST_PROV);
    let keyring = testdata(SIGNTEST_KEYRING);

    let r = push(&[p(&tgz), &server.repo_url(), "--prov", p(&prov)]);
    assert_pushed(&r, "signtest-0.1.0 with its provenance file", &server.url("/api/charts"));
    let stored = fs::read(server.storage_dir().join("signtest-0.1.0.tgz.prov")).expect("stored .prov");
    assert!(stored == read_testdata(SIGNTEST_PROV), "the stored .prov is the pushed one");

    for v in BOTH_HELMS {
        let helm = Helm::new(v);
        helm.repo_add("cr", &server.repo_url());
        let d = helm.work_dir("verify");
        let out =
            helm.run(&["pull", "cr/signtest", "--version", "0.1.0", "--verify", "--keyring", p(&keyring), "-d", p(&d)]);
        assert!(out.contains("Signed by"), "{}: pull --verify: {out}", helm.label());
        assert!(out.contains(&format!("sha256:{SIGNTEST_SHA256}")), "{}: pull --verify: {out}", helm.label());
    }

    // Something that is not a provenance file is refused locally.
    let bogus = write_file(server.temp_dir(), "bogus.prov", b"hello");
    let other = write_file(server.temp_dir(), "other.tgz", &ChartBuilder::chart("other", "1.0.0").build());
    let r = push(&[p(&other), &server.repo_url(), "--prov", p(&bogus)]);
    assert_failed(&r, 2, &["not a provenance file"]);
    assert!(server.index().await.versions("other").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------------------------

/// Over `--max-upload-size`: a usage error (exit 2) that states the server's limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_large_names_the_limit() {
    let server = Server::start(&["--max-upload-size", "1000"]).await;
    let big = noise_text(6000, 1);
    let tgz = ChartBuilder::chart("big", "1.0.0").file("data.txt", big.as_str()).build();
    assert!(tgz.len() > 2000, "the test chart must exceed the limit: {} bytes", tgz.len());
    let file = write_file(server.temp_dir(), "big.tgz", &tgz);
    let r = push(&[p(&file), &server.repo_url()]);
    assert_failed(&r, 2, &["the chart is too large for the server", "1000 bytes"]);
    assert!(server.storage_files().is_empty(), "nothing stored: {:?}", server.storage_files());
}

/// A closed port: a network error (exit 5) naming the URL.
#[tokio::test]
async fn unreachable_repository_is_a_network_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_file(dir.path(), "c.tgz", &ChartBuilder::chart("c", "1.0.0").build());
    let url = format!("http://127.0.0.1:{}/repo", free_port());
    let r = push(&[p(&file), &url]);
    // cm-push's URL: the repository path goes after `/api`.
    let upload = url.replace("/repo", "/api/repo/charts");
    assert_failed(&r, 5, &["cannot reach", &upload]);
    assert!(r.stderr.to_ascii_lowercase().contains("connection refused"), "the reason is given: {r:?}");
}

/// An invalid archive is refused before anything is sent (exit 2), as is a missing file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_archive_is_refused_locally() {
    let server = Server::start(&[]).await;
    let garbage = write_file(server.temp_dir(), "garbage.tgz", b"this is not a gzip file");
    let r = push(&[p(&garbage), &server.repo_url()]);
    assert_failed(&r, 2, &["not a valid chart archive"]);

    let no_chart_yaml = ChartBuilder::new().entries([TarEntry::file("x/values.yaml", "a: 1\n")]).build();
    let file = write_file(server.temp_dir(), "no-chart-yaml.tgz", &no_chart_yaml);
    let r = push(&[p(&file), &server.repo_url()]);
    assert_failed(&r, 2, &["not a valid chart archive"]);

    let r = push(&[p(&server.temp_dir().join("absent.tgz")), &server.repo_url()]);
    assert_failed(&r, 2, &["cannot read", "absent.tgz"]);

    assert!(server.storage_files().is_empty(), "nothing uploaded: {:?}", server.storage_files());
    assert_eq!(server.index().await.total_versions(), 0);
}

/// A server that answers every request with 401, whatever the credentials.
/// Returns its base URL and the request heads it received.
fn start_401_responder() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            // Read the head, then the whole body (Content-Length or chunked), so that closing
            // the connection never resets it before the client reads the answer.
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let lower = head.to_ascii_lowercase();
            let length = lower
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            let chunked = lower.contains("transfer-encoding: chunked");
            loop {
                let body = &buf[head_end..];
                let done = match length {
                    Some(n) => body.len() >= n,
                    None => !chunked || body.ends_with(b"0\r\n\r\n"),
                };
                if done {
                    break;
                }
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            record.lock().expect("lock").push(head);
            let body = r#"{"error":"unauthorized"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.flush();
        }
    });
    (format!("http://127.0.0.1:{port}"), seen)
}

/// 401: exit 6, and the message says which credentials were refused (basic auth as which user,
/// a bearer token, or none); credentials come from flags, the URL, or `repositories.yaml`.
#[tokio::test]
async fn unauthorized_names_the_credentials_tried() {
    let (base, seen) = start_401_responder();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_file(dir.path(), "c.tgz", &ChartBuilder::chart("c", "1.0.0").build());
    let repo = format!("{base}/team");

    let r = push(&[p(&file), &repo, "--username", "alice", "--password", "secret"]);
    assert_failed(&r, 6, &["the server refused the credentials", "basic auth as user \"alice\"", "unauthorized"]);
    assert!(!r.stderr.contains("secret"), "the password must never be printed: {r:?}");
    {
        let heads = seen.lock().expect("lock");
        let post = heads.iter().find(|h| h.starts_with("POST ")).expect("a POST reached the responder");
        assert!(post.starts_with("POST /api/team/charts HTTP/1.1\r\n"), "upload URL: {post}");
        // base64("alice:secret")
        assert!(post.contains("uthorization: Basic YWxpY2U6c2VjcmV0\r\n"), "basic credentials sent: {post}");
        assert!(post.to_ascii_lowercase().contains("content-type: multipart/form-data"), "{post}");
    }

    let r = Cli::new().run_with(&["push", p(&file), &repo], &[("HELM_REPO_ACCESS_TOKEN", "tok")]);
    assert_failed(&r, 6, &["a bearer token"]);
    assert!(seen.lock().expect("lock").iter().any(|h| h.contains("uthorization: Bearer tok\r\n")));

    let r = push(&[p(&file), &repo, "--token", "tok", "--auth-header", "X-Api-Key"]);
    assert_failed(&r, 6, &["a token in the x-api-key header"]);

    let r = push(&[p(&file), &repo]);
    assert_failed(&r, 6, &["no credentials were sent"]);

    let userinfo = repo.replacen("http://", "http://carol:pw@", 1);
    let r = push(&[p(&file), &userinfo]);
    assert_failed(&r, 6, &["basic auth as user \"carol\""]);
    assert!(!r.stderr.contains("pw@"), "credentials must not be printed: {r:?}");

    // A named repository with credentials in repositories.yaml (HELM_REPOSITORY_CONFIG).
    let config = write_file(
        dir.path(),
        "repositories.yaml",
        format!("apiVersion: \"\"\ngenerated: \"0001-01-01T00:00:00Z\"\nrepositories:\n- name: locked\n  url: {repo}\n  username: bob\n  password: hunter2\n  insecure_skip_tls_verify: false\n  pass_credentials_all: false\n").as_bytes(),
    );
    let r = Cli::new().run_with(&["push", p(&file), "locked"], &[("HELM_REPOSITORY_CONFIG", p(&config))]);
    assert_failed(&r, 6, &["basic auth as user \"bob\""]);
}
