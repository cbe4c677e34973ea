//! `--index-format auto|yaml|json`: which body `/index.yaml` gives which client, and the
//! validators of each representation (`Vary`, ETag, 304, HEAD, gzip).

use axum::http::HeaderMap;

use super::*;

const HELM3: &str = "Helm/3.17.2";
const HELM4: &str = "Helm/4.1.4";
const OLD_HELM: &str = "Helm/3.12.3";
const CURL: &str = "curl/8.5.0";

async fn format_app(format: &str) -> TestApp {
    let app = test_app(ArgValues::new().with(&options::INDEX_FORMAT, format)).await;
    for (name, version) in [("b", "1.0.0"), ("a", "2.0.0"), ("a", "1.0.0")] {
        let r = app.send(Method::POST, "/api/charts", chart(name, version, "x")).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    app
}

/// A request for the index with these headers (a missing `User-Agent` is left out).
async fn index(app: &TestApp, method: Method, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
    let r = app.send_with(method, "/index.yaml", headers, Vec::new()).await;
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.into_body().collect().await.unwrap().to_bytes().to_vec())
}

fn header(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers.get(&name).map(|v| v.to_str().unwrap()).unwrap_or_default()
}

fn is_json(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok()
}

/// The versions a body lists (YAML or JSON), as `name version` lines in body order.
fn versions(body: &[u8]) -> Vec<String> {
    let index: serde_json::Value =
        if is_json(body) { serde_json::from_slice(body).unwrap() } else { serde_saphyr::from_slice(body).unwrap() };
    let mut out = Vec::new();
    for (name, list) in index["entries"].as_object().unwrap() {
        for v in list.as_array().unwrap() {
            out.push(format!("{name} {} {}", v["version"].as_str().unwrap(), v["digest"].as_str().unwrap()));
        }
    }
    out
}

#[tokio::test]
async fn auto_gives_json_to_helm_that_reads_it_and_yaml_to_every_other_client() {
    let app = format_app("auto").await;
    let (_, helm3, json) = index(&app, Method::GET, &[("user-agent", HELM3)]).await;
    let (_, helm4, json4) = index(&app, Method::GET, &[("user-agent", HELM4)]).await;
    assert!(
        is_json(&json) && json.starts_with(b"{\"apiVersion\":\"v1\",\"generated\":"),
        "{}",
        String::from_utf8_lossy(&json)
    );
    assert_eq!(json4, json);
    assert_eq!(header(&helm3, header::ETAG), header(&helm4, header::ETAG));
    let mut etags = vec![header(&helm3, header::ETAG).to_owned()];
    for ua in [Some(CURL), Some(OLD_HELM), Some("Mozilla/5.0"), None] {
        let headers: Vec<(&str, &str)> = ua.map(|ua| ("user-agent", ua)).into_iter().collect();
        let (status, h, yaml) = index(&app, Method::GET, &headers).await;
        assert_eq!(status, StatusCode::OK);
        assert!(yaml.starts_with(b"apiVersion: v1\nentries:\n"), "{ua:?}: {}", String::from_utf8_lossy(&yaml));
        assert_eq!(versions(&yaml), versions(&json), "{ua:?}: the same versions in both bodies");
        etags.push(header(&h, header::ETAG).to_owned());
        assert_eq!(header(&h, header::CONTENT_TYPE), header(&helm3, header::CONTENT_TYPE));
    }
    etags.dedup();
    assert_eq!(etags.len(), 2, "one ETag per representation: {etags:?}");
    for h in [&helm3, &helm4] {
        assert_eq!(header(h, header::VARY), "Accept-Encoding, User-Agent");
        assert_eq!(header(h, header::CONTENT_LENGTH), json.len().to_string());
    }
    let (_, curl, _) = index(&app, Method::GET, &[("user-agent", CURL)]).await;
    assert_eq!(header(&curl, header::VARY), "Accept-Encoding, User-Agent", "the YAML varies too");
}

#[tokio::test]
async fn each_representation_matches_only_its_own_validators() {
    let app = format_app("auto").await;
    let (_, helm, json) = index(&app, Method::GET, &[("user-agent", HELM3)]).await;
    let (_, curl, yaml) = index(&app, Method::GET, &[("user-agent", CURL)]).await;
    let (json_etag, yaml_etag) = (header(&helm, header::ETAG), header(&curl, header::ETAG));
    assert_ne!(json_etag, yaml_etag);
    // HEAD: the GET's headers, no body, per representation.
    for (ua, etag, body) in [(HELM3, json_etag, &json), (CURL, yaml_etag, &yaml)] {
        let (status, h, empty) = index(&app, Method::HEAD, &[("user-agent", ua)]).await;
        assert_eq!((status, header(&h, header::ETAG)), (StatusCode::OK, etag), "{ua}");
        assert_eq!(header(&h, header::CONTENT_LENGTH), body.len().to_string(), "{ua}");
        assert!(empty.is_empty());
    }
    // If-None-Match: 304 only for the representation's own ETag.
    for (ua, own, other) in [(HELM3, json_etag, yaml_etag), (CURL, yaml_etag, json_etag), (HELM4, json_etag, yaml_etag)]
    {
        let (status, h, body) = index(&app, Method::GET, &[("user-agent", ua), ("if-none-match", own)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{ua} with its own ETag");
        assert_eq!(header(&h, header::ETAG), own);
        assert!(body.is_empty());
        let (status, h, body) = index(&app, Method::GET, &[("user-agent", ua), ("if-none-match", other)]).await;
        assert_eq!(status, StatusCode::OK, "{ua} with the other representation's ETag");
        assert_eq!(header(&h, header::ETAG), own);
        assert_eq!(is_json(&body), ua != CURL);
        let (status, ..) = index(&app, Method::HEAD, &[("user-agent", ua), ("if-none-match", other)]).await;
        assert_eq!(status, StatusCode::OK, "HEAD {ua} with the other representation's ETag");
    }
    // gzip, when asked (Helm never asks): each representation compressed, with its own ETag.
    let mut gz_etags = Vec::new();
    for (ua, plain) in [(HELM3, &json), (CURL, &yaml)] {
        let (status, h, gz) = index(&app, Method::GET, &[("user-agent", ua), ("accept-encoding", "gzip")]).await;
        assert_eq!((status, header(&h, header::CONTENT_ENCODING)), (StatusCode::OK, "gzip"));
        let mut unzipped = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut unzipped).unwrap();
        assert_eq!(&unzipped, plain, "{ua}");
        gz_etags.push(header(&h, header::ETAG).to_owned());
    }
    assert_ne!(gz_etags[0], gz_etags[1]);
    assert!(![json_etag, yaml_etag].contains(&gz_etags[0].as_str()));
    let (status, ..) =
        index(&app, Method::GET, &[("user-agent", CURL), ("accept-encoding", "gzip"), ("if-none-match", &gz_etags[0])])
            .await;
    assert_eq!(status, StatusCode::OK, "the JSON's gzip ETag does not match the YAML");
    let (status, ..) = index(
        &app,
        Method::GET,
        &[("user-agent", HELM3), ("accept-encoding", "gzip"), ("if-none-match", &gz_etags[0])],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    // A change changes both.
    app.send(Method::POST, "/api/charts", chart("c", "1.0.0", "x")).await;
    for (ua, old) in [(HELM3, json_etag), (CURL, yaml_etag)] {
        let (status, ..) = index(&app, Method::GET, &[("user-agent", ua), ("if-none-match", old)]).await;
        assert_eq!(status, StatusCode::OK, "{ua}: a change changes the ETag");
    }
}

#[tokio::test]
async fn yaml_and_json_give_every_client_the_same_body() {
    for (format, json) in [("yaml", false), ("json", true)] {
        let app = format_app(format).await;
        let mut seen = Vec::new();
        for ua in [HELM3, HELM4, OLD_HELM, CURL] {
            let (status, h, body) = index(&app, Method::GET, &[("user-agent", ua)]).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(is_json(&body), json, "{format} {ua}");
            assert_eq!(header(&h, header::VARY), "Accept-Encoding", "{format}: no Vary on User-Agent");
            seen.push((header(&h, header::ETAG).to_owned(), body));
        }
        seen.dedup();
        assert_eq!(seen.len(), 1, "{format}: one body and one ETag for every client");
    }
    // `yaml`'s body is `auto`'s YAML, byte for byte but for the times of the uploads and of the
    // body (the same index renders the same bytes: `auto_renders_the_yaml_and_the_json_bodies`).
    let without_generated = |body: Vec<u8>| {
        let text = String::from_utf8(body).unwrap();
        text.lines().filter(|l| !l.starts_with("generated:") && !l.contains("created:")).collect::<Vec<_>>().join("\n")
    };
    let (_, _, yaml) = index(&format_app("yaml").await, Method::GET, &[("user-agent", HELM3)]).await;
    let (_, _, auto) = index(&format_app("auto").await, Method::GET, &[("user-agent", CURL)]).await;
    assert_eq!(without_generated(yaml), without_generated(auto));
}

/// A tenant's index (`--depth 1`) follows the same rule.
#[tokio::test]
async fn tenants_index_follows_the_format() {
    let app = test_app(ArgValues::new().with(&options::DEPTH, "1")).await;
    let r = app.send(Method::POST, "/api/team/charts", chart("a", "1.0.0", "x")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let get = |ua: &'static str| {
        let app = &app;
        async move {
            let r = app.send_with(Method::GET, "/team/index.yaml", &[("user-agent", ua)], Vec::new()).await;
            assert_eq!(r.status(), StatusCode::OK);
            let vary = header(r.headers(), header::VARY).to_owned();
            (vary, r.into_body().collect().await.unwrap().to_bytes().to_vec())
        }
    };
    let (vary, json) = get(HELM4).await;
    assert!(is_json(&json) && vary.contains("User-Agent"));
    let (_, yaml) = get(CURL).await;
    assert!(!is_json(&yaml));
    assert_eq!(versions(&yaml), versions(&json));
}
