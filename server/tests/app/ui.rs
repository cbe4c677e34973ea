//! The web catalogue's pages as HTTP: `/` by `Accept`, search and pages on the server, the chart
//! page's README, values and schema, untrusted text escaped or sanitised, the security and cache
//! headers, `--disable-ui`, tenants and grants. What a browser does with them is in
//! `tests/e2e/ui.rs` (chromium).

use super::auth::{basic, secured};
use super::*;

const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn rich_chart(name: &str, version: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut b = ChartBuilder::new().file(
        "Chart.yaml",
        format!(
            "apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"9.9\"\ndescription: The {name} chart\n\
             keywords: [storage, kv-{name}]\nhome: https://example.com/{name}\n\
             maintainers:\n  - name: Ada\n    email: ada@example.com\n"
        ),
    );
    b = b.file("values.yaml", "# how many\nreplicas: 1\nimage:\n  tag: \"1.0\"\n");
    for (path, data) in extra {
        b = b.file(path, *data);
    }
    b.top_folder(name).build()
}

async fn page(app: &TestApp, uri: &str, auth: Option<&str>) -> Response {
    let mut headers = vec![("accept", HTML)];
    if let Some(a) = auth {
        headers.push(("authorization", a));
    }
    app.send_with(Method::GET, uri, &headers, Vec::new()).await
}

fn assert_page_headers(r: &Response) {
    let h = r.headers();
    assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'; script-src 'self'; style-src 'self';"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
}

#[tokio::test]
async fn browsers_get_the_catalogue_at_the_root_and_curl_keeps_the_text() {
    let app = test_app(ArgValues::default()).await;
    for name in ["alpha", "beta"] {
        assert_eq!(
            app.send(Method::POST, "/api/charts", rich_chart(name, "1.0.0", &[])).await.status(),
            StatusCode::CREATED
        );
    }
    let r = page(&app, "/", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_page_headers(&r);
    assert_eq!(r.headers()[header::VARY], "Accept, Accept-Encoding");
    let html = body_text(r).await;
    assert!(html.contains(r#"<a href="/ui/charts/alpha">alpha</a>"#), "{html}");
    assert!(html.contains("<label for=\"q\">Search</label>"), "{html}");
    assert!(html.contains("2 charts"), "{html}");

    // curl's `*/*` (and no Accept at all) keep the welcome text.
    for accept in [Some("*/*"), None] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        let r = app.send_with(Method::GET, "/", &headers, Vec::new()).await;
        assert_eq!(r.headers()[header::VARY], "Accept");
        let text = body_text(r).await;
        assert!(text.contains("A Helm chart repository serving 2 chart versions of 2 charts."), "{text}");
    }
}

#[tokio::test]
async fn disable_ui_removes_the_pages() {
    let app = test_app(ArgValues::new().with(&options::DISABLE_UI, "true")).await;
    app.send(Method::POST, "/api/charts", rich_chart("alpha", "1.0.0", &[])).await;
    let text = body_text(page(&app, "/", None).await).await;
    assert!(text.contains("A Helm chart repository serving"), "{text}");
    for path in ["/ui/", "/ui/charts/alpha"] {
        assert_eq!(page(&app, path, None).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn search_sort_and_pages_are_served() {
    let app = test_app(ArgValues::default()).await;
    for i in 0..55 {
        let r = app.send(Method::POST, "/api/charts", rich_chart(&format!("c{i:02}"), "1.0.0", &[])).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let first = body_text(page(&app, "/ui/", None).await).await;
    assert_eq!(first.matches("<li class=\"card\">").count(), 50, "{first}");
    assert!(first.contains(r#"<a rel="next" href="/ui/?page=2">"#), "{first}");
    let second = body_text(page(&app, "/ui/?page=2", None).await).await;
    assert_eq!(second.matches("<li class=\"card\">").count(), 5);
    assert!(second.contains(">c54</a>"), "{second}");
    // By keyword, by description, by name; the query stays in the box, escaped.
    for (q, hits) in [("kv-c07", 1), ("THE C1", 10), ("c5", 5), ("nothing-like-it", 0)] {
        let html = body_text(page(&app, &format!("/ui/?q={}", q.replace(' ', "+")), None).await).await;
        assert_eq!(html.matches("<li class=\"card\">").count(), hits, "{q}");
    }
    let html = body_text(page(&app, "/ui/?q=%22%3E%3Cscript%3E", None).await).await;
    assert!(html.contains(r#"value="&quot;&gt;&lt;script&gt;""#), "{html}");
    // Newest push first.
    app.send(Method::POST, "/api/charts", rich_chart("c03", "2.0.0", &[])).await;
    let html = body_text(page(&app, "/ui/?sort=pushed", None).await).await;
    let first_card = html.split("<li class=\"card\">").nth(1).unwrap();
    assert!(first_card.contains(">c03</a>") && first_card.contains("2.0.0"), "{first_card}");
    // The list follows every change after it was built: a deleted version's card goes back
    // to the one before, the other charts' cards stay.
    let r = app.send(Method::DELETE, "/api/charts/c03/2.0.0", Vec::new()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = body_text(page(&app, "/ui/?q=c03", None).await).await;
    assert!(html.contains(">c03</a>") && html.contains("1.0.0") && !html.contains("2.0.0"), "{html}");
    let html = body_text(page(&app, "/ui/?page=2", None).await).await;
    assert_eq!(html.matches("<li class=\"card\">").count(), 5, "{html}");
}

#[tokio::test]
async fn chart_page_shows_readme_values_schema_versions_and_commands() {
    let app = test_app(ArgValues::default()).await;
    let schema =
        r#"{"type":"object","properties":{"replicas":{"type":"integer","default":1,"description":"Pods to run"}}}"#;
    let readme = "# Demo\n\nInstall *me*.\n";
    for v in ["1.0.0", "1.1.0", "2.0.0-rc.1"] {
        let chart = rich_chart("demo", v, &[("README.md", readme), ("values.schema.json", schema)]);
        assert_eq!(app.send(Method::POST, "/api/charts", chart).await.status(), StatusCode::CREATED);
    }
    let with_dep = ChartBuilder::new()
        .file("Chart.yaml", "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n  - name: demo\n    version: ^1\n    repository: http://x/\n  - name: elsewhere\n    version: 1.0.0\n    repository: http://y/\n")
        .top_folder("app")
        .build();
    assert_eq!(app.send(Method::POST, "/api/charts", with_dep).await.status(), StatusCode::CREATED);

    let r = app.send_with(Method::GET, "/ui/charts/demo", &[("host", "charts.example:8080")], Vec::new()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_page_headers(&r);
    let html = body_text(r).await;
    // The newest stable version by default, the pre-release listed with its badge.
    assert!(html.contains("<h1>demo</h1>"), "{html}");
    assert!(html.contains("Version 1.1.0"), "{html}");
    assert!(html.contains("<h1>Demo</h1>\n<p>Install <em>me</em>.</p>"), "{html}");
    assert!(
        html.contains(r#"<span class="k">replicas</span><span class="p">:</span> <span class="n">1</span>"#),
        "{html}"
    );
    assert!(html.contains("<code>replicas</code>") && html.contains("Pods to run"), "{html}");
    assert!(html.contains("helm repo add chartroom http://charts.example:8080</code>"), "{html}");
    assert!(html.contains("helm install my-demo chartroom/demo --version 1.1.0</code>"), "{html}");
    assert!(html.contains("helm pull oci://charts.example:8080/demo --version 1.1.0 --plain-http</code>"), "{html}");
    assert!(html.contains(r#"<span class="badge small pre">pre-release</span>"#), "{html}");
    assert!(html.contains(r#"<a href="https://example.com/demo" rel="noopener nofollow">"#), "{html}");
    let newest = html.find(">2.0.0-rc.1</a>").unwrap();
    assert!(newest < html.find(">1.1.0</a>").unwrap() && newest < html.find(">1.0.0</a>").unwrap(), "newest first");

    let html = body_text(page(&app, "/ui/charts/demo?version=1.0.0", None).await).await;
    assert!(html.contains("Version 1.0.0") && html.contains("--version 1.0.0</code>"), "{html}");
    let html = body_text(page(&app, "/ui/charts/app", None).await).await;
    assert!(html.contains(r#"<a href="/ui/charts/demo">demo</a>"#), "a dependency that lives here is linked: {html}");
    assert!(html.contains("<li>elsewhere"), "{html}");
    assert!(html.contains("This chart has no README."), "{html}");

    for path in ["/ui/charts/demo?version=9.9.9", "/ui/charts/nope"] {
        let r = page(&app, path, None).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert_page_headers(&r);
        assert!(body_text(r).await.contains("not found"), "{path}");
    }
}

#[tokio::test]
async fn untrusted_chart_text_never_becomes_markup() {
    let app = test_app(ArgValues::default()).await;
    let readme = concat!(
        "<script>window.pwned=1</script>\n\n[x](javascript:window.pwned=2)\n\n",
        "<img src=x onerror=\"window.pwned=3\">\n\n```\n</code></pre><script>window.pwned=4</script>\n```\n\n",
        "<!-- --><script>window.pwned=5</script> -->\n",
    );
    let chart = ChartBuilder::new()
        .file(
            "Chart.yaml",
            "apiVersion: v2\nname: evil\nversion: 1.0.0\ndescription: \"<script>window.pwned=6</script><img src=x onerror=alert(1)>\"\n\
             home: \"javascript:window.pwned=7\"\nicon: \"https://evil.example/x.png\"\n",
        )
        .file("values.yaml", "a: </code></pre><script>window.pwned=8</script> # <img src=x onerror=y>\n")
        .file("README.md", readme)
        .top_folder("evil")
        .build();
    assert_eq!(app.send(Method::POST, "/api/charts", chart).await.status(), StatusCode::CREATED);
    for path in ["/ui/", "/ui/charts/evil", "/ui/?q=%3Cscript%3E"] {
        let html = body_text(page(&app, path, None).await).await;
        // The one script element is the embedded asset.
        assert_eq!(html.matches("<script").count(), 1, "{path}: {html}");
        assert!(html.contains("<script src=\"/ui/.assets/chartroom-"), "{path}");
        // Hostile text shows as text (`&lt;img … onerror=…&gt;`), never as elements or links.
        for bad in ["<img", "href=\"javascript", "evil.example", "<!--", "<b>"] {
            assert!(!html.contains(bad), "{bad} on {path}: {html}");
        }
    }
}

#[tokio::test]
async fn assets_are_hashed_immutable_and_compressed() {
    let app = test_app(ArgValues::default()).await;
    let html = body_text(page(&app, "/ui/", None).await).await;
    for (ext, content_type) in [("css", "text/css; charset=utf-8"), ("js", "text/javascript; charset=utf-8")] {
        let start = html.find("/ui/.assets/chartroom-").unwrap();
        let rest = &html[start..];
        let path = rest.split('"').find(|p| p.ends_with(&format!(".{ext}"))).map(str::to_owned);
        let path = path.unwrap_or_else(|| {
            html.split('"')
                .find(|p| p.starts_with("/ui/.assets/") && p.ends_with(&format!(".{ext}")))
                .unwrap()
                .to_owned()
        });
        let r = app.send_with(Method::GET, &path, &[("accept-encoding", "gzip")], Vec::new()).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()[header::CONTENT_TYPE], content_type);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
    assert_eq!(app.get("/ui/.assets/chartroom-0000000000000000.css").await.0, StatusCode::NOT_FOUND);
    // Pages are compressed too.
    let r = app.send_with(Method::GET, "/ui/", &[("accept", HTML), ("accept-encoding", "gzip")], Vec::new()).await;
    assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
}

#[tokio::test]
async fn pages_follow_tenants_and_grants() {
    // Depth 1: alice pulls everywhere, bob team-b, anonymous `public`.
    let s = secured(ArgValues::new()).await;
    let app = &s.app;
    let alice = basic("alice", "alice-pw");
    let bob = basic("bob", "bob-pw");
    for tenant in ["team-a", "team-b", "public"] {
        // Nobody may push to every tenant: straight through the repository's write path.
        let chart = rich_chart(&format!("{}-chart", tenant.replace('-', "")), "1.0.0", &[]);
        app.repo.publish(&Tenant::parse(tenant).unwrap(), bytes::Bytes::from(chart), None, false).await.unwrap();
    }
    // The repositories a visitor may read.
    let list = body_text(page(app, "/", Some(&bob)).await).await;
    assert!(list.contains(r#"<a href="/ui/team-b/">team-b</a>"#), "{list}");
    assert!(!list.contains("team-a"), "{list}");
    let list = body_text(page(app, "/", Some(&alice)).await).await;
    assert!(list.contains("/ui/team-a/") && list.contains("/ui/team-b/") && list.contains("/ui/public/"), "{list}");
    let list = body_text(page(app, "/", None).await).await;
    assert!(list.contains("/ui/public/") && !list.contains("team-b"), "{list}");

    // Catalogue and chart pages need pull on their tenant: 401 with the Basic challenge, 403.
    let r = page(app, "/ui/team-b/", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().starts_with("Basic"), "{:?}", r.headers());
    assert_eq!(page(app, "/ui/team-b/charts/teamb-chart", None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(page(app, "/ui/team-a/", Some(&bob)).await.status(), StatusCode::FORBIDDEN);
    let html = body_text(page(app, "/ui/team-b/", Some(&bob)).await).await;
    assert!(html.contains(r#"<a href="/ui/team-b/charts/teamb-chart">teamb-chart</a>"#), "{html}");
    assert!(html.contains(r#"<a href="/">Repositories</a>"#), "breadcrumbs: {html}");
    let html = body_text(page(app, "/ui/team-b/charts/teamb-chart", Some(&bob)).await).await;
    assert!(html.contains("helm repo add team-b http://"), "{html}");
    assert!(html.contains("/team-b</code>"), "{html}");
    assert!(html.contains(r#"<a href="/ui/team-b/">team-b</a>"#), "{html}");
    assert_eq!(page(app, "/ui/public/", None).await.status(), StatusCode::OK);
}
