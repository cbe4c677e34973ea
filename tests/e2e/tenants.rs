//! Tenants (`--depth N`, ChartMuseum's multitenancy) end to end: real Helm 3.17 and 4.1 on one
//! repository per tenant, uploads the way `helm cm-push` and `chartroom push` send them, tenant
//! names a hostile client sends (400, nothing written), 100,000 reads of tenants that do not
//! exist (memory measured), and three replicas on one S3 bucket converging per tenant.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::support::*;

fn p(path: &std::path::Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// The versions of `chart` a server lists for `tenant`.
async fn tenant_versions(server: &Server, tenant: &str, chart: &str) -> Vec<String> {
    let r = server.get(&format!("/{tenant}/index.yaml")).await;
    r.assert_status(200);
    Index::parse(&r.body).versions(chart)
}

#[tokio::test]
async fn helm_uses_one_repository_per_tenant_and_pushes_land_in_their_tenant() {
    let server = Server::start(&["--depth", "2", "--context-path", "/helm"]).await;
    let a = ChartBuilder::chart("alpha", "1.0.0").build();
    let b = ChartBuilder::chart("beta", "2.0.0").build();
    // `helm cm-push` to <contextPath>/api/<tenant>/charts; `chartroom push` finds the same URL.
    server.cm_push("/api/org/team-a/charts", a.clone(), "alpha-1.0.0.tgz", None).await.assert_status(201);
    server.cm_push("/api/org/team-b/charts", b.clone(), "beta-2.0.0.tgz", None).await.assert_status(201);
    let dir = tempfile::tempdir().expect("tempdir");
    let gamma = dir.path().join("gamma-0.3.0.tgz");
    std::fs::write(&gamma, ChartBuilder::chart("gamma", "0.3.0").build()).expect("write chart");
    let pushed = Cli::new().run(&["push", p(&gamma), &server.url("/org/team-a")]);
    assert_eq!(pushed.code, 0, "{pushed:?}");
    assert!(pushed.stdout.contains(&server.url("/api/org/team-a/charts")), "{pushed:?}");

    // Stored as ChartMuseum stores tenants: <tenant>/<name>-<version>.tgz.
    let files = server.storage_files();
    for key in ["org/team-a/alpha-1.0.0.tgz", "org/team-a/gamma-0.3.0.tgz", "org/team-b/beta-2.0.0.tgz"] {
        assert!(files.iter().any(|f| f == key), "{key} in {files:?}");
    }

    for helm in BOTH_HELMS.map(Helm::new) {
        helm.repo_add("team-a", &server.url("/org/team-a"));
        helm.repo_add("team-b", &server.url("/org/team-b"));
        helm.repo_update();
        assert_eq!(helm.searched_versions("team-a", "alpha", false), ["1.0.0"], "{}", helm.label());
        assert_eq!(helm.searched_versions("team-a", "gamma", false), ["0.3.0"], "{}", helm.label());
        assert!(helm.searched_versions("team-a", "beta", false).is_empty(), "{}", helm.label());
        assert_eq!(helm.searched_versions("team-b", "beta", false), ["2.0.0"], "{}", helm.label());
        let d = helm.work_dir("pull");
        helm.run(&["pull", "team-b/beta", "-d", p(&d)]);
        assert_eq!(read_single(&d, "beta-2.0.0.tgz"), b, "{}", helm.label());
        // The chartroom client reads the same tenant repositories by name.
        let cli = Cli::like(&helm);
        let out = cli.ok(&["search", "team-a"]);
        assert!(out.contains("team-a/alpha") && !out.contains("beta"), "{out}");
        let d = helm.work_dir("cr-pull");
        cli.ok(&["pull", "team-a/alpha", "-d", p(&d)]);
        assert_eq!(read_single(&d, "alpha-1.0.0.tgz"), a);
    }

    // A tenant without charts is an empty repository; a depth the server does not serve is no route.
    assert!(tenant_versions(&server, "org/nobody", "alpha").await.is_empty());
    server.get("/org/index.yaml").await.assert_status(404);
    let listed = server.get("/api/tenants").await;
    listed.assert_status(200);
    let listed = listed.json();
    let names: Vec<&str> = listed["tenants"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["org/team-a", "org/team-b"]);
}

/// Paths as a hostile client sends them, on a plain TCP connection (HTTP clients would
/// normalise `..` away): 400 naming the rule, and storage left exactly as it was.
#[tokio::test]
async fn traversal_and_invalid_tenant_names_are_refused_and_write_nothing() {
    let server = Server::start(&["--depth", "1"]).await;
    server.cm_push("/api/team/charts", ChartBuilder::chart("demo", "1.0.0").build(), "demo.tgz", None).await;
    let before = server.storage_snapshot();
    let long = "x".repeat(65);
    for (method, path) in [
        ("GET", "/../index.yaml".to_owned()),
        ("GET", "/%2e%2e/index.yaml".to_owned()),
        ("GET", "/.chartroom/index.yaml".to_owned()),
        ("GET", "/.chartroom/charts/index-state.bin.tgz".to_owned()),
        ("GET", "//index.yaml".to_owned()),
        ("GET", "/team%2F..%2F..%2Fetc/charts/passwd.tgz".to_owned()),
        ("GET", "/..%2F..%2Fetc/index.yaml".to_owned()),
        ("GET", format!("/{long}/index.yaml")),
        ("POST", "/api/../charts".to_owned()),
        ("POST", "/api/.chartroom/charts".to_owned()),
        ("POST", "/api/%2e%2e/charts".to_owned()),
        ("POST", "/api//charts".to_owned()),
        ("POST", "/api/a%2Fb/prov".to_owned()),
        ("DELETE", "/api/../charts/demo/1.0.0".to_owned()),
        ("DELETE", "/api/team%2F../charts/demo/1.0.0".to_owned()),
    ] {
        let (status, body) = server.raw_request(method, &path, None).await;
        assert_eq!(status, 400, "{method} {path}: {body}");
        assert!(body.starts_with(r#"{"error":"invalid repository path"#), "{method} {path}: {body}");
    }
    // Chartroom's state folder is never served as a file either.
    let (status, _) = server.raw_request("GET", "/team/charts/..%2F.chartroom%2Findex-state.bin", None).await;
    assert_ne!(status, 200);
    assert_eq!(server.storage_snapshot(), before, "nothing written or removed");
    assert_eq!(tenant_versions(&server, "team", "demo").await, ["1.0.0"]);
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc status")
}

/// 100,000 reads of random tenants that have no charts: each answers an empty repository, and
/// the process's memory does not grow (measured from /proc, not timed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_of_tenants_that_do_not_exist_cost_no_memory() {
    let server = Server::start(&["--depth", "2"]).await;
    server.cm_push("/api/org/real/charts", ChartBuilder::chart("demo", "1.0.0").build(), "demo.tgz", None).await;
    let before_files = server.storage_snapshot();
    let reads = |from: usize, count: usize| {
        let base = server.url("");
        async move {
            let client = load_client();
            let mut tasks = Vec::new();
            for worker in 0..16 {
                let (client, base) = (client.clone(), base.clone());
                tasks.push(tokio::spawn(async move {
                    let mut i = from + worker;
                    while i < from + count {
                        let tenant = format!("o{:x}/t{:x}", i.wrapping_mul(2_654_435_761) % 1_000_003, i);
                        let url = match i % 3 {
                            0 => format!("{base}/{tenant}/index.yaml"),
                            1 => format!("{base}/api/{tenant}/charts"),
                            _ => format!("{base}/api/{tenant}/charts/demo"),
                        };
                        let r = client.get(&url).send().await.expect("read");
                        let want = if i % 3 == 2 { 404 } else { 200 };
                        assert_eq!(r.status().as_u16(), want, "{url}");
                        let body = r.bytes().await.expect("body");
                        if i.is_multiple_of(3) {
                            assert!(body.starts_with(b"apiVersion: v1\nentries: {}\n"), "{url}");
                        }
                        i += 16;
                    }
                }));
            }
            for t in tasks {
                t.await.expect("reader");
            }
        }
    };
    // Warm up: connections, allocator pools, the first lazily built buffers.
    reads(0, 5_000).await;
    let before = rss_kib(server.pid());
    reads(5_000, 100_000).await;
    let after = rss_kib(server.pid());
    let grown = after.saturating_sub(before);
    eprintln!("RSS before {before} KiB, after 100,000 reads of unknown tenants {after} KiB (+{grown} KiB)");
    assert!(grown < 10 * 1024, "RSS grew by {grown} KiB over 100,000 reads of unknown tenants");
    let listed = server.get("/api/tenants").await;
    assert_eq!(listed.json()["tenants"].as_array().unwrap().len(), 1, "no tenant came into existence");
    assert_eq!(server.storage_snapshot(), before_files, "reads write nothing");
}

/// Three replicas on one bucket at depth 1: uploads to several tenants through different
/// replicas appear on every replica, each in its tenant only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_one_s3_bucket_converge_per_tenant() {
    let s3 = S3Server::start();
    s3.create_bucket("tenants");
    let target = StorageTarget::S3 { s3: s3.clone(), bucket: "tenants".to_owned(), prefix: "charts".to_owned() };
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(Server::start_with(target.clone(), &["--depth", "1"], &[]).await);
    }
    let tenants = ["team-a", "team-b", "team-c", "team-d"];
    let mut expected: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for i in 0..24 {
        let tenant = tenants[i % tenants.len()];
        let version = format!("1.{i}.0");
        let server = &servers[i % servers.len()];
        let tgz = ChartBuilder::chart("app", &version).build();
        server.cm_push(&format!("/api/{tenant}/charts"), tgz, "app.tgz", None).await.assert_status(201);
        expected.entry(tenant).or_default().insert(version);
    }
    // The same version in two tenants through two replicas: both stored, no conflict.
    servers[0]
        .cm_push("/api/team-a/charts", ChartBuilder::chart("shared", "1.0.0").build(), "s.tgz", None)
        .await
        .assert_status(201);
    servers[1]
        .cm_push("/api/team-b/charts", ChartBuilder::chart("shared", "1.0.0").build(), "s.tgz", None)
        .await
        .assert_status(201);
    // A version stored through one replica conflicts through another, per tenant.
    servers[2]
        .cm_push("/api/team-a/charts", ChartBuilder::chart("shared", "1.0.0").build(), "s.tgz", None)
        .await
        .assert_status(409);

    let started = Instant::now();
    loop {
        let mut converged = true;
        let mut seen = Vec::new();
        for server in &servers {
            for tenant in tenants {
                let got: BTreeSet<String> = tenant_versions(server, tenant, "app").await.into_iter().collect();
                converged &= got == expected[tenant];
                seen.push(got.len());
                let shared = tenant_versions(server, tenant, "shared").await;
                let want_shared: &[&str] = if matches!(tenant, "team-a" | "team-b") { &["1.0.0"] } else { &[] };
                converged &= shared == want_shared;
            }
        }
        if converged {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "replicas did not converge per tenant: {seen:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A replica started later loads every tenant from the bucket.
    let late = Server::start_with(target.clone(), &["--depth", "1"], &[]).await;
    for tenant in tenants {
        let got: BTreeSet<String> = tenant_versions(&late, tenant, "app").await.into_iter().collect();
        assert_eq!(got, expected[tenant], "{tenant} on a replica started later");
    }
    // Deletes propagate per tenant too.
    servers[1].delete("/api/team-c/charts/app/1.2.0").await.assert_status(200);
    let started = Instant::now();
    loop {
        let mut gone = true;
        for server in servers.iter().chain([&late]) {
            gone &= !tenant_versions(server, "team-c", "app").await.contains(&"1.2.0".to_owned());
        }
        if gone {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "delete did not propagate");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
