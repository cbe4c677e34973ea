//! The write path at every failure point: each write (upload, upload with provenance, forced
//! overwrite, provenance first, provenance alone, deletes, resync) runs once cleanly to count
//! its storage calls, then once per call with a fault at that call (the call fails; the call
//! takes effect and its answer is lost; the call hangs and the caller gives up, as a client
//! that disconnects or `WRITE_TIMEOUT` does). After each run, storage and index agree, and a
//! retry of the same request succeeds or gets the right conflict.
//!
//! The store is `object_store`'s `InMemory` under [`Faulty`] (and once the local filesystem),
//! seen through a real [`Storage`] (prefix, instrumentation) as every backend is.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chartroom_chart::archive::{self, Limits};
use chartroom_chart::provenance::{self, Vouch};
use chartroom_storage::faulty::{Fault, Faulty};
use chartroom_storage::{Storage, chart_file};
use object_store::ObjectStore;
use object_store::memory::InMemory;

use crate::options::{OverwritePolicy, RepoOptions};
use crate::publish::{PublishError, UnpublishError};
use crate::repo::Repository;
use crate::tenant::Tenant;
use crate::test_fixtures::{signtest, signtest_prov, signtest_recompressed};

mod oci_push;

type Fut<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// How a write ended, as far as these tests care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    /// The right conflict for a retry of a request that took effect (409 or 404).
    Conflict,
    Failed,
    /// The caller gave up waiting (the write goes on without it).
    GaveUp,
}

fn publish_outcome<T>(result: Result<T, PublishError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Done,
        Err(PublishError::Exists(_)) => Outcome::Conflict,
        Err(_) => Outcome::Failed,
    }
}

fn unpublish_outcome(result: Result<(), UnpublishError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Done,
        Err(UnpublishError::VersionNotFound { .. } | UnpublishError::ChartNotFound(_)) => Outcome::Conflict,
        Err(_) => Outcome::Failed,
    }
}

/// One request of the write path, with the state it starts from.
struct Scenario {
    name: &'static str,
    /// Run without faults before the request.
    setup: fn(&Repository, &Storage) -> Fut<'static>,
    request: fn(&Repository) -> Fut<'static>,
    /// What storage must hold once the request (or its retry) succeeded.
    done: fn(Snapshot) -> Result<(), String>,
    /// Whether the request may leave storage ahead of the index when it fails (a resync: it
    /// reads storage; its failure changes nothing, and its retry brings them together).
    agrees_after_failure: bool,
    /// Whether the request is a write of the write path, which goes on when its caller gives up
    /// (a resync is the writer's: it goes on too, but [`Repository::writes_settled`] does not
    /// wait for it; its retry does).
    detached: bool,
}

/// What storage and the index hold after a run.
#[derive(Debug)]
struct Snapshot {
    charts: Vec<String>,
    provenance: Vec<String>,
    /// (name, version, digest, file)
    indexed: Vec<(String, String, String, String)>,
    /// The OCI objects (keys below `.chartroom/oci/`), upload sessions left out.
    oci: Vec<String>,
}

fn hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Storage and index agree: every indexed version's file exists with the indexed digest; every
/// valid archive in storage is indexed exactly once; every provenance file beside an indexed
/// chart vouches for it; no provenance file is left without its chart.
async fn agree(repo: &Repository, storage: &Storage) -> Result<Snapshot, String> {
    let root = Tenant::root();
    let files = storage.list_chart_files().await.map_err(|e| e.to_string())?;
    let indexed: Vec<_> = {
        let index = repo.index(&root).map_err(|e| e.to_string())?;
        index
            .entries()
            .map(|e| (e.name().to_owned(), e.version().to_owned(), e.digest().to_string(), e.file().to_owned()))
            .collect()
    };
    for (name, version, digest, file) in &indexed {
        let bytes = storage.read(file).await.map_err(|e| format!("indexed {name}-{version}: {e}"))?;
        if &hex(&bytes) != digest {
            return Err(format!("{file} holds sha256:{} but the index lists {digest}", hex(&bytes)));
        }
    }
    for chart in &files.charts {
        let bytes = storage.read(&chart.file).await.map_err(|e| e.to_string())?;
        let Ok(loaded) = archive::load_archive(&bytes, &Limits::default()) else { continue };
        let listed = indexed.iter().filter(|(_, _, _, f)| *f == chart.file).count();
        if listed != 1 {
            return Err(format!("{} (a valid archive) is indexed {listed} times", chart.file));
        }
        let name_version = (loaded.metadata.name.as_str(), loaded.metadata.version.as_str());
        if !indexed.iter().any(|(n, v, _, _)| (n.as_str(), v.as_str()) == name_version) {
            return Err(format!("{} is indexed under another version", chart.file));
        }
    }
    for prov in &files.provenance {
        let chart = prov.file.trim_end_matches(".prov");
        let Some((_, _, digest, _)) = indexed.iter().find(|(_, _, _, f)| f == chart) else {
            return Err(format!("{} is stored without its chart", prov.file));
        };
        let bytes = storage.read(&prov.file).await.map_err(|e| e.to_string())?;
        let parsed = provenance::parse(&bytes).map_err(|e| e.to_string())?;
        if let Vouch::Differs { recorded } = parsed.vouches_for(chart, digest) {
            return Err(format!("{} records {recorded} beside a chart of sha256:{digest}", prov.file));
        }
    }
    let oci = oci_agree(repo, storage).await?;
    Ok(Snapshot {
        oci,
        charts: files.charts.iter().map(|c| c.file.clone()).collect(),
        provenance: files.provenance.iter().map(|p| p.file.clone()).collect(),
        indexed,
    })
}

/// The OCI objects: every stored blob and pushed manifest holds the bytes of its digest (none
/// is ever visible in part), and every blob linked into a repository is served there.
async fn oci_agree(repo: &Repository, storage: &Storage) -> Result<Vec<String>, String> {
    let keys: Vec<String> =
        storage.oci_list(&[]).await.map_err(|e| e.to_string())?.into_iter().map(|o| o.file).collect();
    for key in &keys {
        let parts: Vec<&str> = key.split('/').collect();
        match parts[..] {
            ["blobs", "sha256", digest] | ["repos", _, "manifests", digest] => {
                let bytes = storage.oci_read(&parts).await.map_err(|e| e.to_string())?.unwrap_or_default();
                if hex(&bytes) != digest {
                    return Err(format!("{key} holds {} bytes of sha256:{}", bytes.len(), hex(&bytes)));
                }
            }
            ["repos", name, "blobs", digest] => {
                let digest = crate::oci::Digest::parse(&format!("sha256:{digest}")).map_err(|e| e.to_string())?;
                repo.oci_blob_info(&Tenant::root(), name, &digest)
                    .await
                    .map_err(|e| format!("{key} is linked but not served: {e}"))?;
            }
            _ => {}
        }
    }
    Ok(keys.into_iter().filter(|k| !k.starts_with("uploads/") && !k.starts_with("sessions/")).collect())
}

struct Rig {
    faulty: Arc<Faulty<Box<dyn ObjectStore>>>,
    storage: Storage,
    repo: Repository,
    _dir: Option<tempfile::TempDir>,
}

/// A repository over a fresh store (in memory, or a local folder) under the fault injector.
async fn rig(local: bool) -> Rig {
    let (store, dir): (Box<dyn ObjectStore>, _) = if local {
        let dir = tempfile::tempdir().unwrap();
        (Box::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap()), Some(dir))
    } else {
        (Box::new(InMemory::new()), None)
    };
    let faulty = Arc::new(Faulty::new(store));
    let storage = Storage::new(Arc::clone(&faulty) as Arc<dyn ObjectStore>, "", "faulty".into());
    let options = RepoOptions {
        poll_interval: None,
        resync_interval: None,
        statefiles: false,
        overwrite: OverwritePolicy { allow_overwrite: false, disable_force_overwrite: false },
        ..Default::default()
    };
    let (repo, _) = Repository::open(storage.clone(), options).await.unwrap();
    Rig { faulty, storage, repo, _dir: dir }
}

/// The ways a call can go wrong, at call `i`.
#[derive(Debug, Clone, Copy)]
enum Injection {
    Fault(Fault),
    /// The call hangs and the caller gives up (drops the request's future), then storage comes
    /// back: the write must finish or roll back on its own.
    HangAndGiveUp,
}

async fn run_with(scenario: &Scenario, local: bool, at: Option<(usize, Injection)>) -> Result<usize, String> {
    let rig = rig(local).await;
    (scenario.setup)(&rig.repo, &rig.storage).await;
    let before = rig.faulty.call_count();
    let first = match at {
        None => (scenario.request)(&rig.repo).await,
        Some((i, Injection::Fault(fault))) => {
            rig.faulty.inject(None, i, fault);
            (scenario.request)(&rig.repo).await
        }
        Some((i, Injection::HangAndGiveUp)) => {
            rig.faulty.inject(None, i, Fault::Hang);
            let request = (scenario.request)(&rig.repo);
            let hung = async {
                while rig.faulty.hanging() == 0 {
                    tokio::task::yield_now().await;
                }
            };
            tokio::select! {
                outcome = request => outcome,
                () = hung => Outcome::GaveUp,
            }
        }
    };
    // The caller is gone; storage answers again.
    rig.faulty.clear();
    rig.faulty.release();
    rig.repo.writes_settled().await;
    let calls = rig.faulty.call_count() - before;
    let context = |what: &str, e: String| format!("{}: {what} (fault {at:?}): {e}", scenario.name);
    // A write the caller gave up on has finished by now: storage answers again.
    let finished = first == Outcome::Done || (first == Outcome::GaveUp && scenario.detached);
    if finished || scenario.agrees_after_failure {
        let snapshot = agree(&rig.repo, &rig.storage).await.map_err(|e| context("after the request", e))?;
        if finished {
            (scenario.done)(snapshot).map_err(|e| context("done", e))?;
        }
    }
    let retry = (scenario.request)(&rig.repo).await;
    match (first, retry) {
        (_, Outcome::Done) | (Outcome::Done | Outcome::GaveUp, Outcome::Conflict) => {}
        (first, retry) => return Err(context("retry", format!("first {first:?}, retry {retry:?}"))),
    }
    let snapshot = agree(&rig.repo, &rig.storage).await.map_err(|e| context("after the retry", e))?;
    (scenario.done)(snapshot).map_err(|e| context("retry done", e))?;
    rig.repo.shutdown().await;
    Ok(calls)
}

/// Runs `scenario` cleanly, then with each injection at each of its calls; returns the failures.
async fn at_every_call(scenario: &Scenario, local: bool) -> Vec<String> {
    let calls = match run_with(scenario, local, None).await {
        Ok(calls) => calls,
        Err(e) => return vec![format!("clean run: {e}")],
    };
    assert!(calls > 0, "{}: no storage call", scenario.name);
    let injections = [Injection::Fault(Fault::Fail), Injection::Fault(Fault::FailAfter), Injection::HangAndGiveUp];
    let mut failures = Vec::new();
    for i in 0..calls {
        for injection in injections {
            if let Err(e) = run_with(scenario, local, Some((i, injection))).await {
                failures.push(e);
            }
        }
    }
    eprintln!("{}: {calls} storage calls, {} runs with a fault, {} failed", scenario.name, calls * 3, failures.len());
    failures
}

async fn every(scenarios: Vec<Scenario>, local: bool) {
    let mut failures = Vec::new();
    for scenario in scenarios {
        failures.extend(at_every_call(&scenario, local).await);
    }
    assert!(failures.is_empty(), "{} runs failed:\n{}", failures.len(), failures.join("\n"));
}

fn none(_: &Repository, _: &Storage) -> Fut<'static> {
    Box::pin(async { Outcome::Done })
}

/// After a delete: no entry, no archive, no provenance file.
fn nothing_left(s: Snapshot) -> Result<(), String> {
    if s.indexed.is_empty() && s.charts.is_empty() && s.provenance.is_empty() { Ok(()) } else { Err(format!("{s:?}")) }
}

fn only_signtest(digest: String, with_prov: bool) -> impl Fn(Snapshot) -> Result<(), String> {
    move |s: Snapshot| {
        let want = [("signtest".to_owned(), "0.1.0".to_owned(), digest.clone(), "signtest-0.1.0.tgz".to_owned())];
        if s.indexed != want {
            return Err(format!("indexed {:?}", s.indexed));
        }
        let prov = s.provenance == ["signtest-0.1.0.tgz.prov"];
        if prov != with_prov {
            return Err(format!("provenance files {:?}", s.provenance));
        }
        Ok(())
    }
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "raw upload",
            setup: none,
            request: |repo| {
                let repo = repo.clone();
                Box::pin(async move { publish_outcome(repo.publish(&Tenant::root(), signtest(), None, false).await) })
            },
            done: |s| only_signtest(hex(&signtest()), false)(s),
            agrees_after_failure: true,
            detached: true,
        },
        Scenario {
            name: "upload with provenance",
            setup: none,
            request: |repo| {
                let repo = repo.clone();
                Box::pin(async move {
                    publish_outcome(repo.publish(&Tenant::root(), signtest(), Some(signtest_prov()), false).await)
                })
            },
            done: |s| only_signtest(hex(&signtest()), true)(s),
            agrees_after_failure: true,
            detached: true,
        },
        Scenario {
            name: "forced overwrite dropping a stale provenance file",
            setup: |repo, _| {
                let repo = repo.clone();
                Box::pin(async move {
                    publish_outcome(repo.publish(&Tenant::root(), signtest(), Some(signtest_prov()), false).await)
                })
            },
            request: |repo| {
                let repo = repo.clone();
                Box::pin(async move {
                    publish_outcome(repo.publish(&Tenant::root(), signtest_recompressed(), None, true).await)
                })
            },
            done: |s| only_signtest(hex(&signtest_recompressed()), false)(s),
            agrees_after_failure: true,
            detached: true,
        },
        Scenario {
            name: "forced overwrite with provenance",
            setup: |repo, _| {
                let repo = repo.clone();
                Box::pin(async move {
                    publish_outcome(repo.publish(&Tenant::root(), signtest_recompressed(), None, false).await)
                })
            },
            request: |repo| {
                let repo = repo.clone();
                Box::pin(async move {
                    publish_outcome(repo.publish(&Tenant::root(), signtest(), Some(signtest_prov()), true).await)
                })
            },
            done: |s| only_signtest(hex(&signtest()), true)(s),
            agrees_after_failure: true,
            detached: true,
        },
        Scenario {
            name: "provenance file for an indexed chart",
            setup: |repo, _| {
                let repo = repo.clone();
                Box::pin(async move { publish_outcome(repo.publish(&Tenant::root(), signtest(), None, false).await) })
            },
            request: |repo| {
                let repo = repo.clone();
                Box::pin(
                    async move { publish_outcome(repo.put_provenance(&Tenant::root(), signtest_prov(), false).await) },
                )
            },
            done: |s| only_signtest(hex(&signtest()), true)(s),
            agrees_after_failure: true,
            detached: true,
        },
        Scenario {
            name: "chart after its provenance file",
            setup: |repo, storage| {
                let storage = storage.clone();
                let _ = repo;
                Box::pin(async move {
                    storage.put_new("signtest-0.1.0.tgz.prov", signtest_prov()).await.unwrap();
                    Outcome::Done
                })
            },
            request: |repo| {
                let repo = repo.clone();
                Box::pin(async move { publish_outcome(repo.publish(&Tenant::root(), signtest(), None, false).await) })
            },
            done: |s| only_signtest(hex(&signtest()), true)(s),
            // The provenance file waits for its chart: storage is "ahead" until the upload.
            agrees_after_failure: false,
            detached: true,
        },
        Scenario {
            name: "delete a version",
            setup: |repo, _| {
                let repo = repo.clone();
                Box::pin(async move {
                    publish_outcome(repo.publish(&Tenant::root(), signtest(), Some(signtest_prov()), false).await)
                })
            },
            request: |repo| {
                let repo = repo.clone();
                Box::pin(async move { unpublish_outcome(repo.unpublish(&Tenant::root(), "signtest", "0.1.0").await) })
            },
            done: nothing_left,
            agrees_after_failure: true,
            detached: true,
        },
        Scenario {
            name: "delete a chart",
            setup: |repo, _| {
                let repo = repo.clone();
                Box::pin(async move {
                    publish_outcome(repo.publish(&Tenant::root(), signtest(), Some(signtest_prov()), false).await)
                })
            },
            request: |repo| {
                let repo = repo.clone();
                Box::pin(async move { unpublish_outcome(repo.unpublish_chart(&Tenant::root(), "signtest").await) })
            },
            done: nothing_left,
            agrees_after_failure: true,
            detached: true,
        },
        Scenario {
            name: "resync after a chart was copied in",
            setup: |_, storage| {
                let storage = storage.clone();
                Box::pin(async move {
                    storage.put_new(&chart_file("signtest", "0.1.0"), signtest()).await.unwrap();
                    Outcome::Done
                })
            },
            request: |repo| {
                let repo = repo.clone();
                Box::pin(async move {
                    match repo.resync(&Tenant::root()).await {
                        Ok(_) => Outcome::Done,
                        Err(_) => Outcome::Failed,
                    }
                })
            },
            done: |s| only_signtest(hex(&signtest()), false)(s),
            agrees_after_failure: false,
            detached: false,
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_at_every_storage_call_in_memory() {
    every(scenarios(), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_at_every_storage_call_on_a_local_folder() {
    every(scenarios(), true).await;
}

/// Shutdown waits for a write in flight (here: stalled in storage), which then completes; a
/// write after shutdown is refused.
#[tokio::test]
async fn shutdown_waits_for_writes_in_flight() {
    let rig = rig(false).await;
    rig.faulty.inject(Some(chartroom_storage::faulty::Op::Put), 0, Fault::Hang);
    let repo = rig.repo.clone();
    let upload = tokio::spawn(async move { repo.publish(&Tenant::root(), signtest(), None, false).await });
    while rig.faulty.hanging() == 0 {
        tokio::task::yield_now().await;
    }
    upload.abort();
    let repo = rig.repo.clone();
    let shutdown = tokio::spawn(async move { repo.shutdown().await });
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(!shutdown.is_finished(), "shutdown waits for the stalled write");
    rig.faulty.release();
    shutdown.await.unwrap();
    let indexed = rig.repo.index(&Tenant::root()).unwrap().get("signtest", "0.1.0").map(|e| e.digest().to_string());
    assert_eq!(indexed, Some(hex(&signtest())), "the write finished before the writer stopped");
    assert!(rig.storage.head("signtest-0.1.0.tgz").await.is_ok());
    let refused = rig.repo.publish(&Tenant::root(), signtest_recompressed(), None, true).await;
    assert!(matches!(refused, Err(PublishError::Repo(crate::RepoError::Closed))), "{refused:?}");
}
