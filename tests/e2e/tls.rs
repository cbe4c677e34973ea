//! HTTPS (issue 13): certificates made by `openssl` in the test (a CA, server and client
//! certificates); real Helm 3.17 and 4.1 (`helm repo add --ca-file`, `helm pull`, mTLS with
//! `--cert-file --key-file`), HTTP/2 negotiated by `curl --http2`, the `chartroom` client and
//! `healthcheck` with their TLS flags and `repositories.yaml` fields, a certificate replaced on disk
//! while a client keeps requesting (no request fails, the new certificate is served, a broken
//! file keeps the old one), and the start refused for a bad or mismatched pair.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// A server with `cert` and, for mTLS, client certificates from `client_ca`.
async fn https_server(pki: &Pki, cert: &Issued, client: Option<(&Pki, &Issued)>, extra: &[&str]) -> Server {
    let mut args: Vec<String> =
        vec!["--tls-cert".into(), p(&cert.cert).into(), "--tls-key".into(), p(&cert.key).into()];
    if let Some((client_ca, _)) = client {
        args.extend(["--tls-ca-cert".into(), p(&client_ca.ca_cert()).into()]);
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    let tls = TlsClient { ca_pem: pki.ca_pem(), identity_pem: client.map(|(_, id)| id.identity_pem()) };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::launch(Launch::new(StorageTarget::from_env()).args(&args).tls(tls)).await
}

fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl").args(["-sS", "--noproxy", "*"]).args(args).output().expect("curl is installed");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test]
async fn helm_pulls_over_https_and_http2_is_negotiated() {
    let pki = Pki::new("repo");
    let cert = pki.server("server", "chartroom.test");
    let server = https_server(&pki, &cert, None, &[]).await;
    server.upload_ok(ChartBuilder::chart("secure", "1.2.0").build()).await;
    let ca = pki.ca_cert();
    for version in BOTH_HELMS {
        let helm = Helm::new(version);
        helm.run(&["repo", "add", "sec", &server.repo_url(), "--ca-file", p(&ca)]);
        let dest = helm.work_dir("pulled");
        helm.run(&["pull", "sec/secure", "--version", "1.2.0", "-d", p(&dest)]);
        assert!(dest.join("secure-1.2.0.tgz").is_file(), "{}: pulled over HTTPS", helm.label());
        // Without the CA the server's certificate is not trusted.
        let refused = helm.run_fail(&["repo", "add", "nope", &server.repo_url()]);
        assert!(refused.contains("certificate"), "{}: {refused}", helm.label());
    }
    let url = server.url("/index.yaml");
    let (ok, version) = curl(&["--http2", "--cacert", p(&ca), "-o", "/dev/null", "-w", "%{http_version}", &url]);
    assert!(ok && version == "2", "HTTP/2 over TLS through ALPN: {version}");
    let (ok, version) = curl(&["--http1.1", "--cacert", p(&ca), "-o", "/dev/null", "-w", "%{http_version}", &url]);
    assert!(ok && version == "1.1", "HTTP/1.1 still offered: {version}");
    // Plain HTTP on the TLS port gets no answer.
    let plain = new_client().get(format!("http://127.0.0.1:{}/health", server.port())).send().await;
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true), "plain HTTP must not be served on the TLS port");

    // The chartroom client: the CA by flag, or from repositories.yaml (helm repo add --ca-file).
    let cli = Cli::empty();
    let dest = server.temp_dir().join("cli-pull");
    cli.ok(&["pull", "secure", "--repo", &server.repo_url(), "--ca-file", p(&ca), "-d", p(&dest)]);
    assert!(dest.join("secure-1.2.0.tgz").is_file());
    let out = cli.run(&["search", &server.repo_url()]);
    assert_eq!(out.code, 5, "no CA, no trust: {}", out.stderr);
    let helm = Helm::new(HelmVersion::V3);
    helm.run(&["repo", "add", "named", &server.repo_url(), "--ca-file", p(&ca)]);
    let listed = Cli::like(&helm).ok(&["search", "named"]);
    assert!(listed.contains("secure"), "repositories.yaml caFile is applied: {listed}");
    // The container healthcheck speaks HTTPS when the server has a certificate.
    let port = server.port().to_string();
    let healthy = cli.ok(&["healthcheck", "--port", &port, "--tls-cert", p(&cert.cert)]);
    assert!(healthy.contains("healthy"));
    cli.ok(&["healthcheck", "--port", &port, "--tls-cert", p(&cert.cert), "--ca-file", p(&ca)]);
}

#[tokio::test]
async fn mtls_requires_a_client_certificate_signed_by_the_ca() {
    let pki = Pki::new("server");
    let cert = pki.server("server", "chartroom.test");
    let clients = Pki::new("clients");
    let alice = clients.client("alice", "alice");
    let server = https_server(&pki, &cert, Some((&clients, &alice)), &[]).await;
    server.upload_ok(ChartBuilder::chart("private", "0.1.0").build()).await;

    let ca = pki.ca_cert();
    let without = TlsClient { ca_pem: pki.ca_pem(), identity_pem: None }.client();
    assert!(without.get(server.url("/index.yaml")).send().await.is_err(), "no client certificate, no answer");
    let other_ca = Pki::new("other");
    let stranger = other_ca.client("mallory", "mallory");
    let wrong = TlsClient { ca_pem: pki.ca_pem(), identity_pem: Some(stranger.identity_pem()) }.client();
    assert!(wrong.get(server.url("/index.yaml")).send().await.is_err(), "a certificate of another CA is refused");
    server.get("/index.yaml").await.assert_status(200);

    for version in BOTH_HELMS {
        let helm = Helm::new(version);
        let refused = helm.run_fail(&["repo", "add", "m", &server.repo_url(), "--ca-file", p(&ca)]);
        assert!(!refused.is_empty(), "{}: refused without a client certificate", helm.label());
        helm.run(&[
            "repo",
            "add",
            "m",
            &server.repo_url(),
            "--ca-file",
            p(&ca),
            "--cert-file",
            p(&alice.cert),
            "--key-file",
            p(&alice.key),
        ]);
        let dest = helm.work_dir("mtls");
        helm.run(&["pull", "m/private", "-d", p(&dest)]);
        assert!(dest.join("private-0.1.0.tgz").is_file(), "{}", helm.label());
        if version == HelmVersion::V4 {
            // repositories.yaml's certFile/keyFile are applied by the chartroom client too.
            let found = Cli::like(&helm).ok(&["search", "m"]);
            assert!(found.contains("private"), "{found}");
        }
    }
    let cli = Cli::empty();
    let chart = server.temp_dir().join("pushed-0.2.0.tgz");
    std::fs::write(&chart, ChartBuilder::chart("pushed", "0.2.0").build()).unwrap();
    let tls_flags = ["--ca-file", p(&ca), "--cert-file", p(&alice.cert), "--key-file", p(&alice.key)];
    let repo_url = server.repo_url();
    let mut push = vec!["push", p(&chart), &repo_url];
    push.extend(tls_flags);
    cli.ok(&push);
    let out = cli.run(&["push", p(&chart), &server.repo_url(), "--ca-file", p(&ca)]);
    assert_eq!(out.code, 5, "push without a client certificate: {}", out.stderr);
    let port = server.port().to_string();
    let mut health = vec!["healthcheck", "--port", &port, "--tls-cert", p(&cert.cert)];
    let out = cli.run(&health);
    assert_ne!(out.code, 0, "the probe needs a client certificate too: {}", out.stderr);
    health.extend(["--cert-file", p(&alice.cert), "--key-file", p(&alice.key)]);
    cli.ok(&health);
}

/// Whether the certificate the server presents now has `cn` in its subject.
async fn served_cn(client: &reqwest::Client, url: &str, cn: &str) -> Result<bool, reqwest::Error> {
    let r = client.get(url).send().await?;
    let der = r.extensions().get::<reqwest::tls::TlsInfo>().and_then(|i| i.peer_certificate()).map(<[u8]>::to_vec);
    assert_eq!(r.status(), 200);
    Ok(der.is_some_and(|der| der.windows(cn.len()).any(|w| w == cn.as_bytes())))
}

#[tokio::test]
async fn a_certificate_replaced_on_disk_is_served_without_a_failed_request() {
    let pki = Pki::new("rotation");
    let first = pki.server("first", "first-cert");
    let live = pki.dir().join("live");
    std::fs::create_dir_all(&live).unwrap();
    let (cert, key) = (live.join("tls.crt"), live.join("tls.key"));
    std::fs::copy(&first.cert, &cert).unwrap();
    std::fs::copy(&first.key, &key).unwrap();
    let issued = Issued { cert: cert.clone(), key: key.clone() };
    let server = https_server(&pki, &issued, None, &["--tls-reload-interval", "200ms"]).await;
    let tls = TlsClient { ca_pem: pki.ca_pem(), identity_pem: None };
    // New connections for every request, so every request goes through a handshake.
    let fresh = tls.builder().pool_max_idle_per_host(0).tls_info(true).build().unwrap();
    let kept = tls.builder().tls_info(true).build().unwrap();
    let url = server.url("/index.yaml");
    assert!(served_cn(&fresh, &url, "first-cert").await.unwrap());
    assert!(served_cn(&kept, &url, "first-cert").await.unwrap());

    // A broken file at reload keeps the old certificate.
    std::fs::write(&cert, b"-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server.log().contains("cannot be used") {
        assert!(Instant::now() < deadline, "the refused reload is logged:\n{}", server.log());
        assert!(served_cn(&fresh, &url, "first-cert").await.expect("requests keep working"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // cert-manager's rotation: new files swapped in while clients keep requesting.
    let second = pki.server("second", "second-cert");
    let staged = live.join("staged");
    std::fs::create_dir_all(&staged).unwrap();
    std::fs::copy(&second.key, staged.join("tls.key")).unwrap();
    std::fs::copy(&second.cert, staged.join("tls.crt")).unwrap();
    std::fs::rename(staged.join("tls.key"), &key).unwrap();
    std::fs::rename(staged.join("tls.crt"), &cert).unwrap();
    let mut requests = 0;
    loop {
        requests += 1;
        let now_second = served_cn(&fresh, &url, "second-cert").await.expect("no request fails during rotation");
        kept.get(&url).send().await.expect("an open connection survives the rotation");
        if now_second {
            break;
        }
        assert!(Instant::now() < deadline, "the new certificate is served within the reload interval");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(requests >= 1);
    assert!(server.log().contains("TLS certificate reloaded"), "{}", server.log());
    server.get("/health/ready").await.assert_status(200);
}

#[test]
fn a_bad_or_mismatched_pair_stops_the_start_with_a_clear_message() {
    let pki = Pki::new("bad");
    let one = pki.server("one", "one");
    let two = pki.server("two", "two");
    let dir = tempfile::tempdir().unwrap();
    let start = |cert: &Path, key: &Path| {
        let out = Command::new(chartroom_testkit::tools::chartroom_binary())
            .args(["serve", "--listen-host", "127.0.0.1", "--port", "0", "--storage-local-rootdir"])
            .arg(dir.path())
            .args(["--tls-cert", p(cert), "--tls-key", p(key)])
            .output()
            .expect("run chartroom");
        assert!(!out.status.success(), "the start must fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let mismatched = start(&one.cert, &two.key);
    assert!(mismatched.contains("does not belong to the certificate"), "{mismatched}");
    let missing = start(&dir.path().join("none.pem"), &one.key);
    assert!(missing.contains("cannot read") && missing.contains("none.pem"), "{missing}");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let not_pem = start(&garbage, &one.key);
    assert!(not_pem.contains("holds no PEM certificate"), "{not_pem}");
    let no_key = start(&one.cert, &one.cert);
    assert!(no_key.contains("holds no PEM private key"), "{no_key}");
}
