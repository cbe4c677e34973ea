//! The OCI push at every failure point (issue 17): a blob in one request, a chunked upload
//! (`POST`, `PATCH`, `PATCH`, `PUT`; the blob assembled in memory, and streamed into a multipart
//! write), and the manifest `PUT` that publishes the chart, each with a fault at each storage
//! call in turn (see the parent module). Besides the parent's agreement of storage and index,
//! [`super::agree`] checks the OCI objects: every stored blob and manifest holds the bytes of its
//! digest (nothing partial is ever visible) and every blob linked into a repository is served.

use bytes::Bytes;
use chartroom_chart::archive::{self, Limits};
use chartroom_chart::oci::{self as helm_oci, Descriptor};

use super::{Outcome, Scenario, Snapshot, every, hex, none, only_signtest};
use crate::oci::{Digest, OciError, Reference, UploadLimits, Uploads, media};
use crate::repo::Repository;
use crate::tenant::Tenant;
use crate::test_fixtures::signtest;

fn oci_outcome<T>(result: Result<T, OciError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Done,
        Err(_) => Outcome::Failed,
    }
}

/// Upload sessions of `repo`; `streamed`: every chunked blob is assembled by a streamed write.
fn uploads(repo: &Repository, streamed: bool) -> Uploads {
    let mut limits = UploadLimits::with_max_size(1 << 20);
    if streamed {
        limits.assemble_in_memory = 0;
    }
    Uploads::new(repo.clone(), limits)
}

/// The Helm config blob of `signtest` (as `helm push` writes it).
fn config_blob() -> Bytes {
    let loaded = archive::load_archive(&signtest(), &Limits::default()).unwrap();
    Bytes::from(helm_oci::config_json(&loaded.metadata).unwrap())
}

/// The manifest `helm push` sends for `signtest`.
fn manifest() -> Bytes {
    let config = config_blob();
    let config = Descriptor {
        media_type: media::HELM_CONFIG.into(),
        digest: Digest::of(&config).to_string(),
        size: config.len() as u64,
    };
    let chart = signtest();
    let layer = Descriptor {
        media_type: media::HELM_CHART.into(),
        digest: Digest::of(&chart).to_string(),
        size: chart.len() as u64,
    };
    Bytes::from(helm_oci::manifest_json(&config, &[layer], &Default::default()).unwrap())
}

/// The chart archive is stored as a blob of repository `signtest`.
fn blob_linked(s: Snapshot) -> Result<(), String> {
    let digest = hex(&signtest());
    let want = [format!("blobs/sha256/{digest}"), format!("repos/signtest/blobs/{digest}")];
    if want.iter().all(|k| s.oci.contains(k)) && s.indexed.is_empty() { Ok(()) } else { Err(format!("{s:?}")) }
}

/// The chart is published (indexed, its archive stored) and its pushed manifest kept.
fn chart_pushed(s: Snapshot) -> Result<(), String> {
    let want = [format!("repos/signtest/manifests/{}", hex(&manifest())), "repos/signtest/charts/0.1.0".to_owned()];
    if !want.iter().all(|k| s.oci.contains(k)) {
        return Err(format!("manifest not kept: {s:?}"));
    }
    only_signtest(hex(&signtest()), false)(s)
}

fn chunked(streamed: bool) -> Scenario {
    Scenario {
        name: if streamed { "OCI chunked upload, streamed assembly" } else { "OCI chunked upload, in memory" },
        setup: none,
        request: if streamed { chunked_streamed } else { chunked_in_memory },
        done: blob_linked,
        agrees_after_failure: true,
        detached: false,
    }
}

fn chunked_streamed(repo: &Repository) -> super::Fut<'static> {
    Box::pin(chunked_upload(repo.clone(), true))
}

fn chunked_in_memory(repo: &Repository) -> super::Fut<'static> {
    Box::pin(chunked_upload(repo.clone(), false))
}

/// `POST`, two `PATCH`es, `PUT ?digest=` with the last bytes.
async fn chunked_upload(repo: Repository, streamed: bool) -> Outcome {
    let run = async {
        let (root, uploads) = (Tenant::root(), uploads(&repo, streamed));
        let chart = signtest();
        let (a, b) = (chart.len() / 3, 2 * chart.len() / 3);
        let id = uploads.start(&root, "signtest", "tester").await?.id;
        uploads.append(&root, "signtest", &id, Some(0), chart.slice(..a)).await?;
        uploads.append(&root, "signtest", &id, Some(a as u64), chart.slice(a..b)).await?;
        uploads.finish(&root, "signtest", &id, chart.slice(b..), &Digest::of(&chart)).await
    };
    oci_outcome(run.await)
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "OCI blob in one request",
            setup: none,
            request: |repo| {
                let repo = repo.clone();
                Box::pin(async move {
                    let chart = signtest();
                    let digest = Digest::of(&chart);
                    oci_outcome(uploads(&repo, false).put_blob(&Tenant::root(), "signtest", &digest, chart).await)
                })
            },
            done: blob_linked,
            agrees_after_failure: true,
            detached: false,
        },
        chunked(false),
        chunked(true),
        Scenario {
            name: "OCI manifest push publishing the chart",
            setup: |repo, _| {
                let repo = repo.clone();
                Box::pin(async move {
                    let uploads = uploads(&repo, false);
                    for blob in [config_blob(), signtest()] {
                        uploads.put_blob(&Tenant::root(), "signtest", &Digest::of(&blob), blob).await.unwrap();
                    }
                    Outcome::Done
                })
            },
            request: |repo| {
                let repo = repo.clone();
                Box::pin(async move {
                    let tag = Reference::Tag("0.1.0".into());
                    let put = repo
                        .oci_put_manifest(&Tenant::root(), "signtest", &tag, Some(media::IMAGE_MANIFEST), manifest())
                        .await;
                    oci_outcome(put)
                })
            },
            done: chart_pushed,
            agrees_after_failure: true,
            detached: false,
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_oci_push_step_at_every_storage_call_in_memory() {
    every(scenarios(), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_oci_push_step_at_every_storage_call_on_a_local_folder() {
    every(scenarios(), true).await;
}
