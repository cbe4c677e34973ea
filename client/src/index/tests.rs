use super::*;

const INDEX: &str = r#"apiVersion: v1
entries:
  web:
  - name: web
    version: 1.0.0
    appVersion: "1.0"
    description: The web chart
    urls: [charts/web-1.0.0.tgz]
    digest: abc
    created: "2024-01-01T00:00:00Z"
  - name: web
    version: 1.2.0-rc.1
    urls: [charts/web-1.2.0-rc.1.tgz]
  - name: web
    version: v1.1.0
    urls: [charts/web-1.1.0.tgz]
    unknownField: {a: 1}
  - name: web
    version: not-a-version
  - null
  db:
  - name: db
    version: 2.0.0-beta.1
    description: Database
  empty: []
generated: "2024-01-01T00:00:00Z"
serverInfo:
  contextPath: /ctx
"#;

fn index() -> RepoIndex {
    RepoIndex::parse(INDEX.as_bytes(), "repo").expect("parses")
}

#[test]
fn parses_yaml_like_helm() {
    let idx = index();
    let versions: Vec<&str> = idx.entries["web"].iter().map(|e| e.version.as_str()).collect();
    assert_eq!(versions, ["1.2.0-rc.1", "v1.1.0", "1.0.0"]);
    assert_eq!(idx.context_path.as_deref(), Some("/ctx"));
    let e = &idx.entries["web"][2];
    assert_eq!(e.app_version, "1.0");
    assert_eq!(e.digest, "abc");
    assert_eq!(e.urls, ["charts/web-1.0.0.tgz"]);
    assert_eq!(e.created.as_deref(), Some("2024-01-01T00:00:00Z"));
}

#[test]
fn parses_json_and_rejects_broken_indexes() {
    let json = br#"{"apiVersion":"v1","entries":{"a":[{"name":"a","version":"0.1.0","urls":["a-0.1.0.tgz"],"x":1}]},"generated":"2024-01-01T00:00:00Z"}"#;
    let idx = RepoIndex::parse(json, "j").expect("json");
    assert_eq!(idx.entries["a"][0].version, "0.1.0");
    for bad in [&b""[..], b"entries: {}\n", b"apiVersion: v1\nentries: [", b"\xff\xfe"] {
        assert_eq!(RepoIndex::parse(bad, "r").expect_err("bad").kind, ErrorKind::Other);
    }
}

#[test]
fn selects_with_helm_rules() {
    let idx = index();
    assert_eq!(idx.select("web", None, false).expect("latest").version, "v1.1.0");
    assert_eq!(idx.select("web", None, true).expect("devel").version, "1.2.0-rc.1");
    assert_eq!(idx.select("web", Some("1.1.0"), false).expect("semantic equality").version, "v1.1.0");
    assert_eq!(idx.select("web", Some("v1.1.0"), false).expect("exact").version, "v1.1.0");
    assert_eq!(idx.select("web", Some("~1.0"), true).expect("devel ignored").version, "1.0.0");
    assert_eq!(idx.select("web", Some(">=1.2.0-0"), false).expect("pre allowed").version, "1.2.0-rc.1");
    let e = idx.select("web", Some("^2"), false).expect_err("none");
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(e.message, "no version of web matches ^2 (available: 1.2.0-rc.1, v1.1.0, 1.0.0)");
    let e = idx.select("nope", None, false).expect_err("unknown");
    assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NotFound, "chart nope not found in repo"));
    assert_eq!(idx.select("empty", None, false).expect_err("empty").kind, ErrorKind::NotFound);
    let e = idx.select("db", None, false).expect_err("pre only");
    assert!(e.message.contains("use --devel"), "{}", e.message);
    assert_eq!(idx.select("web", Some(">>1"), false).expect_err("bad").kind, ErrorKind::Usage);
}

#[test]
fn searches_like_helm() {
    let idx = index();
    let names =
        |hits: Vec<SearchHit>| hits.into_iter().map(|h| format!("{} {}", h.name, h.version)).collect::<Vec<_>>();
    assert_eq!(names(idx.search(Some("r"), None, false, None, false).expect("all")), ["r/web v1.1.0"]);
    assert_eq!(names(idx.search(None, None, false, None, true).expect("devel")), ["db 2.0.0-beta.1", "web 1.2.0-rc.1"]);
    assert_eq!(names(idx.search(None, Some("WEB"), true, None, false).expect("versions")), ["web v1.1.0", "web 1.0.0"]);
    assert_eq!(names(idx.search(None, Some("datab"), false, None, true).expect("description")), ["db 2.0.0-beta.1"]);
    assert_eq!(names(idx.search(None, None, true, Some("<1.1"), false).expect("constraint")), ["web 1.0.0"]);
    assert!(idx.search(None, Some("zzz"), true, None, true).expect("none").is_empty());
    let table = format_table(&idx.search(Some("r"), None, true, None, false).expect("rows"));
    assert_eq!(
        table,
        "NAME \tCHART VERSION\tAPP VERSION\tDESCRIPTION\nr/web\tv1.1.0       \t           \t\nr/web\t1.0.0        \t1.0        \tThe web chart\n"
    );
    assert_eq!(format_table(&[]), "No results found\n");
    assert_eq!(format_json(&[]), "[]");
}

/// A one-connection-at-a-time HTTP server: answers each request with `respond(request
/// head)` and records the heads.
async fn tiny_server(respond: fn(&str) -> String) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf).to_lowercase();
            log.lock().expect("lock").push(head.clone());
            let _ = sock.write_all(respond(&head).as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (url, seen)
}

fn client_in(dir: &std::path::Path) -> Client {
    Client::new(HelmEnv { repository_config: dir.join("repositories.yaml"), repository_cache: dir.join("cache") })
        .expect("client")
}

#[tokio::test]
async fn fetch_index_sends_credentials_and_revalidates_with_the_etag() {
    fn respond(head: &str) -> String {
        const BODY: &str = "apiVersion: v1\nentries:\n  a:\n  - {name: a, version: 1.0.0}\n";
        // "alice:pw" in base64.
        if !head.contains("authorization: basic ywxpy2u6chc=") {
            return "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into();
        }
        if head.contains("if-none-match: \"v1\"") {
            return "HTTP/1.1 304 Not Modified\r\netag: \"v1\"\r\nconnection: close\r\n\r\n".into();
        }
        format!("HTTP/1.1 200 OK\r\netag: \"v1\"\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}", BODY.len())
    }
    let (url, seen) = tiny_server(respond).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let client = client_in(dir.path());

    let anonymous = Repository::from_url(&url).expect("repo");
    let e = client.fetch_index(&anonymous).await.expect_err("401");
    assert_eq!((e.kind, e.message.contains("no credentials sent")), (ErrorKind::Auth, true), "{}", e.message);
    let wrong = Repository::from_url(&url.replace("http://", "http://bob:nope@")).expect("repo");
    let e = client.fetch_index(&wrong).await.expect_err("401");
    assert!(e.kind == ErrorKind::Auth && e.message.contains("\"bob\""), "{}", e.message);

    let repo = Repository::from_url(&url.replace("http://", "http://alice:pw@")).expect("repo");
    let first = client.fetch_index(&repo).await.expect("200");
    let second = client.fetch_index(&repo).await.expect("304 reuses the cache");
    assert_eq!(first.entries["a"], second.entries["a"]);
    let heads = seen.lock().expect("lock").clone();
    assert_eq!(heads.len(), 4);
    assert!(heads.iter().all(|h| h.contains("user-agent: chartroom/") && !h.contains("accept-encoding")));
    assert!(!heads[2].contains("if-none-match") && heads[3].contains("if-none-match: \"v1\""));
}

#[tokio::test]
async fn fetch_index_maps_statuses_to_error_kinds() {
    fn respond(head: &str) -> String {
        let status = if head.starts_with("get /missing/") { "404 Not Found" } else { "503 Service Unavailable" };
        format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    }
    let (url, _) = tiny_server(respond).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let client = client_in(dir.path());
    let e = client.fetch_index(&Repository::from_url(&format!("{url}/missing")).expect("repo")).await.expect_err("404");
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(e.message, format!("{url}/missing/index.yaml not found: is this a chart repository?"));
    let e = client.fetch_index(&Repository::from_url(&url).expect("repo")).await.expect_err("503");
    assert_eq!(e.kind, ErrorKind::Network);
    assert!(e.message.contains("503"), "{}", e.message);
}

/// grafana's pyroscope description, as `helm search repo` shows it: the emoji takes two columns.
#[test]
fn table_cells_are_cut_by_terminal_columns() {
    let hit = |description: &str| SearchHit {
        name: "g/pyroscope".into(),
        version: "1.3.1".into(),
        app_version: "1.2.1".into(),
        description: description.into(),
    };
    let table = format_table(&[hit(
        "🔥 horizontally-scalable, highly-available, multi-tenant continuous profiling aggregation system",
    )]);
    assert_eq!(
        table.lines().nth(1),
        Some("g/pyroscope\t1.3.1        \t1.2.1      \t🔥 horizontally-scalable, highly-available, mul...")
    );
    // A wide character that reaches the limit is kept, so the cell may take 51 columns.
    assert_eq!(cut(&"界".repeat(30), 50), format!("{}...", "界".repeat(24)));
    assert_eq!(cut(&"a".repeat(50), 50), "a".repeat(50));
    assert_eq!(cut(&"a".repeat(51), 50), format!("{}...", "a".repeat(47)));
    // Padding counts columns too.
    let table = format_table(&[hit("x"), SearchHit { name: "g/界界".into(), ..hit("y") }]);
    assert!(table.contains("\ng/界界     \t"), "{table}");
}

#[test]
fn a_version_listed_twice() {
    let text = "apiVersion: v1\nentries:\n  app:\n  - {name: app, version: 1.0.0, description: first, urls: [a/app-1.0.0.tgz]}\n  - {name: app, version: 2.0.0, description: two, urls: [app-2.0.0.tgz]}\n  - {name: app, version: 1.0.0, description: second, urls: [b/app-1.0.0.tgz]}\n";
    let idx = RepoIndex::parse(text.as_bytes(), "r").expect("parses");
    let order: Vec<(&str, &str)> =
        idx.entries["app"].iter().map(|e| (e.version.as_str(), e.description.as_str())).collect();
    // Up to 12 versions Go sorts by insertion: equal versions keep their order.
    assert_eq!(order, [("2.0.0", "two"), ("1.0.0", "first"), ("1.0.0", "second")]);
    // pull takes the first copy (Helm's IndexFile.Get) ...
    assert_eq!(idx.select("app", Some("1.0.0"), false).expect("exact").urls, ["a/app-1.0.0.tgz"]);
    // ... search shows the version once, filled from the last copy (Helm keys rows by version).
    let hits = idx.search(None, None, true, None, false).expect("search");
    let rows: Vec<(&str, &str)> = hits.iter().map(|h| (h.version.as_str(), h.description.as_str())).collect();
    assert_eq!(rows, [("2.0.0", "two"), ("1.0.0", "second")]);
    assert!(idx.search(None, Some("first"), true, None, false).expect("search").is_empty());
}

#[test]
fn skips_the_entries_helm_skips() {
    let text = "apiVersion: v1\nentries:\n  c:\n  - {name: c, version: 1.0.0}\n  - {name: c, version: 1.1.0, type: plugin}\n  - {name: a/c, version: 1.2.0}\n  - {name: c, version: 1.3.0, maintainers: [null]}\n  - {name: c, version: 1.4.0, dependencies: [null]}\n  - {name: c, version: 1.5.0, dependencies: [{name: d, alias: bad.alias}]}\n  - {name: c, version: 1.6.0, dependencies: [{name: d}, {name: d}]}\n  - {name: c, version: 1.7.0, type: library, maintainers: [{name: m}], dependencies: [{name: d, alias: ok_alias-1}]}\n  - {name: \"\\u200b\", version: 1.8.0}\n  - {name: \"\\t\", version: 1.9.0}\n";
    let idx = RepoIndex::parse(text.as_bytes(), "r").expect("parses");
    let versions: Vec<&str> = idx.entries["c"].iter().map(|e| e.version.as_str()).collect();
    // A repeated dependency name is skippable for Helm (JFrog strips aliases); a name of white
    // space is sanitized to " ", one of invisible characters to "".
    assert_eq!(versions, ["1.9.0", "1.7.0", "1.6.0", "1.0.0"]);
}

#[test]
fn auth_only_to_the_repository_origin() {
    let u = |s: &str| Url::parse(s).expect("url");
    assert!(same_origin("https://h/a", &u("https://h:443/a/c.tgz")));
    assert!(!same_origin("https://h/a", &u("http://h/a/c.tgz")));
    assert!(!same_origin("https://h/a", &u("https://cdn/a/c.tgz")));
    assert!(!same_origin("http://h:8080/a", &u("http://h:8081/a/c.tgz")));
}
