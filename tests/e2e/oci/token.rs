//! The registry-token endpoint (`/v2/token`) and the `Bearer` challenge of `--bearer-auth`:
//! the docker token protocol raw (GET with Basic, anonymous, POST password grant, refresh grant
//! refused, scopes cut to the grants, tampered and out-of-scope tokens), then `helm registry
//! login`, `helm push` and `helm pull` through it with Helm 3.17 and 4.1.

use reqwest::Method;

use super::{host, p};
use crate::support::*;

const ALICE_PASS: &str = "alice-bearer-pass";
const READER_PASS: &str = "reader-bearer-pass";

struct Bearer {
    server: Server,
    _dir: tempfile::TempDir,
    _issuer: JwtIssuer,
}

/// `--bearer-auth` with an external issuer's key (as ChartMuseum configures it), and an auth
/// config: alice may pull and push the root repository, reader may only pull.
async fn bearer_server() -> Bearer {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "users:\n  alice: \"{}\"\n  reader: \"{}\"\ngrants:\n  - to: [alice]\n    tenants: [\"\"]\n    actions: [pull, push, delete]\n  - to: [reader]\n    tenants: [\"\"]\n    actions: [pull]\n",
        bcrypt_hash(ALICE_PASS),
        bcrypt_hash(READER_PASS)
    );
    let auth = dir.path().join("auth.yaml");
    std::fs::write(&auth, config).expect("write auth config");
    let issuer = JwtIssuer::new();
    let key = issuer.public_key_path();
    let server = Server::start(&[
        "--auth-config",
        p(&auth),
        "--bearer-auth",
        "--auth-realm",
        "https://auth.example/token",
        "--auth-service",
        "chartroom",
        "--auth-cert-path",
        p(&key),
    ])
    .await;
    Bearer { server, _dir: dir, _issuer: issuer }
}

async fn get_token(server: &Server, query: &str, authorization: Option<&str>) -> Resp {
    let mut rb = server.client.get(server.root_url(&format!("/v2/token?{query}")));
    if let Some(a) = authorization {
        rb = rb.header("Authorization", a);
    }
    server.send(format!("GET /v2/token?{query}"), rb).await
}

fn token_of(resp: &Resp) -> String {
    resp.assert_status(200);
    let v = resp.json();
    assert_eq!(v["token"], v["access_token"], "both names");
    assert_eq!(v["expires_in"], 300);
    assert!(v.get("refresh_token").is_none(), "no refresh token (Helm 3.17 would store it)");
    v["token"].as_str().expect("token").to_owned()
}

async fn with_bearer(server: &Server, method: Method, path: &str, token: &str) -> Resp {
    let rb = server.req(method.clone(), path).header("Authorization", format!("Bearer {token}"));
    server.send(format!("{method} {path} (bearer)"), rb).await
}

#[tokio::test]
async fn the_token_protocol_raw() {
    let Bearer { server, .. } = bearer_server().await;
    let admin = basic("alice", ALICE_PASS);
    let seeded = server
        .request_as(Method::POST, "/api/charts", Some(&admin), Some(ChartBuilder::chart("app", "1.0.0").build()))
        .await;
    seeded.assert_status(201);
    let realm = format!("http://127.0.0.1:{}/v2/token", server.port());

    // The challenges name this server's endpoint, and the scope the request needs.
    let ping = server.get("/v2/").await;
    ping.assert_status(401);
    assert_eq!(ping.header("www-authenticate"), Some(format!("Bearer realm=\"{realm}\",service=\"chartroom\"")));
    let manifest = server.get("/v2/app/manifests/1.0.0").await;
    manifest.assert_status(401);
    assert_eq!(
        manifest.header("www-authenticate"),
        Some(format!("Bearer realm=\"{realm}\",service=\"chartroom\",scope=\"repository:app:pull\""))
    );
    let upload = server.send("POST upload".into(), server.req(Method::POST, "/v2/app/blobs/uploads/")).await;
    upload.assert_status(401);
    assert!(upload.header("www-authenticate").is_some_and(|c| c.ends_with("scope=\"repository:app:pull,push\"")));

    // GET with Basic: a token for what alice may do.
    let scope = "service=chartroom&scope=repository:app:pull,push";
    let token = token_of(&get_token(&server, scope, Some(&admin)).await);
    with_bearer(&server, Method::GET, "/v2/", &token).await.assert_status(200);
    let got = with_bearer(&server, Method::GET, "/v2/app/manifests/1.0.0", &token).await;
    got.assert_status(200);
    with_bearer(&server, Method::POST, "/v2/app/blobs/uploads/", &token).await.assert_status(202);
    // Another repository is out of the token's scope: 403 with the scope to ask for.
    let other = with_bearer(&server, Method::GET, "/v2/other/tags/list", &token).await;
    other.assert_status(403);
    assert_eq!(
        other.header("www-authenticate"),
        Some(format!(
            "Bearer realm=\"{realm}\",service=\"chartroom\",scope=\"repository:other:pull\",error=\"insufficient_scope\""
        ))
    );

    // reader asks for pull and push, gets pull only.
    let reader = basic("reader", READER_PASS);
    let read_only = token_of(&get_token(&server, scope, Some(&reader)).await);
    with_bearer(&server, Method::GET, "/v2/app/manifests/1.0.0", &read_only).await.assert_status(200);
    with_bearer(&server, Method::POST, "/v2/app/blobs/uploads/", &read_only).await.assert_status(403);

    // Anonymous: a token without any scope, which opens nothing.
    let anonymous = token_of(&get_token(&server, scope, None).await);
    with_bearer(&server, Method::GET, "/v2/app/manifests/1.0.0", &anonymous).await.assert_status(401);

    // Wrong password: 401 with a Basic challenge.
    let wrong = get_token(&server, scope, Some(&basic("alice", "nope"))).await;
    wrong.assert_status(401);
    assert!(wrong.header("www-authenticate").is_some_and(|c| c.starts_with("Basic realm=")));

    // A tampered token: refused.
    let mut tampered = token.clone();
    let last = tampered.pop().expect("a character");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    with_bearer(&server, Method::GET, "/v2/app/manifests/1.0.0", &tampered).await.assert_status(401);

    // POST password grant (containerd's first try): an access_token.
    let form = format!(
        "grant_type=password&username=alice&password={ALICE_PASS}&service=chartroom&scope=repository%3Aapp%3Apull&client_id=containerd-client"
    );
    let post = server
        .send(
            "POST /v2/token".into(),
            server
                .client
                .post(server.root_url("/v2/token"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form),
        )
        .await;
    let posted = token_of(&post);
    with_bearer(&server, Method::GET, "/v2/app/manifests/1.0.0", &posted).await.assert_status(200);
    let bad_form = "grant_type=password&username=alice&password=nope&scope=repository%3Aapp%3Apull";
    let refused =
        server.send("POST wrong".into(), server.client.post(server.root_url("/v2/token")).body(bad_form)).await;
    refused.assert_status(401);
    // Refresh grant: 400, so the client falls back to GET with Basic.
    let refresh = server
        .send(
            "POST refresh".into(),
            server.client.post(server.root_url("/v2/token")).body("grant_type=refresh_token&refresh_token=x"),
        )
        .await;
    refresh.assert_status(400);
    assert_eq!(refresh.json()["error"], "unsupported_grant_type");

    // Basic credentials still work on /v2/ directly.
    server.get_with("/v2/app/manifests/1.0.0", &[("Authorization", admin.as_str())]).await.assert_status(200);
}

async fn helm_through_tokens(v: HelmVersion) {
    let helm = Helm::new(v);
    let Bearer { server, .. } = bearer_server().await;
    let registry = host(&server);
    let plain = match v {
        HelmVersion::V3 => "--insecure",
        HelmVersion::V4 => "--plain-http",
    };
    let wrong = helm.run_fail(&["registry", "login", &registry, "--username", "alice", "--password", "nope", plain]);
    let wrong = wrong.to_lowercase();
    assert!(wrong.contains("401") || wrong.contains("unauthorized"), "{wrong}");

    helm.run(&["registry", "login", &registry, "--username", "alice", "--password", ALICE_PASS, plain]);
    let work = helm.work_dir("bearer");
    let file = work.join("tokened-1.0.0.tgz");
    let chart = ChartBuilder::chart("tokened", "1.0.0").build();
    std::fs::write(&file, &chart).expect("write chart");
    helm.run(&["push", p(&file), &format!("oci://{registry}"), "--plain-http"]);
    let out = helm.work_dir("pulled");
    helm.run(&["pull", &format!("oci://{registry}/tokened"), "--version", "1.0.0", "--plain-http", "-d", p(&out)]);
    assert_eq!(read_single(&out, "tokened-1.0.0.tgz"), chart);
    // Through the token endpoint, which the Bearer challenge names.
    let tokens_served = server.log().lines().filter(|l| l.contains("/v2/token") && l.contains("200")).count();
    assert!(tokens_served > 0, "{}: no token fetched:\n{}", v.label(), server.log());
    helm.run(&["registry", "logout", &registry]);

    // reader: pulls, cannot push.
    helm.run(&["registry", "login", &registry, "--username", "reader", "--password", READER_PASS, plain]);
    let again = helm.work_dir("pulled-by-reader");
    helm.run(&["pull", &format!("oci://{registry}/tokened"), "--version", "1.0.0", "--plain-http", "-d", p(&again)]);
    let second = work.join("tokened-1.0.1.tgz");
    std::fs::write(&second, ChartBuilder::chart("tokened", "1.0.1").build()).expect("write chart");
    helm.run_fail(&["push", p(&second), &format!("oci://{registry}"), "--plain-http"]);
    let alice = basic("alice", ALICE_PASS);
    let index = server.request_as(Method::GET, "/index.yaml", Some(&alice), None).await;
    index.assert_status(200);
    let index = Index::parse(&index.body);
    assert!(index.entry("tokened", "1.0.0").is_some(), "{}: pushed through a token", v.label());
    assert!(index.entry("tokened", "1.0.1").is_none(), "{}: nothing pushed by reader", v.label());
}

#[tokio::test]
async fn helm3_logs_in_pushes_and_pulls_through_tokens() {
    helm_through_tokens(HelmVersion::V3).await;
}

#[tokio::test]
async fn helm4_logs_in_pushes_and_pulls_through_tokens() {
    helm_through_tokens(HelmVersion::V4).await;
}

const ORAS_TOKEN_SCRIPT: &str = r#"
import json, os, sys, oras.client
host, target, mode, user, password = sys.argv[1:6]
client = oras.client.OrasClient(hostname=host, insecure=True, auth_backend="token")
client.login(username=user, password=password, hostname=host, config_path=os.path.abspath("docker-config.json"))
if mode == "push":
    r = client.push(target=target, files=["notes.txt", "data.bin"], do_chunked=True, chunk_size=1000)
    print(r.status_code)
else:
    print(json.dumps(sorted(client.pull(target=target, outdir="out"))))
"#;

#[tokio::test]
async fn oras_pushes_and_pulls_through_tokens() {
    let python = chartroom_testkit::tools::tool("CHARTROOM_ORAS_PYTHON", "oras-python", "the Python oras SDK 0.2.43");
    let Bearer { server, .. } = bearer_server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let notes = b"tokened notes\n".repeat(150);
    let data = noise(3210, 9);
    std::fs::write(dir.path().join("notes.txt"), &notes).expect("write");
    std::fs::write(dir.path().join("data.bin"), &data).expect("write");
    let registry = host(&server);
    let target = format!("{registry}/artifacts:tokened");
    let run = |mode: &str, user: &str, password: &str| {
        std::process::Command::new(&python)
            .args(["-c", ORAS_TOKEN_SCRIPT, &registry, &target, mode, user, password])
            .current_dir(dir.path())
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env("NO_PROXY", "127.0.0.1")
            .output()
            .expect("run oras")
    };
    let text = |out: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    };
    let pushed = run("push", "alice", ALICE_PASS);
    assert!(pushed.status.success(), "oras push failed:\n{}\n--- server log ---\n{}", text(&pushed), server.log());
    assert!(String::from_utf8_lossy(&pushed.stdout).trim().ends_with("201"), "{}", text(&pushed));
    let log = server.log();
    assert!(log.matches("PATCH").count() >= 6, "chunked uploads expected, log:\n{log}");
    assert!(log.contains("/v2/token"), "through the token endpoint, log:\n{log}");

    // reader pulls it back; a reader push is refused.
    let pulled = run("pull", "reader", READER_PASS);
    assert!(pulled.status.success(), "oras pull failed:\n{}\n--- server log ---\n{}", text(&pulled), server.log());
    assert_eq!(std::fs::read(dir.path().join("out/notes.txt")).expect("pulled notes"), notes);
    assert_eq!(std::fs::read(dir.path().join("out/data.bin")).expect("pulled data"), data);
    let refused = run("push", "reader", READER_PASS);
    assert!(!refused.status.success(), "reader pushed:\n{}", text(&refused));
}
