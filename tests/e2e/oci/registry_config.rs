//! `chartroom push`, `pull` and `dependency update` with `oci://` use the credentials `helm
//! registry login` stored (Helm's registry config), as Helm does.

use super::{host, p};
use crate::support::*;

const ALICE_PASS: &str = "alice-registry-config";

async fn logged_in(v: HelmVersion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "users:\n  alice: \"{}\"\ngrants:\n  - to: [alice]\n    tenants: [\"*\"]\n    actions: [pull, push]\n",
        bcrypt_hash(ALICE_PASS)
    );
    let auth = dir.path().join("auth.yaml");
    std::fs::write(&auth, config).expect("write auth config");
    let server = Server::start(&["--depth", "1", "--auth-config", p(&auth)]).await;
    let registry = host(&server);
    let helm = Helm::new(v);
    let cli = Cli::like(&helm);
    let chart = ChartBuilder::chart("stored", "1.0.0").build();
    let file = dir.path().join("stored-1.0.0.tgz");
    std::fs::write(&file, &chart).expect("write chart");
    let target = format!("oci://{registry}/team");

    // Not logged in: refused (exit 6, authentication).
    cli.fail(&["push", p(&file), &target], 6);

    let plain = match v {
        HelmVersion::V3 => "--insecure",
        HelmVersion::V4 => "--plain-http",
    };
    helm.run(&["registry", "login", &registry, "--username", "alice", "--password", ALICE_PASS, plain]);
    let pushed = cli.ok(&["push", p(&file), &target]);
    assert!(pushed.contains(&format!("Pushed: {registry}/team/stored:1.0.0")), "{}: {pushed}", v.label());
    let out = dir.path().join("pulled");
    cli.ok(&["pull", &format!("{target}/stored"), "--version", "1.0.0", "-d", p(&out)]);
    assert_eq!(std::fs::read(out.join("stored-1.0.0.tgz")).expect("pulled"), chart);

    let parent = dir.path().join("parent");
    std::fs::create_dir_all(parent.join("templates")).expect("mkdir");
    std::fs::write(
        parent.join("Chart.yaml"),
        format!("apiVersion: v2\nname: parent\nversion: 0.1.0\ndependencies:\n  - name: stored\n    version: \"1.0.0\"\n    repository: {target}\n"),
    )
    .expect("Chart.yaml");
    cli.ok(&["dependency", "update", p(&parent)]);
    assert_eq!(read_single(&parent.join("charts"), "stored-1.0.0.tgz"), chart);

    // Logged out: refused again.
    helm.run(&["registry", "logout", &registry]);
    cli.fail(&["pull", &format!("{target}/stored"), "--version", "1.0.0", "-d", p(&out)], 6);
}

#[tokio::test]
async fn chartroom_uses_the_login_of_helm3() {
    logged_in(HelmVersion::V3).await;
}

#[tokio::test]
async fn chartroom_uses_the_login_of_helm4() {
    logged_in(HelmVersion::V4).await;
}
