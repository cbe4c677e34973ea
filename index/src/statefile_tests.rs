//! The binary persisted state at the repository level (issue 16): a restart restores from it
//! without reading archives; damage or a change in storage costs only the entries it touches,
//! which are read again from storage; the JSON state of an older Chartroom is read once.

use bytes::Bytes;
use chartroom_chart::testing::ChartBuilder;
use chartroom_storage::Storage;

use crate::options::RepoOptions;
use crate::repo::Repository;
use crate::state::LEGACY_STATE_FILE;
use crate::statefile::STATE_FILE;
use crate::tenant::Tenant;

fn options() -> RepoOptions {
    RepoOptions { poll_interval: None, resync_interval: None, statefiles: true, ..Default::default() }
}

/// What the index serves of each version (in index order), `generated` aside.
fn served(repo: &Repository) -> Vec<String> {
    let index = repo.index(&Tenant::root()).unwrap();
    index.entries().map(|e| format!("{} {} {}", e.file(), e.created, e.json())).collect()
}

/// `n` charts put in storage out of band, indexed by a cold start that saved its state.
async fn repository_with_state(n: usize) -> (Storage, Vec<String>, Bytes) {
    let storage = Storage::memory();
    for i in 0..n {
        let chart = ChartBuilder::chart(&format!("c{i:02}"), "1.0.0").build();
        storage.put_new(&format!("c{i:02}-1.0.0.tgz"), chart.into()).await.unwrap();
    }
    let (repo, _) = Repository::open(storage.clone(), options()).await.unwrap();
    let before = served(&repo);
    assert_eq!(before.len(), n);
    repo.shutdown().await;
    let state = storage.read_state(STATE_FILE).await.unwrap().expect("the state is saved at shutdown");
    (storage, before, state)
}

/// Opens the repository again: what it serves, and how many objects it read (state included).
async fn restart(storage: &Storage) -> (Vec<String>, u64) {
    let gets = storage.request_counts().get;
    let (repo, _) = Repository::open(storage.clone(), options()).await.unwrap();
    let read = storage.request_counts().get - gets;
    let got = served(&repo);
    repo.shutdown().await;
    (got, read)
}

/// The entries a start of `storage` indexes, in index order.
async fn indexed(storage: &Storage) -> Vec<std::sync::Arc<crate::entry::Entry>> {
    let (repo, _) = Repository::open(storage.clone(), options()).await.unwrap();
    let entries = repo.index(&Tenant::root()).unwrap().entries().cloned().collect();
    repo.shutdown().await;
    entries
}

#[tokio::test]
async fn a_restart_reads_the_state_and_no_archive() {
    let (storage, before, _) = repository_with_state(10).await;
    let (after, read) = restart(&storage).await;
    assert_eq!(after, before);
    assert_eq!(read, 1, "the state only");
}

#[tokio::test]
async fn a_damaged_or_truncated_state_costs_only_the_charts_it_no_longer_describes() {
    let (storage, before, state) = repository_with_state(10).await;
    // The test build closes a block every 4 entries: blocks of 4, 4 and 2. The last bytes are
    // the last block's checksum.
    let mut damaged = state.to_vec();
    let last = damaged.len() - 2;
    damaged[last] ^= 0xff;
    storage.write_state(STATE_FILE, damaged.into()).await.unwrap();
    let (after, read) = restart(&storage).await;
    assert_eq!(after, before);
    assert_eq!(read, 1 + 2, "the state and the 2 charts of its damaged block");

    storage.write_state(STATE_FILE, state.slice(..state.len() - 1)).await.unwrap();
    let (after, read) = restart(&storage).await;
    assert_eq!(after, before);
    assert_eq!(read, 1 + 2, "the state and the 2 charts of its truncated block");

    // The header (and so the whole state): every chart is read again, the start goes on.
    let mut damaged = state.to_vec();
    damaged[14] ^= 1;
    storage.write_state(STATE_FILE, damaged.into()).await.unwrap();
    // (Without a usable state, ChartMuseum's `index-cache.yaml` is looked for: one more read.)
    let (after, read) = restart(&storage).await;
    assert_eq!(after, before);
    assert_eq!(read, 1 + 1 + 10);

    storage.write_state(STATE_FILE, Bytes::from_static(b"garbage")).await.unwrap();
    assert_eq!(restart(&storage).await, (before, 1 + 1 + 10));
}

#[tokio::test]
async fn only_an_entry_that_storage_no_longer_holds_as_recorded_is_read_again() {
    let (storage, before, _) = repository_with_state(10).await;
    let other = ChartBuilder::chart("c03", "1.0.0").file("README.md", "other bytes\n").build();
    storage.delete("c03-1.0.0.tgz").await.unwrap();
    storage.put_new("c03-1.0.0.tgz", other.into()).await.unwrap();
    let (after, read) = restart(&storage).await;
    assert_eq!(read, 1 + 1, "the state and the changed archive");
    let changed: Vec<usize> = (0..10).filter(|&i| after[i] != before[i]).collect();
    assert_eq!(changed, [3], "only the changed chart differs");
}

#[tokio::test]
async fn the_json_state_of_an_older_chartroom_is_read_once_then_replaced() {
    let (storage, before, _) = repository_with_state(6).await;
    let legacy = crate::state::encode(jiff::Timestamp::UNIX_EPOCH, &indexed(&storage).await).unwrap();
    storage.delete_state(STATE_FILE).await.unwrap();
    storage.write_state(LEGACY_STATE_FILE, legacy.into()).await.unwrap();

    let (after, read) = restart(&storage).await;
    assert_eq!(after, before);
    assert_eq!(read, 2, "no binary state, then the JSON one; no archive");
    assert!(storage.read_state(LEGACY_STATE_FILE).await.unwrap().is_none(), "read once, then deleted");
    assert!(storage.read_state(STATE_FILE).await.unwrap().is_some(), "the binary state written instead");
    assert_eq!(restart(&storage).await, (before, 1));
}

/// A state whose entries claim one file under two versions (edited by hand, or written by
/// something else): which of them the file holds cannot be told without reading it, so the
/// file is read from storage and the version that storage does not hold is not served.
#[tokio::test]
async fn two_entries_of_a_state_that_claim_one_file_are_both_read_from_storage() {
    let (storage, before, _) = repository_with_state(3).await;
    let legacy = {
        let mut entries = indexed(&storage).await;
        // c01's entry, recorded at c00's file (same size and ETag as storage lists it).
        let claimed = entries[0].object();
        let c01 = &entries[1];
        let metadata = serde_json::from_str(c01.metadata_json()).unwrap();
        let render = crate::entry::RenderConfig::default();
        entries[1] = std::sync::Arc::new(
            crate::entry::Entry::new(metadata, c01.digest().to_string(), c01.created, claimed, &render).unwrap(),
        );
        crate::state::encode(jiff::Timestamp::UNIX_EPOCH, &entries).unwrap()
    };
    storage.delete("c01-1.0.0.tgz").await.unwrap();
    storage.delete_state(STATE_FILE).await.unwrap();
    storage.write_state(LEGACY_STATE_FILE, legacy.into()).await.unwrap();

    let (after, read) = restart(&storage).await;
    assert_eq!(after, [before[0].clone(), before[2].clone()], "c01 is no longer stored; c00 is what its file holds");
    assert_eq!(read, 2 + 1, "no binary state, the JSON one, and the contested file");
}

/// The state is restored while storage is listed; the listing then decides. An archive copied
/// over with the same bytes (a new ETag) is read again and keeps its `created` time; one
/// deleted while the server was down is reported removed, and the state is written anew.
#[tokio::test]
async fn what_changed_while_the_server_was_down_is_found_after_the_restore() {
    let (storage, before, state) = repository_with_state(4).await;
    let same = storage.read("c01-1.0.0.tgz").await.unwrap();
    storage.delete("c01-1.0.0.tgz").await.unwrap();
    storage.put_new("c01-1.0.0.tgz", same).await.unwrap();
    storage.delete("c02-1.0.0.tgz").await.unwrap();

    let gets = storage.request_counts().get;
    let (repo, report) = Repository::open(storage.clone(), options()).await.unwrap();
    assert_eq!(storage.request_counts().get - gets, 1 + 1, "the state and the archive copied over");
    assert_eq!((report.unchanged, report.updated, report.removed, report.added), (2, 1, 1, 0));
    let after = served(&repo);
    assert_eq!(after, [before[0].clone(), before[1].clone(), before[3].clone()], "same bytes, same entry");
    // The body rendered from the restored state before the listing was in follows it too.
    let snapshot = repo.snapshot(&Tenant::root()).unwrap();
    let body: Vec<u8> = snapshot.primary().chunks.iter().flat_map(|c| c.iter().copied()).collect();
    let body = String::from_utf8(body).unwrap();
    let charts: Vec<&str> = body.lines().filter(|l| l.starts_with("  c")).collect();
    assert_eq!(charts, ["  c00:", "  c01:", "  c03:"]);
    repo.shutdown().await;
    let rewritten = storage.read_state(STATE_FILE).await.unwrap().expect("saved");
    assert_ne!(rewritten, state, "the state no longer records c02");
    assert_eq!(restart(&storage).await, (after, 1));
}
