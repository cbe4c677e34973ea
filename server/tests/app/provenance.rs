//! Signed charts through the HTTP API: the provenance policy of uploads (multipart and
//! `POST /api/prov`), 400s that name the failed check and store nothing, what the chart API
//! shows of a verified provenance file, the re-verification report, and tenants' own policies
//! through the tenant routes (`--depth 1`). Helm's signed fixture chart and its test key; keys
//! made by GnuPG and real Helm are in the end-to-end tests.

use serde_json::Value;

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/helm/pkg/downloader/testdata/");
const HELM_FINGERPRINT: &str = "5E615389B53CA37F0EE60BD3843BBF981FC18762";
const HELM_USER_ID: &str =
    "Helm Testing (This key should only be used for testing. DO NOT TRUST.) <helm-testing@helm.sh>";

fn fixture(file: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}{file}")).unwrap()
}

fn signtest() -> Vec<u8> {
    fixture("signtest-0.1.0.tgz")
}

fn signtest_prov() -> Vec<u8> {
    fixture("signtest-0.1.0.tgz.prov")
}

/// The policy `mode` with Helm's test key trusted.
fn policy(mode: &str) -> ArgValues {
    ArgValues::new()
        .with(&options::PROVENANCE, mode)
        .with(&options::PROVENANCE_KEYRING, format!("{FIXTURES}helm-test-key.pub"))
}

impl TestApp {
    async fn upload_parts(&self, query: &str, parts: &[(&str, &[u8])]) -> (StatusCode, String) {
        self.upload_parts_to(&format!("/api/charts{query}"), parts).await
    }

    async fn upload_parts_to(&self, path: &str, parts: &[(&str, &[u8])]) -> (StatusCode, String) {
        let (content_type, body) = multipart(parts);
        let req = Request::post(path).header(header::CONTENT_TYPE, content_type).body(Body::from(body)).unwrap();
        let r = self.router.clone().oneshot(req).await.unwrap();
        (r.status(), body_text(r).await)
    }

    /// Every stored object but this replica's own bookkeeping (`.chartroom/`), with its bytes.
    async fn stored(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for o in self.storage.list_tree(|k| !k.starts_with(".chartroom/")).await.unwrap() {
            let (folder, file) = o.file.rsplit_once('/').unwrap_or(("", &o.file));
            let bytes = self.storage.scoped(folder).unwrap().read(file).await.unwrap().to_vec();
            out.push((o.file, bytes));
        }
        out
    }

    /// Storage, the served index and the chart API, to show that a refusal changed nothing.
    async fn everything(&self) -> (Vec<(String, Vec<u8>)>, String, String) {
        (self.stored().await, self.get("/index.yaml").await.1, self.get("/api/charts").await.1)
    }
}

fn error_of(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["error"].as_str().unwrap_or_else(|| panic!("no error in {body}")).to_owned()
}

/// A refused upload: what it is, its form parts, how the error begins.
type Refusal<'a> = (&'a str, Vec<(&'a str, &'a [u8])>, &'a str);

#[tokio::test]
async fn required_refuses_unsigned_and_unverified_charts_with_the_failed_check() {
    let app = test_app(policy("required")).await;
    let before = app.everything().await;
    // Other bytes than the signed ones, under the signed name and version.
    let other_bytes = chart("signtest", "0.1.0", "not the signed bytes");
    // The signed provenance file, for another version of the chart.
    let other_version = chart("signtest", "0.2.0", "another version");
    // The signed text changed: the signature no longer matches it.
    let tampered = String::from_utf8(signtest_prov()).unwrap().replace("name: signtest", "name: signtesT").into_bytes();
    let (signed, prov) = (signtest(), signtest_prov());
    let cases: [Refusal; 5] = [
        (
            "without a provenance file",
            vec![("chart", &signed)],
            "a provenance file is required: upload signtest-0.1.0.tgz.prov with the chart (multipart field \"prov\")",
        ),
        (
            "tampered chart",
            vec![("chart", &other_bytes), ("prov", &prov)],
            "sha256 sum does not match for signtest-0.1.0.tgz: the provenance file says sha256:e5ef611620fb97704d8751c16bab17fedb68883bfb0edc76f78a70e9173f9b55",
        ),
        (
            "another version's provenance file",
            vec![("chart", &other_version), ("prov", &prov)],
            "provenance is for signtest version 0.1.0, not version 0.2.0",
        ),
        (
            "tampered provenance file",
            vec![("chart", &signed), ("prov", &tampered)],
            "bad provenance signature by key 843BBF981FC18762",
        ),
        ("not a provenance file", vec![("chart", &signed), ("prov", b"hello")], "invalid provenance file"),
    ];
    for (what, parts, message) in cases {
        let (status, body) = app.upload_parts("", &parts).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert!(error_of(&body).starts_with(message), "{what}: {body}");
        assert_eq!(app.everything().await, before, "{what}: storage, index and API unchanged");
    }
    // A raw upload (no form) has no provenance file either.
    let (status, body) = app.request(Method::POST, "/api/charts", signtest()).await;
    assert_eq!((status, error_of(&body).starts_with("a provenance file is required")), (StatusCode::BAD_REQUEST, true));
    assert_eq!(app.everything().await, before);

    let (status, body) = app.upload_parts("", &[("chart", &signtest()), ("prov", &signtest_prov())]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(app.stored().await.len(), 2);
}

#[tokio::test]
async fn the_chart_api_shows_who_signed_and_the_index_gains_nothing() {
    let app = test_app(policy("if-present")).await;
    assert_eq!(
        app.upload_parts("", &[("chart", &signtest()), ("prov", &signtest_prov())]).await.0,
        StatusCode::CREATED
    );
    // `if-present`: a chart without a provenance file is welcome, and shows none.
    assert_eq!(
        app.request(Method::POST, "/api/charts", chart("plain", "1.0.0", "unsigned")).await.0,
        StatusCode::CREATED
    );

    let (status, body) = app.get("/api/charts/signtest/0.1.0").await;
    assert_eq!(status, StatusCode::OK);
    let version: Value = serde_json::from_str(&body).unwrap();
    let provenance = &version["provenance"];
    assert_eq!(provenance["verified"], true, "{body}");
    assert_eq!(provenance["signer"], HELM_USER_ID);
    assert_eq!(provenance["fingerprint"], HELM_FINGERPRINT);
    assert_eq!(provenance["keyId"], "843BBF981FC18762");
    let signed_at = provenance["signedAt"].as_str().unwrap();
    assert!(signed_at.parse::<jiff::Timestamp>().is_ok(), "{signed_at}");
    // Helm's fields come first, unchanged; Chartroom's object is the last one.
    assert!(body.starts_with(r#"{"name":"signtest","#) && body.ends_with("}}"), "{body}");
    assert_eq!(version["digest"], "e5ef611620fb97704d8751c16bab17fedb68883bfb0edc76f78a70e9173f9b55");

    let (_, list) = app.get("/api/charts").await;
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["signtest"][0]["provenance"], *provenance);
    assert!(list["plain"][0].get("provenance").is_none(), "no provenance file, no field: {list}");
    let (_, versions) = app.get("/api/charts/signtest").await;
    assert_eq!(serde_json::from_str::<Value>(&versions).unwrap()[0]["provenance"], *provenance);

    let (_, index) = app.get("/index.yaml").await;
    assert!(!index.contains("provenance") && !index.contains(HELM_FINGERPRINT), "{index}");
}

#[tokio::test]
async fn a_provenance_file_alone_is_verified_against_the_chart_it_names() {
    let app = test_app(policy("required")).await;
    let post_prov = |body: Vec<u8>| app.request(Method::POST, "/api/prov", body);
    // Before its chart (ChartMuseum accepts that order): signature and key now ...
    let tampered = String::from_utf8(signtest_prov()).unwrap().replace("A Helm chart", "A forged chart").into_bytes();
    let (status, body) = post_prov(tampered).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&body).starts_with("bad provenance signature by key 843BBF981FC18762"), "{body}");
    assert!(app.stored().await.is_empty());
    assert_eq!(post_prov(signtest_prov()).await.0, StatusCode::CREATED);
    // ... the digest when the chart arrives: other bytes are refused, and leave the file alone.
    let (status, body) = app.request(Method::POST, "/api/charts", chart("signtest", "0.1.0", "other")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_of(&body).starts_with(
            "the provenance file stored for this version (signtest-0.1.0.tgz.prov) does not verify for this chart: sha256 sum does not match"
        ),
        "{body}"
    );
    assert_eq!(app.stored().await, [("signtest-0.1.0.tgz.prov".to_owned(), signtest_prov())]);
    // The signed bytes, alone: verified with the stored file.
    assert_eq!(app.request(Method::POST, "/api/charts", signtest()).await.0, StatusCode::CREATED);
    let (_, body) = app.get("/api/charts/signtest/0.1.0").await;
    assert!(body.contains(r#""provenance":{"verified":true"#), "{body}");
}

#[tokio::test]
async fn off_keeps_todays_behaviour_and_reports_need_a_keyring() {
    let app = test_app(ArgValues::default()).await;
    // Unsigned charts and unverifiable provenance files are taken as before.
    assert_eq!(app.request(Method::POST, "/api/charts", chart("plain", "1.0.0", "x")).await.0, StatusCode::CREATED);
    assert_eq!(
        app.upload_parts("", &[("chart", &signtest()), ("prov", &signtest_prov())]).await.0,
        StatusCode::CREATED
    );
    // Without a keyring the API shows what it always showed: Helm's fields only.
    let (_, body) = app.get("/api/charts/signtest/0.1.0").await;
    assert!(!body.contains("provenance"), "{body}");
    // With a keyring (and still `off`), a provenance file is shown, present and not verified.
    let with_keyring = test_app(policy("off")).await;
    let parts = [("chart", &signtest()[..]), ("prov", &signtest_prov()[..])];
    assert_eq!(with_keyring.upload_parts("", &parts).await.0, StatusCode::CREATED);
    let (_, body) = with_keyring.get("/api/charts/signtest/0.1.0").await;
    assert!(body.ends_with(r#","provenance":{"verified":false}}"#), "present, not verified: {body}");
    let (status, body) = app.request(Method::POST, "/api/provenance/verify", vec![]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&body), "no trusted keyring is configured: start the server with --provenance-keyring");
}

#[tokio::test]
async fn the_verification_report_lists_what_does_not_verify_and_changes_nothing() {
    let app = test_app(policy("off")).await;
    assert_eq!(
        app.upload_parts("", &[("chart", &signtest()), ("prov", &signtest_prov())]).await.0,
        StatusCode::CREATED
    );
    assert_eq!(app.request(Method::POST, "/api/charts", chart("plain", "1.0.0", "x")).await.0, StatusCode::CREATED);
    let (status, body) = app.request(Method::POST, "/api/provenance/verify", vec![]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        report,
        serde_json::json!({
            "policy": "off", "versions": 2, "checked": 1, "verified": 1, "failed": [],
            "unsigned": [{"name": "plain", "version": "1.0.0"}],
        })
    );
    // The provenance file changed behind the server's back: reported, nothing changed.
    let before = app.everything().await;
    let tampered = String::from_utf8(signtest_prov()).unwrap().replace("name: signtest", "name: signtesT");
    app.storage.put_replace("signtest-0.1.0.tgz.prov", tampered.into()).await.unwrap();
    let (_, body) = app.request(Method::POST, "/api/provenance/verify", vec![]).await;
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((report["checked"].as_u64(), report["verified"].as_u64()), (Some(1), Some(0)), "{body}");
    let failed = &report["failed"][0];
    assert_eq!((failed["name"].as_str(), failed["version"].as_str()), (Some("signtest"), Some("0.1.0")));
    assert!(
        failed["error"].as_str().unwrap().starts_with("bad provenance signature by key 843BBF981FC18762"),
        "{body}"
    );
    let after = app.everything().await;
    assert_eq!((after.1, after.2), (before.1, before.2), "index and API unchanged");
}

#[tokio::test]
async fn each_tenant_is_held_to_its_own_policy() {
    // The root's policy (`if-present`) for every tenant without its own.
    let args =
        policy("if-present").with(&options::DEPTH, "1").with(&options::PROVENANCE_TENANT, "team-a=required,team-b=off");
    let app = test_app(args).await;
    let bad_prov: &[u8] = b"not a provenance file";
    let tampered = String::from_utf8(signtest_prov()).unwrap().replace("A Helm chart", "A forged chart").into_bytes();

    // Multipart and raw uploads, and provenance files alone, each under its tenant's policy.
    let (status, body) = app.upload_parts_to("/api/team-a/charts", &[("chart", &signtest())]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body).starts_with("a provenance file is required"), "{body}");
    let (status, body) = app.request(Method::POST, "/api/team-a/charts", signtest()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body).starts_with("a provenance file is required"), "{body}");
    let (status, body) = app.request(Method::POST, "/api/team-a/prov", tampered.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body).starts_with("bad provenance signature by key 843BBF981FC18762"), "{body}");
    let (status, body) = app.upload_parts_to("/api/team-c/charts", &[("chart", &signtest()), ("prov", bad_prov)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body).starts_with("invalid provenance file"), "{body}");
    let (status, body) = app.request(Method::POST, "/api/team-c/prov", tampered.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(app.stored().await.is_empty(), "nothing stored");

    // What each policy takes.
    assert_eq!(app.request(Method::POST, "/api/team-c/charts", signtest()).await.0, StatusCode::CREATED);
    let plain = chart("plain", "1.0.0", "x");
    assert_eq!(app.request(Method::POST, "/api/team-b/charts", plain).await.0, StatusCode::CREATED);
    // `off` checks no signature: a provenance file for a chart not stored is kept as sent.
    assert_eq!(app.request(Method::POST, "/api/team-b/prov", tampered).await.0, StatusCode::CREATED);
    let parts = [("chart", &signtest()[..]), ("prov", &signtest_prov()[..])];
    assert_eq!(app.upload_parts_to("/api/team-a/charts", &parts).await.0, StatusCode::CREATED);
    let files: Vec<String> = app.stored().await.into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        files,
        [
            "team-a/signtest-0.1.0.tgz",
            "team-a/signtest-0.1.0.tgz.prov",
            "team-b/plain-1.0.0.tgz",
            "team-b/signtest-0.1.0.tgz.prov",
            "team-c/signtest-0.1.0.tgz"
        ]
    );
    let (_, shown) = app.get("/api/team-a/charts/signtest/0.1.0").await;
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["provenance"]["verified"], true, "{shown}");
    assert_eq!(shown["provenance"]["fingerprint"], HELM_FINGERPRINT, "{shown}");

    // Each tenant's report, under its policy; at depth 1 the bare path is no route.
    for (tenant, policy, checked, unsigned) in
        [("team-a", "required", 1, 0), ("team-b", "off", 0, 1), ("team-c", "if-present", 0, 1)]
    {
        let (status, body) = app.request(Method::POST, &format!("/api/{tenant}/provenance/verify"), vec![]).await;
        assert_eq!(status, StatusCode::OK, "{tenant}: {body}");
        let report: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(report["policy"], policy, "{tenant}: {body}");
        assert_eq!(report["checked"], checked, "{tenant}: {body}");
        assert_eq!(report["unsigned"].as_array().map(Vec::len), Some(unsigned), "{tenant}: {body}");
    }
    assert_eq!(app.request(Method::POST, "/api/provenance/verify", vec![]).await.0, StatusCode::NOT_FOUND);
}

/// The web catalogue's chart page names the signer of a verified provenance file (escaped), in
/// the header and in the versions list.
#[tokio::test]
async fn the_chart_page_names_the_verified_signer() {
    let app = test_app(policy("if-present")).await;
    let (status, _) = app.upload_parts("", &[("chart", &signtest()), ("prov", &signtest_prov())]).await;
    assert_eq!(status, StatusCode::CREATED);
    let r = app.send_with(Method::GET, "/ui/charts/signtest", &[("accept", "text/html")], Vec::new()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = body_text(r).await;
    let escaped = HELM_USER_ID.replace('<', "&lt;").replace('>', "&gt;");
    assert!(html.contains(&format!("<span class=\"badge ok\">Signed by {escaped}</span>")), "{html}");
    assert!(html.contains(&format!("<span class=\"badge small ok\" title=\"{escaped}\">signed</span>")), "{html}");
}
