//! The web catalogue in a real browser: Debian's chromium, headless, driven by playwright-core
//! (`tests/ui/catalogue.mjs`, run with node); axe-core checks accessibility inside each page.
//! The script prints a JSON report and exits 1 when a check failed; these tests start the
//! server, seed it, run the script with a plan and assert on the report. Screenshots (light and
//! dark, desktop and phone, every page type) go to `target/ui-screenshots/` (README, "Web
//! catalogue"). A missing chromium, node or npm package fails the test.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::*;

fn chart(name: &str, version: &str, readme: &str) -> Vec<u8> {
    ChartBuilder::chart(name, version)
        .file(
            "Chart.yaml",
            format!(
                "apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"2.4\"\n\
                 description: The {name} service, packaged for Kubernetes\nkeywords: [web, {name}]\n\
                 home: https://example.com/{name}\nmaintainers:\n  - name: Platform team\n    email: platform@example.com\n"
            ),
        )
        .file("README.md", readme)
        .file(
            "values.schema.json",
            r#"{"type":"object","properties":{"replicaCount":{"type":"integer","default":1,"description":"Pods to run"}}}"#,
        )
        .build()
}

fn readme(name: &str) -> String {
    format!(
        "# {name} guide\n\nDeploys **{name}**.\n\n## Parameters\n\n| Name | Default |\n|---|---|\n| `replicaCount` | `1` |\n\n\
         ```console\nhelm install my-{name} chartroom/{name}\n```\n"
    )
}

fn screenshots() -> PathBuf {
    workspace_dir().join("target/ui-screenshots")
}

/// Runs the browser script with `plan`; returns its report, failing the test with the report
/// when a check failed.
fn browse(plan: Value) -> Value {
    let tools = ui_test_tools();
    let chromium = chromium_binary();
    let dir = tempfile::tempdir().expect("tempdir");
    let plan_file = dir.path().join("plan.json");
    std::fs::write(&plan_file, plan.to_string()).expect("write plan");
    let node = std::env::var_os("CHARTROOM_NODE").unwrap_or_else(|| "node".into());
    let out = Command::new(&node)
        .arg(workspace_dir().join("tests/ui/catalogue.mjs"))
        .arg(&plan_file)
        .env("CHARTROOM_UI_TOOLS", &tools)
        .env("CHARTROOM_CHROMIUM", &chromium)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({node:?}; needed by the browser tests): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no report from the browser script ({}):\n{stdout}\n{stderr}", out.status));
    assert!(
        out.status.success() && report["failures"].as_array().is_some_and(Vec::is_empty),
        "browser checks failed ({}):\n{:#}\n{stderr}",
        out.status,
        report["failures"]
    );
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_of_fifty_charts_in_chromium() {
    let server = Server::start(&[]).await;
    for i in 0..50 {
        let name = format!("app-{i:02}");
        server.upload_ok(chart(&name, "1.0.0", &readme(&name))).await;
    }
    server.upload_ok(chart("app-07", "1.1.0", &readme("app-07"))).await;
    let report = browse(json!({
        "label": "catalogue",
        "mode": "catalogue",
        "base": server.url(""),
        "charts": 50,
        "search": { "text": "app-1", "expect": 10 },
        "chart": { "name": "app-07", "readmeHeading": "app-07 guide", "switchTo": "1.0.0" },
        "screenshots": screenshots(),
    }));
    // The first copy button copies `helm repo add` for this server's address.
    assert_eq!(report["clipboard"], json!(format!("helm repo add chartroom {}", server.url(""))), "{report:#}");
    assert_eq!(report["screenshots"].as_array().map(Vec::len), Some(8), "{report:#}");
    shown_commands_work("/ui/charts/app-07", "app-07", "1.1.0", &server).await;
}

/// The commands a chart page shows, run as shown by real Helm 3 and 4 (`helm install` needs a
/// cluster: it is run as `helm template` with the same arguments, which resolves the same chart).
async fn shown_commands_work(page: &str, chart: &str, version: &str, server: &Server) {
    let html = server.get_with(page, &[("accept", "text/html")]).await.text();
    let commands: Vec<String> = html
        .split("<code id=\"cmd-")
        .skip(1)
        .filter_map(|rest| rest.split_once('>').and_then(|(_, code)| code.split("</code>").next()))
        .map(str::to_owned)
        .collect();
    assert_eq!(commands.len(), 3, "repo add, install, OCI pull: {commands:?}");
    for version_of_helm in BOTH_HELMS {
        let helm = Helm::new(version_of_helm);
        let dir = helm.work_dir("shown");
        for command in &commands {
            let mut args: Vec<&str> = command.split_whitespace().skip(1).collect();
            if args[0] == "install" {
                args[0] = "template";
            }
            // Success is the check: Helm found and read this chart version as the command names it.
            helm.run_in(Some(&dir), &args);
        }
        assert!(dir.join(format!("{chart}-{version}.tgz")).is_file(), "{}: the OCI pull saved the chart", helm.label());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_with_auth_in_chromium() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "users:\n  admin: \"{admin}\"\n  viewer: \"{viewer}\"\ngrants:\n\
         \x20 - to: [admin]\n    tenants: [\"*\"]\n    actions: [pull, push]\n\
         \x20 - to: [viewer]\n    tenants: [team-a, team-b]\n    actions: [pull]\n",
        admin = bcrypt_hash("admin-pw"),
        viewer = bcrypt_hash("viewer-pw"),
    );
    let auth = dir.path().join("auth.yaml");
    std::fs::write(&auth, config).expect("write auth config");
    let server = Server::start(&["--depth", "1", "--auth-config", auth.to_str().expect("UTF-8")]).await;
    let admin = basic("admin", "admin-pw");
    for (tenant, charts) in [("team-a", 12), ("team-b", 3), ("secret", 2)] {
        for i in 0..charts {
            let name = format!("{tenant}-app-{i:02}");
            let r = server
                .request_as(
                    reqwest::Method::POST,
                    &format!("/api/{tenant}/charts"),
                    Some(&admin),
                    Some(chart(&name, "1.0.0", &readme(&name))),
                )
                .await;
            r.assert_status(201);
        }
    }
    server
        .request_as(
            reqwest::Method::POST,
            "/api/team-a/charts",
            Some(&admin),
            Some(chart("team-a-app-03", "0.9.0", &readme("team-a-app-03"))),
        )
        .await
        .assert_status(201);
    // A browser without credentials gets the Basic challenge.
    let r = server.get_with("/ui/team-a/", &[("accept", "text/html")]).await;
    r.assert_status(401);
    assert!(
        r.header("www-authenticate").unwrap_or_default().starts_with("Basic "),
        "{:?}",
        r.header("www-authenticate")
    );
    let r = server.get_with("/", &[("accept", "text/html")]).await;
    r.assert_status(401);

    let report = browse(json!({
        "label": "tenants",
        "mode": "tenants",
        "base": server.url(""),
        "credentials": { "username": "viewer", "password": "viewer-pw" },
        "tenants": ["team-a", "team-b"],
        "tenant": "team-a",
        "charts": 12,
        "search": { "text": "app-1", "expect": 2 },
        "chart": { "name": "team-a-app-03", "readmeHeading": "team-a-app-03 guide", "switchTo": "0.9.0" },
        "screenshots": screenshots(),
        "suffix": "-tenant",
    }));
    assert_eq!(report["clipboard"], json!(format!("helm repo add team-a {}/team-a", server.url(""))), "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_chart_runs_no_script_in_chromium() {
    let server = Server::start(&[]).await;
    let readme = concat!(
        "# Evil\n\n<script>window.pwned = 'readme script'</script>\n\n",
        "[click me](javascript:window.pwned='link')\n\n",
        "<img src=x onerror=\"window.pwned='onerror'\">\n\n",
        "<a href=\"javascript:window.pwned='a'\" onclick=\"window.pwned='onclick'\">a</a>\n\n",
        "```\n</code></pre><script>window.pwned='code block'</script>\n```\n\n",
        "<!-- --><script>window.pwned='comment'</script> -->\n\n",
        "<svg><script>window.pwned='svg'</script></svg>\n\n",
        "<iframe src=\"javascript:parent.pwned='iframe'\"></iframe>\n",
    );
    let evil = ChartBuilder::chart("evil", "1.0.0")
        .file(
            "Chart.yaml",
            "apiVersion: v2\nname: evil\nversion: 1.0.0\n\
             description: \"<script>window.pwned='description'</script><img src=x onerror=\\\"window.pwned='desc img'\\\">\"\n\
             home: \"javascript:window.pwned='home'\"\nicon: \"javascript:window.pwned='icon'\"\n\
             keywords: [\"<script>window.pwned='keyword'</script>\"]\n\
             maintainers:\n  - name: \"<b onmouseover=alert(1)>x</b>\"\n    url: \"javascript:window.pwned='maintainer'\"\n",
        )
        .file(
            "values.yaml",
            "a: \"</code></pre><script>window.pwned='values'</script>\" # <img src=x onerror=\"window.pwned='comment'\">\n\
             <script>window.pwned='key'</script>: 1\n",
        )
        .file("README.md", readme)
        .build();
    server.upload_ok(evil).await;
    let report = browse(json!({
        "label": "xss",
        "mode": "xss",
        "base": server.url(""),
        "paths": ["/", "/ui/charts/evil", "/ui/?q=%3Cscript%3E"],
    }));
    assert!(
        report["checks"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c.as_str() == Some("no injected script ran on /ui/charts/evil"))),
        "{report:#}"
    );
}
