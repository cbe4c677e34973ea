//! Authentication and per-tenant permissions end to end (issue 10): real Helm 3.17 and 4.1 with
//! `helm repo add --username/--password` per tenant, pushes the way `helm cm-push` sends them
//! (Basic and bearer), JWTs signed by a key made in the test, the isolation matrix over HTTP,
//! the `chartroom` client with stored credentials and tokens, secrets kept out of the log, and
//! the auth config reloaded by SIGHUP and by its watcher.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Method;
use tempfile::TempDir;

use crate::support::*;

const ADMIN_PASS: &str = "admin-s3cret-pass";
const ALICE_PASS: &str = "alice-pass-9f2k";
const BOB_PASS: &str = "bob-pass-x81z";
const CI_TOKEN: &str = "ci-token-7d1c0d5e9a";
const AUDIENCE: &str = "chartroom-e2e";

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// The auth config of these tests: alice (bcrypt, in the file), bob (from an htpasswd file the
/// real `htpasswd -B` wrote), the token `ci-team-a`, and grants on three tenants.
fn auth_config(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("htpasswd"), format!("# written by htpasswd -B\n{}\n", htpasswd_line("bob", BOB_PASS)))
        .expect("write htpasswd");
    let config = format!(
        r#"users:
  alice: "{alice}"
htpasswd: htpasswd
tokens:
  ci-team-a: "{token}"
grants:
  - to: [anonymous, authenticated]
    tenants: [public]
    actions: [pull]
  - to: [alice]
    tenants: [team-a]
    actions: [pull, push, delete]
  - to: [alice]
    tenants: [team-b]
    actions: [pull]
  - to: [bob]
    tenants: [team-b]
    actions: [pull, push]
  - to: [ci-team-a]
    tenants: [team-a]
    actions: [pull, push]
"#,
        alice = bcrypt_hash(ALICE_PASS),
        token = token_digest(CI_TOKEN),
    );
    let path = dir.join("auth.yaml");
    std::fs::write(&path, config).expect("write auth config");
    path
}

/// A server at depth 1 with every kind of identity: ChartMuseum's single user `admin` (its
/// password from `BASIC_AUTH_PASS_FILE`), the auth config, and bearer JWTs with an audience.
struct Secured {
    server: Server,
    issuer: JwtIssuer,
    dir: TempDir,
}

impl Secured {
    async fn start(extra: &[&str]) -> Secured {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = auth_config(dir.path());
        let pass_file = dir.path().join("admin-pass");
        std::fs::write(&pass_file, format!("{ADMIN_PASS}\n")).expect("write password file");
        let issuer = JwtIssuer::new();
        let key = issuer.public_key_path();
        let mut args = vec![
            "--depth",
            "1",
            "--auth-config",
            p(&config),
            "--bearer-auth",
            "--auth-realm",
            "https://auth.example/token",
            "--auth-service",
            "chartroom",
            "--auth-cert-path",
            p(&key),
            "--auth-audience",
            AUDIENCE,
        ];
        args.extend_from_slice(extra);
        let env = [("BASIC_AUTH_USER", "admin"), ("BASIC_AUTH_PASS_FILE", p(&pass_file))];
        let server = Server::start_with(StorageTarget::from_env(), &args, &env).await;
        Secured { server, issuer, dir }
    }

    fn admin(&self) -> String {
        basic("admin", ADMIN_PASS)
    }

    /// A JWT for `deployer` with ChartMuseum's claims: pull and push on team-b, pull on public.
    fn jwt(&self) -> String {
        let mut claims = chartmuseum_claims("deployer", &[("team-b", &["pull", "push"]), ("public", &["pull"])]);
        claims["aud"] = AUDIENCE.into();
        self.issuer.sign(&claims)
    }

    /// Seeds `<name>-1.0.0` into `tenant` as the ChartMuseum user.
    async fn seed(&self, tenant: &str, name: &str) {
        let tgz = ChartBuilder::chart(name, "1.0.0").build();
        let admin = self.admin();
        self.server.cm_push(&format!("/api/{tenant}/charts"), tgz, "seed.tgz", Some(&admin)).await.assert_status(201);
    }
}

/// Every tenant × identity × action, with the status each cell must answer.
#[tokio::test]
async fn isolation_matrix_over_http() {
    let s = Secured::start(&[]).await;
    let tenants = ["team-a", "team-b", "public"];
    let identities = ["anonymous", "alice", "bob", "ci-team-a", "jwt"];
    for tenant in tenants {
        s.seed(tenant, "seed").await;
        for who in identities {
            s.seed(tenant, &format!("del-{who}")).await;
        }
    }
    let jwt = s.jwt();
    let header = |who: &str| -> Option<String> {
        match who {
            "anonymous" => None,
            "alice" => Some(basic("alice", ALICE_PASS)),
            "bob" => Some(basic("bob", BOB_PASS)),
            "ci-team-a" => Some(bearer(CI_TOKEN)),
            _ => Some(bearer(&jwt)),
        }
    };
    // (tenant, action) → expected status per identity, in `identities` order.
    let expected: &[(&str, &str, [u16; 5])] = &[
        ("team-a", "pull index", [401, 200, 403, 200, 403]),
        ("team-a", "pull chart", [401, 200, 403, 200, 403]),
        ("team-a", "push", [401, 201, 403, 201, 403]),
        ("team-a", "delete", [401, 200, 403, 403, 403]),
        ("team-b", "pull index", [401, 200, 200, 403, 200]),
        ("team-b", "pull chart", [401, 200, 200, 403, 200]),
        ("team-b", "push", [401, 403, 201, 403, 201]),
        // A JWT `push` covers delete, as in ChartMuseum; bob may push, not delete.
        ("team-b", "delete", [401, 403, 403, 403, 200]),
        ("public", "pull index", [200, 200, 200, 200, 200]),
        ("public", "pull chart", [200, 200, 200, 200, 200]),
        ("public", "push", [401, 403, 403, 403, 403]),
        ("public", "delete", [401, 403, 403, 403, 403]),
    ];
    assert_eq!(expected.len(), tenants.len() * 4);
    let mut failures = Vec::new();
    for (tenant, action, statuses) in expected {
        for (who, want) in identities.iter().zip(statuses) {
            let auth = header(who);
            let r = match *action {
                "pull index" => s.server.get_as(&format!("/{tenant}/index.yaml"), auth.as_deref()).await,
                "pull chart" => s.server.get_as(&format!("/{tenant}/charts/seed-1.0.0.tgz"), auth.as_deref()).await,
                "push" => {
                    let tgz = ChartBuilder::chart(&format!("push-{who}"), "1.0.0").build();
                    s.server.cm_push(&format!("/api/{tenant}/charts"), tgz, "p.tgz", auth.as_deref()).await
                }
                _ => {
                    let path = format!("/api/{tenant}/charts/del-{who}/1.0.0");
                    s.server.request_as(Method::DELETE, &path, auth.as_deref(), None).await
                }
            };
            if r.status != *want {
                failures.push(format!("{tenant} {action} as {who}: {} (want {want}) {}", r.status, r.text()));
            }
            if r.status == 401 {
                assert!(r.header("www-authenticate").is_some_and(|c| c.starts_with("Bearer realm=")), "{r:?}");
            }
            if r.status >= 400 {
                r.error_message();
            }
        }
    }
    assert!(failures.is_empty(), "matrix cells that differ:\n{}", failures.join("\n"));
    // What the refused pushes and deletes left: exactly what the allowed ones did.
    let files = s.server.storage_files();
    for (tenant, statuses) in
        [("team-a", [false, true, false, true, false]), ("team-b", [false, false, true, false, true])]
    {
        for (who, pushed) in identities.iter().zip(statuses) {
            let key = format!("{tenant}/push-{who}-1.0.0.tgz");
            assert_eq!(files.contains(&key), pushed, "{key}");
        }
    }
    assert!(!files.iter().any(|f| f.starts_with("public/push-")), "{files:?}");
}

#[tokio::test]
async fn helm_repo_add_with_credentials_per_tenant_and_anonymous_public_pulls() {
    let s = Secured::start(&[]).await;
    s.seed("team-a", "alpha").await;
    s.seed("team-b", "beta").await;
    s.seed("public", "open").await;
    for helm in BOTH_HELMS.map(Helm::new) {
        let label = helm.label();
        let add = |name: &str, tenant: &str, user: &str, pass: &str| {
            helm.run(&[
                "repo",
                "add",
                name,
                &s.server.url(&format!("/{tenant}")),
                "--username",
                user,
                "--password",
                pass,
            ])
        };
        assert!(add("a", "team-a", "alice", ALICE_PASS).contains("has been added"), "{label}");
        assert!(add("b", "team-b", "bob", BOB_PASS).contains("has been added"), "{label}");
        // A token as the password of its name, as `helm repo add` stores it.
        assert!(add("ci", "team-a", "ci-team-a", CI_TOKEN).contains("has been added"), "{label}");
        helm.repo_add("pub", &s.server.url("/public"));
        // Denied: bob may not read team-a; a wrong password is no password.
        let denied = helm.run_fail(&[
            "repo",
            "add",
            "bob-a",
            &s.server.url("/team-a"),
            "--username",
            "bob",
            "--password",
            BOB_PASS,
        ]);
        assert!(denied.contains("403") || denied.contains("not a valid chart repository"), "{label}: {denied}");
        let wrong =
            helm.run_fail(&["repo", "add", "w", &s.server.url("/team-b"), "--username", "bob", "--password", "nope"]);
        assert!(wrong.contains("401") || wrong.contains("not a valid chart repository"), "{label}: {wrong}");
        helm.repo_update();
        assert_eq!(helm.searched_versions("a", "alpha", false), ["1.0.0"], "{label}");
        assert_eq!(helm.searched_versions("b", "beta", false), ["1.0.0"], "{label}");
        assert_eq!(helm.searched_versions("pub", "open", false), ["1.0.0"], "{label}");
        for (chart, file) in
            [("a/alpha", "alpha-1.0.0.tgz"), ("ci/alpha", "alpha-1.0.0.tgz"), ("pub/open", "open-1.0.0.tgz")]
        {
            let d = helm.work_dir(&format!("pull-{}", chart.replace('/', "-")));
            helm.run(&["pull", chart, "-d", p(&d)]);
            assert!(d.join(file).is_file(), "{label}: {chart}");
        }
        // A pull that the credentials do not allow: bob's password on team-a's chart.
        let d = helm.work_dir("denied");
        let url = s.server.url("/team-a/charts/alpha-1.0.0.tgz");
        let denied = helm.run_fail(&["pull", &url, "--username", "bob", "--password", BOB_PASS, "-d", p(&d)]);
        assert!(denied.contains("403"), "{label}: {denied}");
        let anonymous = helm.run_fail(&["pull", &url, "-d", p(&d)]);
        assert!(anonymous.contains("401"), "{label}: {anonymous}");
    }
}

#[tokio::test]
async fn cm_push_with_basic_auth_and_a_bearer_token_and_refused_deletes() {
    let s = Secured::start(&[]).await;
    let server = &s.server;
    let tgz = |v: &str| ChartBuilder::chart("pushed", v).build();
    server
        .cm_push("/api/team-a/charts", tgz("1.0.0"), "pushed-1.0.0.tgz", Some(&basic("alice", ALICE_PASS)))
        .await
        .assert_status(201);
    server
        .cm_push("/api/team-a/charts", tgz("1.1.0"), "pushed-1.1.0.tgz", Some(&bearer(CI_TOKEN)))
        .await
        .assert_status(201);
    let r = server.cm_push("/api/team-a/charts", tgz("1.2.0"), "x.tgz", None).await;
    r.assert_status(401);
    assert_eq!(r.error_message(), "unauthorized");
    let r = server.cm_push("/api/team-a/charts", tgz("1.2.0"), "x.tgz", Some(&bearer("not-a-token"))).await;
    r.assert_status(401);
    let r = server.cm_push("/api/team-b/charts", tgz("1.2.0"), "x.tgz", Some(&bearer(CI_TOKEN))).await;
    r.assert_status(403);
    assert_eq!(r.error_message(), "forbidden: \"ci-team-a\" may not push charts to tenant team-b");
    let index = Index::parse(&server.get_as("/team-a/index.yaml", Some(&bearer(CI_TOKEN))).await.body);
    assert_eq!(index.versions("pushed"), ["1.1.0", "1.0.0"]);

    // Deletes: unauthenticated 401 (with the bearer challenge for a push), denied 403.
    let r = server.request_as(Method::DELETE, "/api/team-a/charts/pushed/1.0.0", None, None).await;
    r.assert_status(401);
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some(
            r#"Bearer realm="https://auth.example/token",service="chartroom",scope="artifact-repository:team-a:push""#
        )
    );
    let r = server.request_as(Method::DELETE, "/api/team-a/charts/pushed/1.0.0", Some(&bearer(CI_TOKEN)), None).await;
    r.assert_status(403);
    assert_eq!(r.error_message(), "forbidden: \"ci-team-a\" may not delete charts from tenant team-a");
    assert!(server.storage_files().contains(&"team-a/pushed-1.0.0.tgz".to_owned()), "nothing deleted");
    let alice = basic("alice", ALICE_PASS);
    server.request_as(Method::DELETE, "/api/team-a/charts/pushed/1.0.0", Some(&alice), None).await.assert_status(200);
    assert!(!server.storage_files().contains(&"team-a/pushed-1.0.0.tgz".to_owned()));

    // The log names who wrote what where, and never a secret.
    let log = server.log();
    for secret in [ALICE_PASS, CI_TOKEN, ADMIN_PASS, "Basic ", "Bearer ", &basic("alice", ALICE_PASS)[6..]] {
        assert!(!log.contains(secret), "the log contains {secret:?}");
    }
    let writes: Vec<&str> = log.lines().filter(|l| l.contains("chart uploaded") || l.contains("deleted")).collect();
    assert!(
        writes.iter().any(|l| l.contains("identity=\"alice\"")
            && l.contains("tenant=\"team-a\"")
            && l.contains("chart=\"pushed\"")
            && l.contains("version=\"1.0.0\"")),
        "{writes:#?}"
    );
    assert!(
        writes.iter().any(|l| l.contains("identity=\"ci-team-a\"") && l.contains("version=\"1.1.0\"")),
        "{writes:#?}"
    );
    assert!(
        writes.iter().any(|l| l.contains("chart version deleted") && l.contains("identity=\"alice\"")),
        "{writes:#?}"
    );
    assert!(log.contains("reason=\"forbidden\""), "refusals are logged with their reason");
}

#[tokio::test]
async fn jwts_signed_by_the_configured_key() {
    let s = Secured::start(&[]).await;
    s.seed("team-b", "beta").await;
    let server = &s.server;
    let issue = |tenant: &str, actions: &[&str], exp_offset: i64, audience: &str| {
        let mut claims = chartmuseum_claims("deployer", &[(tenant, actions)]);
        claims["aud"] = audience.into();
        claims["exp"] = (chartroom_testkit::auth::now() as i64 + exp_offset).into();
        s.issuer.sign(&claims)
    };
    // Allowed.
    let good = issue("team-b", &["pull", "push"], 600, AUDIENCE);
    server.get_as("/team-b/index.yaml", Some(&bearer(&good))).await.assert_status(200);
    let tgz = ChartBuilder::chart("from-jwt", "1.0.0").build();
    server.cm_push("/api/team-b/charts", tgz, "j.tgz", Some(&bearer(&good))).await.assert_status(201);
    // The wrong tenant: valid, but no grant there.
    let r = server.get_as("/team-a/index.yaml", Some(&bearer(&good))).await;
    r.assert_status(403);
    assert!(r.error_message().contains("\"deployer\""), "{r:?}");
    // Expired.
    let expired = issue("team-b", &["pull"], -120, AUDIENCE);
    let r = server.get_as("/team-b/index.yaml", Some(&bearer(&expired))).await;
    r.assert_status(401);
    assert_eq!(r.error_message(), "unauthorized: token expired");
    // The wrong audience, and none at all.
    let other = issue("team-b", &["pull"], 600, "another-service");
    let r = server.get_as("/team-b/index.yaml", Some(&bearer(&other))).await;
    r.assert_status(401);
    assert_eq!(r.error_message(), "unauthorized: token audience not accepted");
    let mut no_aud = chartmuseum_claims("deployer", &[("team-b", &["pull"])]);
    no_aud.as_object_mut().unwrap().remove("aud");
    server.get_as("/team-b/index.yaml", Some(&bearer(&s.issuer.sign(&no_aud)))).await.assert_status(401);
    // Signed by another key.
    let stranger = JwtIssuer::new();
    let mut claims = chartmuseum_claims("deployer", &[("team-b", &["pull"])]);
    claims["aud"] = AUDIENCE.into();
    let r = server.get_as("/team-b/index.yaml", Some(&bearer(&stranger.sign(&claims)))).await;
    r.assert_status(401);
    assert_eq!(r.error_message(), "unauthorized: invalid credentials");
    // The chartroom client sends it as a bearer token.
    let d = s.dir.path().join("jwt-pull");
    Cli::empty().ok(&["pull", "beta", "--repo", &server.url("/team-b"), "--token", &good, "-d", p(&d)]);
    assert!(d.join("beta-1.0.0.tgz").is_file());
    let denied =
        Cli::empty().run(&["pull", "beta", "--repo", &server.url("/team-b"), "--token", &expired, "-d", p(&d)]);
    assert_ne!(denied.code, 0, "{denied:?}");
    assert!(denied.stderr.contains("401") && denied.stderr.contains("bearer token"), "{denied:?}");
}

/// `chartroom search/pull/install/dependency/push` with the credentials `helm repo add` stored.
#[tokio::test]
async fn the_chartroom_client_uses_helms_stored_credentials_per_repository() {
    let s = Secured::start(&[]).await;
    s.seed("team-a", "alpha").await;
    let helm = Helm::new(HelmVersion::V4);
    let a_url = s.server.url("/team-a");
    helm.run(&["repo", "add", "a", &a_url, "--username", "ci-team-a", "--password", CI_TOKEN]);
    helm.run(&["repo", "add", "b", &s.server.url("/team-b"), "--username", "bob", "--password", BOB_PASS]);
    let cli = Cli::like(&helm);
    assert!(cli.ok(&["search", "a"]).contains("a/alpha"));
    let d = helm.work_dir("pulled");
    cli.ok(&["pull", "a/alpha", "-d", p(&d)]);
    assert!(d.join("alpha-1.0.0.tgz").is_file());
    let installed = helm.work_dir("installed");
    cli.ok(&["install", "a/alpha", p(&installed)]);
    assert!(installed.join("alpha/Chart.yaml").is_file());

    // Push by repository name: the stored token travels, the upload URL is the tenant's.
    let chart = helm.work_dir("charts").join("delta-0.1.0.tgz");
    std::fs::write(&chart, ChartBuilder::chart("delta", "0.1.0").build()).expect("write chart");
    let pushed = cli.ok(&["push", p(&chart), "a"]);
    assert!(pushed.contains(&s.server.url("/api/team-a/charts")), "{pushed}");
    // bob may push to team-b; the token may not.
    let other = helm.work_dir("charts").join("eps-0.1.0.tgz");
    std::fs::write(&other, ChartBuilder::chart("eps", "0.1.0").build()).expect("write chart");
    let denied =
        cli.run(&["push", p(&other), &s.server.url("/team-b"), "--username", "ci-team-a", "--password", CI_TOKEN]);
    assert_ne!(denied.code, 0, "{denied:?}");
    assert!(denied.stderr.contains("403"), "{denied:?}");
    cli.ok(&["push", p(&other), "b"]);

    // A dependency on a tenant repository resolves with the stored credentials.
    let app = helm.work_dir("app");
    std::fs::create_dir_all(app.join("templates")).expect("mkdir");
    std::fs::write(
        app.join("Chart.yaml"),
        format!("apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n  - name: alpha\n    version: 1.0.0\n    repository: {a_url}\n"),
    )
    .expect("write Chart.yaml");
    cli.ok(&["dependency", "update", p(&app)]);
    assert!(app.join("charts/alpha-1.0.0.tgz").is_file());
    // Without stored credentials the same commands are refused with the auth exit code.
    let anonymous = Cli::empty().run(&["search", &a_url]);
    assert_ne!(anonymous.code, 0);
    assert!(anonymous.stderr.contains("401"), "{anonymous:?}");
}

/// SIGHUP re-reads the auth config; an invalid file keeps the one in force and the log says
/// why. The watcher picks up a change without a signal.
#[tokio::test]
async fn the_auth_config_is_reloaded_without_a_restart() {
    let s = Secured::start(&["--auth-config-poll-interval", "0"]).await;
    s.seed("team-b", "beta").await;
    let carol = basic("carol", "carol-pass");
    s.server.get_as("/team-b/index.yaml", Some(&carol)).await.assert_status(401);
    let config = s.dir.path().join("auth.yaml");
    let original = std::fs::read_to_string(&config).expect("read config");
    let with_carol = format!("{original}  - to: [carol]\n    tenants: [team-b]\n    actions: [pull]\n")
        .replace("users:\n", &format!("users:\n  carol: \"{}\"\n", bcrypt_hash("carol-pass")));
    replace_file(&config, &with_carol);
    hangup(&s.server);
    eventually_status(&s.server, "/team-b/index.yaml", &carol, 200).await;

    replace_file(&config, "users:\n  mallory: plain-text-password\n");
    hangup(&s.server);
    eventually_log(&s.server, "SIGHUP: auth config not reloaded").await;
    s.server.get_as("/team-b/index.yaml", Some(&carol)).await.assert_status(200);
    let log = s.server.log();
    assert!(log.contains("auth.yaml:2") && log.contains("mallory"), "the log says where and why");
    assert!(!log.contains("plain-text-password"), "never the value");

    // The watcher (a server polling every 100 ms).
    let w = Secured::start(&["--auth-config-poll-interval", "100ms"]).await;
    w.seed("team-b", "beta").await;
    w.server.get_as("/team-b/index.yaml", Some(&carol)).await.assert_status(401);
    let config = w.dir.path().join("auth.yaml");
    let original = std::fs::read_to_string(&config).expect("read config");
    let with_carol = format!("{original}  - to: [carol]\n    tenants: [team-b]\n    actions: [pull]\n")
        .replace("users:\n", &format!("users:\n  carol: \"{}\"\n", bcrypt_hash("carol-pass")));
    replace_file(&config, &with_carol);
    eventually_status(&w.server, "/team-b/index.yaml", &carol, 200).await;
}

/// ChartMuseum's single-user setup, unchanged: `BASIC_AUTH_USER`, `BASIC_AUTH_PASS` and
/// `AUTH_ANONYMOUS_GET` at depth 0, with Helm.
#[tokio::test]
async fn a_chartmuseum_single_user_deployment_moves_over_unchanged() {
    let env = [("BASIC_AUTH_USER", "admin"), ("BASIC_AUTH_PASS", ADMIN_PASS), ("AUTH_ANONYMOUS_GET", "true")];
    let server = Server::start_with(StorageTarget::from_env(), &[], &env).await;
    let tgz = ChartBuilder::chart("single", "1.0.0").build();
    let r = server.cm_push("/api/charts", tgz.clone(), "single.tgz", None).await;
    r.assert_status(401);
    assert_eq!(r.header("www-authenticate").as_deref(), Some(r#"Basic realm="ChartMuseum""#));
    server.cm_push("/api/charts", tgz, "single.tgz", Some(&basic("admin", ADMIN_PASS))).await.assert_status(201);
    for helm in BOTH_HELMS.map(Helm::new) {
        helm.repo_add("cm", &server.repo_url());
        helm.repo_update();
        assert_eq!(helm.searched_versions("cm", "single", false), ["1.0.0"], "{}", helm.label());
    }
    server.request_as(Method::DELETE, "/api/charts/single/1.0.0", None, None).await.assert_status(401);
    health_is_open(&server).await;
}

/// `/health` and `/info` answer whatever credentials come with them.
async fn health_is_open(server: &Server) {
    server.get_as("/health", Some("Basic bm9ib2R5Om5vcGU=")).await.assert_status(200);
    server.get_as("/info", Some("Bearer garbage")).await.assert_status(200);
}

/// Replaces a file in one step (write aside, rename), as a Secret update does.
fn replace_file(path: &Path, text: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, text).expect("write file");
    std::fs::rename(&aside, path).expect("rename file");
}

fn hangup(server: &Server) {
    let status =
        std::process::Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().expect("run kill");
    assert!(status.success(), "kill -HUP failed");
}

async fn eventually_status(server: &Server, path: &str, auth: &str, want: u16) {
    let started = std::time::Instant::now();
    loop {
        let r = server.get_as(path, Some(auth)).await;
        if r.status == want {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{path} never answered {want}: {r:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn eventually_log(server: &Server, needle: &str) {
    let started = std::time::Instant::now();
    while !server.log().contains(needle) {
        assert!(started.elapsed() < Duration::from_secs(10), "the log never said {needle:?}:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
