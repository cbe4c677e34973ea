//! Issue 14 (first half): retention by semantic version with real Helm 3 and 4, the storage
//! limit on the OCI path (`helm push`), `artifacthub-repo.yml`, and the audit log of every
//! write path with its refusals.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::path::Path;

use chartroom_signing::{SecretKeyring, sign};
use jiff::Timestamp;
use reqwest::Method;
use serde_json::Value;

use crate::support::*;

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

fn host(server: &Server) -> String {
    server.repo_url().trim_start_matches("http://").trim_end_matches('/').to_owned()
}

/// 30 versions of one chart, with pre-releases and build metadata, in the order they are pushed
/// (not sorted).
const VERSIONS: [&str; 30] = [
    "1.2.0+build.2",
    "0.1.0",
    "3.0.0-alpha.10",
    "2.0.0",
    "1.0.0-alpha",
    "3.1.0-rc.1+build.7",
    "0.9.0",
    "1.10.0",
    "2.0.0-rc.2",
    "3.0.0+exp.sha.5114f85",
    "1.0.0-rc.1",
    "0.3.0+b",
    "4.0.0-alpha.1",
    "1.0.1",
    "3.0.0-0.3.7",
    "1.2.0+build.10",
    "2.1.0",
    "1.0.0-alpha.1",
    "0.2.0",
    "3.1.0-beta.1",
    "1.1.0",
    "2.0.0-rc.1",
    "4.0.0-alpha",
    "1.0.0",
    "3.0.0-alpha.2",
    "0.3.0",
    "1.0.0-beta",
    "1.2.0",
    "2.0.0+20240101",
    "3.0.0",
];

/// The test's own SemVer 2.0.0 precedence (section 11), then the tie-break the README documents
/// for versions that differ only in build metadata: identifiers compared like pre-release ones,
/// none lowest.
fn semver_cmp(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> ([u64; 3], Vec<&str>, Vec<&str>) {
        let (rest, build) = v.split_once('+').unwrap_or((v, ""));
        let (core, pre) = rest.split_once('-').unwrap_or((rest, ""));
        let nums: Vec<u64> = core.split('.').map(|n| n.parse().expect("numeric core")).collect();
        ([nums[0], nums[1], nums[2]], ids(pre), ids(build))
    }
    fn ids(s: &str) -> Vec<&str> {
        if s.is_empty() { Vec::new() } else { s.split('.').collect() }
    }
    fn ids_cmp(a: &[&str], b: &[&str]) -> Ordering {
        for (x, y) in a.iter().zip(b) {
            let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                (Ok(x), Ok(y)) => x.cmp(&y),
                (Ok(_), Err(_)) => Ordering::Less,
                (Err(_), Ok(_)) => Ordering::Greater,
                (Err(_), Err(_)) => x.cmp(y),
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.len().cmp(&b.len())
    }
    let (ca, pa, ba) = split(a);
    let (cb, pb, bb) = split(b);
    ca.cmp(&cb)
        .then_with(|| match (pa.is_empty(), pb.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => ids_cmp(&pa, &pb),
        })
        .then_with(|| ids_cmp(&ba, &bb))
}

/// What `--per-chart-limit keep --retention-keep-prereleases pre` keeps of `versions`: the `pre`
/// highest pre-releases at most, and of what is left the `keep` highest.
fn expected_kept(versions: &[&str], keep: usize, pre: usize) -> BTreeSet<String> {
    let mut sorted: Vec<&str> = versions.to_vec();
    sorted.sort_by(|a, b| semver_cmp(b, a));
    let (mut prereleases, mut counted) = (0, 0);
    let mut kept = BTreeSet::new();
    for v in sorted {
        if v.split('+').next().is_some_and(|core| core.contains('-')) {
            prereleases += 1;
            if prereleases > pre {
                continue;
            }
        }
        counted += 1;
        if counted <= keep {
            kept.insert(v.to_owned());
        }
    }
    kept
}

/// A chart and its provenance file, signed in process with a key GnuPG made.
struct Signer {
    key: SecretKeyring,
    _gpg: GnuPg,
}

impl Signer {
    fn new() -> Signer {
        let gpg = GnuPg::new();
        let fingerprint = gpg.gen_key(&KeySpec::new("Retention Test <retention@example.test>", "ed25519"));
        let key = SecretKeyring::from_bytes(&gpg.export_secret(&fingerprint, "")).expect("secret keyring");
        Signer { key, _gpg: gpg }
    }

    fn chart(&self, name: &str, version: &str) -> (Vec<u8>, Vec<u8>) {
        let tgz = ChartBuilder::chart(name, version).build();
        let metadata = chartroom_chart::archive::extract_files(&tgz, &Default::default(), |f| f == "Chart.yaml")
            .expect("archive")
            .remove(0)
            .data;
        let metadata = String::from_utf8(metadata).expect("UTF-8");
        let file = format!("{name}-{version}.tgz");
        let prov = sign(&tgz, &file, &metadata, &self.key.keys()[0], b"", Timestamp::now()).expect("sign");
        (tgz, prov)
    }
}

fn removed_versions(body: &Value) -> Vec<String> {
    body["removed"]
        .as_array()
        .expect("removed")
        .iter()
        .map(|r| {
            assert_eq!(r["name"], "keep", "{r}");
            r["version"].as_str().expect("version").to_owned()
        })
        .collect()
}

/// Issue 14, point 1: 30 versions with pre-releases and build metadata pushed out of order with
/// their provenance files; a restart with `--per-chart-limit 8 --retention-keep-prereleases 3`;
/// the preview lists exactly what the test's own SemVer sort says goes, `POST` removes exactly
/// that, the `.prov` files of what stays stay and the others go, and Helm 3 and 4 list what
/// stays. Then an upload prunes its chart, never itself.
#[tokio::test]
async fn retention_keeps_the_highest_versions_by_semver() {
    let signer = Signer::new();
    let mut server = Server::start(&[]).await;
    for v in VERSIONS {
        let (tgz, prov) = signer.chart("keep", v);
        let file = format!("keep-{v}.tgz");
        let prov_file = format!("{file}.prov");
        server.upload_multipart(Some((&file, tgz)), Some((&prov_file, prov)), "").await.assert_status(201);
    }
    assert_eq!(server.index().await.versions("keep").len(), 30);

    let audit_dir = tempfile::tempdir().expect("tempdir");
    let audit = audit_dir.path().join("audit.jsonl");
    server.launch_mut().add_args(&[
        "--per-chart-limit",
        "8",
        "--retention-keep-prereleases",
        "3",
        "--audit-log",
        p(&audit),
    ]);
    server.restart().await;
    let kept = expected_kept(&VERSIONS, 8, 3);
    let doomed: BTreeSet<String> = VERSIONS.iter().map(|v| v.to_string()).filter(|v| !kept.contains(v)).collect();
    assert_eq!(kept.len() + doomed.len(), 30);

    let preview = server.get("/api/retention").await;
    preview.assert_status(200);
    let preview = preview.json();
    assert_eq!(preview["dryRun"], true);
    assert_eq!(preview["policy"]["perChartLimit"], 8);
    let previewed = removed_versions(&preview);
    assert_eq!(previewed.iter().cloned().collect::<BTreeSet<_>>(), doomed, "the preview");
    assert_eq!(server.index().await.versions("keep").len(), 30, "a preview removes nothing");

    let applied = server.req(Method::POST, "/api/retention").send().await.expect("POST /api/retention");
    assert_eq!(applied.status(), 200);
    let applied: Value = applied.json().await.expect("JSON");
    assert_eq!(removed_versions(&applied), previewed, "POST removes what the preview listed");

    let indexed: BTreeSet<String> = server.index().await.versions("keep").into_iter().collect();
    assert_eq!(indexed, kept);
    let files: BTreeSet<String> = server.storage_files().into_iter().collect();
    for v in &kept {
        assert!(files.contains(&format!("keep-{v}.tgz")), "{v} stays: {files:?}");
        assert!(files.contains(&format!("keep-{v}.tgz.prov")), "its .prov stays: {v}");
    }
    for v in &doomed {
        assert!(!files.iter().any(|f| f.starts_with(&format!("keep-{v}.tgz"))), "{v} and its .prov are gone");
    }
    for version in [HelmVersion::V3, HelmVersion::V4] {
        let helm = Helm::new(version);
        helm.repo_add("cr", &server.repo_url());
        let listed: BTreeSet<String> = helm.searched_versions("cr", "keep", true).into_iter().collect();
        assert_eq!(listed, kept, "{version:?} helm search repo --versions --devel");
    }
    assert_eq!(removed_versions(&server.get("/api/retention").await.json()), Vec::<String>::new());

    // An upload prunes its chart: a new highest version pushes the lowest kept one out; a low
    // version uploaded now stays (never the version just uploaded) until the next run.
    assert_eq!(kept.len(), 8);
    let lowest = kept.iter().min_by(|a, b| semver_cmp(a, b)).expect("kept").clone();
    let (tgz, _) = signer.chart("keep", "5.0.0");
    server.upload_raw(tgz).await.assert_status(201);
    let after: BTreeSet<String> = server.index().await.versions("keep").into_iter().collect();
    let mut candidates: Vec<&str> = kept.iter().map(String::as_str).collect();
    candidates.push("5.0.0");
    let want = expected_kept(&candidates, 8, 3);
    assert!(!want.contains(&lowest));
    assert_eq!(after, want, "5.0.0 in, {lowest} out");
    assert!(!server.storage_files().iter().any(|f| f.starts_with(&format!("keep-{lowest}.tgz"))));
    let (tgz, _) = signer.chart("keep", "0.0.1");
    server.upload_raw(tgz).await.assert_status(201);
    assert!(server.index().await.versions("keep").contains(&"0.0.1".to_owned()), "the upload itself stays");
    assert_eq!(removed_versions(&server.get("/api/retention").await.json()), ["0.0.1"]);

    // The audit log: a `retention` line per version `POST` removed, then each upload's line, the
    // version it pruned on a line of its own.
    let lines = audit_lines(&audit);
    let summary: Vec<(String, String, Option<String>)> = lines
        .iter()
        .map(|l| {
            assert_eq!(l["chart"], "keep", "{l}");
            let s = |k: &str| l[k].as_str().unwrap_or_default().to_owned();
            (s("action"), s("method"), l["version"].as_str().map(str::to_owned))
        })
        .collect();
    let mut want: Vec<(String, String, Option<String>)> =
        previewed.iter().map(|v| ("retention".to_owned(), "POST".to_owned(), Some(v.clone()))).collect();
    want.push(("push".to_owned(), "POST".to_owned(), Some("5.0.0".to_owned())));
    want.push(("retention".to_owned(), "POST".to_owned(), Some(lowest.clone())));
    want.push(("push".to_owned(), "POST".to_owned(), Some("0.0.1".to_owned())));
    assert_eq!(summary, want);
}

/// Issue 14, point 2, the OCI path: below the cap `helm push` lands; at the cap a new version is
/// refused with ChartMuseum's 507 and its message, and nothing is stored.
#[tokio::test]
async fn storage_limit_refuses_helm_push_at_the_cap() {
    let server = Server::start(&["--max-storage-objects", "2"]).await;
    server.upload_ok(ChartBuilder::chart("first", "1.0.0").build()).await;
    let registry = format!("oci://{}", host(&server));
    let push = |version: HelmVersion, name: &str| {
        let helm = Helm::new(version);
        let file = helm.work_dir("push").join(format!("{name}-1.0.0.tgz"));
        std::fs::write(&file, ChartBuilder::chart(name, "1.0.0").build()).expect("write");
        (helm, file)
    };
    let (helm3, file) = push(HelmVersion::V3, "pushed3");
    helm3.run(&["push", p(&file), &registry, "--plain-http"]);
    assert_eq!(server.index().await.versions("pushed3"), ["1.0.0"]);

    let charts_before: Vec<String> = server.storage_files().into_iter().filter(|f| f.ends_with(".tgz")).collect();
    for (helm, file) in [push(HelmVersion::V3, "refused3"), push(HelmVersion::V4, "refused4")] {
        let refused = helm.run_fail(&["push", p(&file), &registry, "--plain-http"]);
        // Helm 3.17 prints the status only; Helm 4 the registry's message too.
        assert!(refused.contains("507"), "{refused}");
    }
    let charts_after: Vec<String> = server.storage_files().into_iter().filter(|f| f.ends_with(".tgz")).collect();
    assert_eq!(charts_after, charts_before, "nothing stored");
    let index = server.index().await;
    assert!(index.versions("refused3").is_empty() && index.versions("refused4").is_empty());
}

/// Issue 14, point 3: `artifacthub-repo.yml` as Artifact Hub fetches it, root and tenant, parsed
/// as YAML with its field names.
#[tokio::test]
async fn artifact_hub_repository_file() {
    let server = Server::start(&[
        "--depth-dynamic",
        "--artifact-hub-repo-id",
        "0d8d7f0c-1111-4222-8333-444455556666",
        "--artifact-hub-repo-id",
        "org/team=7a7a7a7a-1111-4222-8333-444455556666",
        "--artifact-hub-owner",
        "name=Chart Team,email=charts@example.test",
    ])
    .await;
    for (path, id) in [
        ("/artifacthub-repo.yml", "0d8d7f0c-1111-4222-8333-444455556666"),
        ("/org/team/artifacthub-repo.yml", "7a7a7a7a-1111-4222-8333-444455556666"),
    ] {
        let r = server.get(path).await;
        r.assert_status(200);
        let yaml: Value = serde_saphyr::from_str(&r.text()).expect("YAML");
        assert_eq!(yaml["repositoryID"], id, "{path}");
        assert_eq!(yaml["owners"][0]["name"], "Chart Team");
        assert_eq!(yaml["owners"][0]["email"], "charts@example.test");
    }
    server.get("/elsewhere/artifacthub-repo.yml").await.assert_status(404);
}

const ALICE_PASS: &str = "alice-audit-pass";
const BOB_PASS: &str = "bob-audit-pass";

fn audit_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Issue 14, point 6: every write and every refused or denied write of every path (raw,
/// multipart, `helm cm-push`, `POST /api/prov`-less, delete, retention, OCI push and delete) is
/// one JSON line in the `--audit-log` file with its identity, source, tenant, chart, version,
/// digest and outcome; reads are not; the request log stays apart.
#[tokio::test]
async fn audit_log_records_writes_and_refusals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = dir.path().join("auth.yaml");
    let config = format!(
        "users:\n  alice: \"{}\"\n  bob: \"{}\"\ngrants:\n  - to: [alice]\n    tenants: [team-a]\n    actions: [pull, push, delete]\n  - to: [bob]\n    tenants: [team-a]\n    actions: [pull]\n",
        bcrypt_hash(ALICE_PASS),
        bcrypt_hash(BOB_PASS)
    );
    std::fs::write(&auth, config).expect("write auth config");
    let log = dir.path().join("audit.jsonl");
    let server = Server::start(&[
        "--depth",
        "1",
        "--auth-config",
        p(&auth),
        "--audit-log",
        p(&log),
        "--max-storage-objects",
        "3",
        "--per-chart-limit",
        "5",
    ])
    .await;
    let alice = basic("alice", ALICE_PASS);
    let bob = basic("bob", BOB_PASS);
    let a1 = ChartBuilder::chart("a", "1.0.0").build();
    let a2 = ChartBuilder::chart("a", "1.1.0").build();
    let b1 = ChartBuilder::chart("b", "0.1.0").build();
    let c1 = ChartBuilder::chart("c", "0.1.0").build();
    let up = "/api/team-a/charts";

    server.request_as(Method::POST, up, Some(&alice), Some(a1.clone())).await.assert_status(201);
    let form = server
        .req(Method::POST, up)
        .header("Authorization", &alice)
        .multipart(
            reqwest::multipart::Form::new()
                .part("chart", reqwest::multipart::Part::bytes(a2.clone()).file_name("a-1.1.0.tgz")),
        )
        .send()
        .await
        .expect("multipart");
    assert_eq!(form.status(), 201);
    server.cm_push(up, b1.clone(), "b-0.1.0.tgz", Some(&alice)).await.assert_status(201);
    server.request_as(Method::POST, up, Some(&bob), Some(c1.clone())).await.assert_status(403);
    server.request_as(Method::POST, up, None, Some(c1.clone())).await.assert_status(401);
    server.request_as(Method::POST, up, Some(&alice), Some(b"not a chart".to_vec())).await.assert_status(400);
    server.request_as(Method::POST, up, Some(&alice), Some(a1.clone())).await.assert_status(409);
    server.request_as(Method::POST, up, Some(&alice), Some(c1.clone())).await.assert_status(507);
    server.get_as("/api/team-a/charts", Some(&bob)).await.assert_status(200);
    server.request_as(Method::DELETE, "/api/team-a/charts/a/1.0.0", Some(&alice), None).await.assert_status(200);
    server.request_as(Method::DELETE, "/api/team-a/charts/b/0.1.0", Some(&bob), None).await.assert_status(403);
    server.request_as(Method::POST, "/api/team-a/retention", Some(&alice), None).await.assert_status(200);

    // OCI: a push and a delete by alice, with Helm's registry login.
    let helm = Helm::new(HelmVersion::V4);
    let registry = host(&server);
    helm.run(&["registry", "login", &registry, "--username", "alice", "--password", ALICE_PASS, "--plain-http"]);
    let work = helm.work_dir("oci");
    let d1 = ChartBuilder::chart("d", "0.2.0").build();
    let file = work.join("d-0.2.0.tgz");
    std::fs::write(&file, &d1).expect("write");
    helm.run(&["push", p(&file), &format!("oci://{registry}/team-a"), "--plain-http"]);
    server.request_as(Method::DELETE, "/v2/team-a/d/manifests/0.2.0", Some(&alice), None).await.assert_status(202);

    let lines = audit_lines(&log);
    // Each line's fields but the digest, source and time (checked below).
    let rows: Vec<Value> = lines
        .iter()
        .map(|l| {
            let keys = ["action", "method", "identity", "status", "outcome", "tenant", "chart", "version"];
            Value::Object(keys.iter().map(|k| (k.to_string(), l[*k].clone())).collect())
        })
        .collect();
    let row = |action: &str,
               method: &str,
               who: Option<&str>,
               status: u64,
               outcome: &str,
               chart: Option<&str>,
               version: Option<&str>| {
        serde_json::json!({
            "action": action, "method": method, "identity": who, "status": status, "outcome": outcome,
            "tenant": "team-a", "chart": chart, "version": version,
        })
    };
    assert_eq!(
        rows[..11],
        [
            row("push", "POST", Some("alice"), 201, "allowed", Some("a"), Some("1.0.0")),
            row("push", "POST", Some("alice"), 201, "allowed", Some("a"), Some("1.1.0")),
            row("push", "POST", Some("alice"), 201, "allowed", Some("b"), Some("0.1.0")),
            row("push", "POST", Some("bob"), 403, "denied", None, None),
            row("push", "POST", None, 401, "denied", None, None),
            row("push", "POST", Some("alice"), 400, "refused", None, None),
            row("push", "POST", Some("alice"), 409, "refused", None, None),
            row("push", "POST", Some("alice"), 507, "refused", None, None),
            row("delete", "DELETE", Some("alice"), 200, "allowed", Some("a"), Some("1.0.0")),
            row("delete", "DELETE", Some("bob"), 403, "denied", None, None),
            row("retention", "POST", Some("alice"), 200, "allowed", None, None),
        ],
        "{lines:#?}"
    );
    // Helm 4 PUTs the manifest more than once (each an allowed push of the same version), then
    // the delete.
    let (oci, last) = rows[11..].split_at(rows.len() - 12);
    assert!(!oci.is_empty(), "{lines:#?}");
    for put in oci {
        assert_eq!(*put, row("push", "PUT", Some("alice"), 201, "allowed", Some("d"), Some("0.2.0")), "{lines:#?}");
    }
    assert_eq!(last, [row("delete", "DELETE", Some("alice"), 202, "allowed", Some("d"), Some("0.2.0"))]);
    // Digests of the bytes written or deleted; every line has its source and a time.
    assert_eq!(lines[0]["digest"], sha256_hex(&a1));
    assert_eq!(lines[1]["digest"], sha256_hex(&a2));
    assert_eq!(lines[2]["digest"], sha256_hex(&b1));
    assert_eq!(lines[8]["digest"], sha256_hex(&a1));
    assert_eq!(lines[11]["digest"], sha256_hex(&d1));
    for line in &lines {
        assert!(line["source"].as_str().is_some_and(|s| s.starts_with("127.0.0.1:")), "{line}");
        assert!(line["time"].as_str().is_some_and(|t| t.parse::<Timestamp>().is_ok()), "{line}");
    }
    assert!(!server.log().contains("\"outcome\""), "the request log is not the audit log");
}
