//! Migrating from ChartMuseum: an existing ChartMuseum storage folder (charts plus its
//! `index-cache.yaml`) is served as it is, and keeps the `created` times ChartMuseum published.

use std::fs;

use crate::support::{BOTH_HELMS, ChartBuilder, Helm, Server, sha256_hex};

#[tokio::test]
async fn chartmuseum_folder_is_served_as_is_with_its_created_times() {
    let mut server = Server::start(&[]).await;
    server.stop();
    let dir = server.storage_dir();
    let _ = fs::remove_dir_all(dir.join(".chartroom"));
    let alpha = ChartBuilder::chart("alpha", "1.0.0").build();
    let beta = ChartBuilder::chart("beta", "0.1.0").build();
    fs::write(dir.join("alpha-1.0.0.tgz"), &alpha).unwrap();
    fs::write(dir.join("beta-0.1.0.tgz"), &beta).unwrap();
    // ChartMuseum's statefile is the index it served. beta's digest there is stale (the file was
    // replaced since), so its time must not be reused.
    let statefile = format!(
        "apiVersion: v1\nentries:\n  alpha:\n  - apiVersion: v2\n    created: \"2023-04-05T06:07:08.123456789Z\"\n    \
         digest: {}\n    name: alpha\n    urls:\n    - charts/alpha-1.0.0.tgz\n    version: 1.0.0\n  beta:\n  - apiVersion: v2\n    \
         created: \"2020-01-01T00:00:00Z\"\n    digest: {}\n    name: beta\n    urls:\n    - charts/beta-0.1.0.tgz\n    \
         version: 0.1.0\ngenerated: \"2023-04-05T06:07:09Z\"\nserverInfo: {{}}\n",
        sha256_hex(&alpha),
        "0".repeat(64)
    );
    fs::write(dir.join("index-cache.yaml"), statefile).unwrap();
    server.spawn_and_wait().await;

    let index = server.index().await;
    assert_eq!(index.entries.keys().collect::<Vec<_>>(), ["alpha", "beta"], "index-cache.yaml is not a chart");
    let alpha_entry = &index.entries["alpha"][0];
    assert_eq!(alpha_entry.get("created"), Some("2023-04-05T06:07:08.123456789Z"));
    assert_eq!(alpha_entry.digest(), sha256_hex(&alpha));
    let beta_entry = &index.entries["beta"][0];
    assert_ne!(beta_entry.get("created"), Some("2020-01-01T00:00:00Z"), "a stale statefile time is not reused");
    assert_eq!(beta_entry.digest(), sha256_hex(&beta));

    for version in BOTH_HELMS {
        let helm = Helm::new(version);
        helm.repo_add("migrated", &server.repo_url());
        let found = helm.run(&["search", "repo", "migrated/", "--versions"]);
        assert!(found.contains("migrated/alpha") && found.contains("migrated/beta"), "{}: {found}", version.label());
    }

    // From now on Chartroom's own state is authoritative: a restart keeps the same bytes.
    let before = server.index_bytes().await;
    server.restart().await;
    assert_eq!(server.index_bytes().await, before);
}
