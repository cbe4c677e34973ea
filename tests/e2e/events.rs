//! The change feed (`GET /api/events`) of three replicas on one S3 bucket (s3s-fs): uploads and
//! deletes through all three, followed from each replica (while the uploads run and afterwards,
//! and hopping between replicas): every change exactly once, in one order everywhere; cursors
//! that survive a replica's restart; a long poll that returns with the push it waited for.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::replicas::replicas;
use crate::support::*;

/// (op, name, version): each version below is uploaded once and deleted at most once, so this
/// names one change.
type Event = (String, String, String);

/// One answer of `server`'s feed after `cursor`.
async fn read(server: &Server, cursor: &str, wait: &str) -> (Vec<Event>, String) {
    let r = server.get(&format!("/api/events?since={cursor}&wait={wait}&limit=5")).await;
    r.assert_status(200);
    let v = r.json();
    let events = v["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().expect(k).to_owned();
            (s("op"), s("name"), s("version"))
        })
        .collect();
    (events, v["next"].as_str().expect("next").to_owned())
}

/// Follows the feed from `cursor` until `want` changes arrived, reading from the servers in
/// turn (`servers[0]` only, or hopping); each read long-polls.
async fn follow(servers: &[&Server], cursor: &str, want: usize) -> (Vec<Event>, String) {
    let mut cursor = cursor.to_owned();
    let mut seen = Vec::new();
    let mut turn = 0;
    while seen.len() < want {
        let (events, next) = read(servers[turn % servers.len()], &cursor, "10s").await;
        assert!(!events.is_empty(), "a 10 s long poll returned nothing after {} of {want} changes", seen.len());
        seen.extend(events);
        cursor = next;
        turn += 1;
    }
    (seen, cursor)
}

fn assert_each_once(seen: &[Event], expected: &BTreeSet<Event>, who: &str) {
    let distinct: BTreeSet<Event> = seen.iter().cloned().collect();
    assert_eq!(distinct.len(), seen.len(), "{who}: a change delivered twice: {seen:?}");
    assert_eq!(&distinct, expected, "{who}: not every change, or others");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_of_any_replica_see_every_change_once_in_one_order() {
    let (_s3, _target, servers) = replicas(3).await;
    // Where the feed stands before anything happened, from the first replica.
    let (none, start) = read(&servers[0], "", "0s").await;
    assert!(none.is_empty(), "{none:?}");

    // 30 uploads and 6 deletes through all three replicas, 3 clients at once, while one follower
    // per replica follows the feed.
    let mut expected = BTreeSet::new();
    for i in 0..30 {
        expected.insert(("put".to_owned(), format!("feed{}", i % 5), format!("1.{i}.0")));
    }
    for i in (0..30).step_by(5) {
        expected.insert(("delete".to_owned(), format!("feed{}", i % 5), format!("1.{i}.0")));
    }
    let total = expected.len();
    let shared = Arc::new(servers);
    let followers: Vec<_> = (0..3)
        .map(|n| {
            let (servers, start) = (shared.clone(), start.clone());
            tokio::spawn(async move { follow(&[&servers[n]], &start, total).await })
        })
        .collect();
    let next = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..3)
        .map(|client| {
            let (servers, next) = (shared.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= 30 {
                        return;
                    }
                    let via = &servers[(i + client) % 3];
                    let (name, version) = (format!("feed{}", i % 5), format!("1.{i}.0"));
                    via.upload_ok(ChartBuilder::chart(&name, &version).build()).await;
                    if i % 5 == 0 {
                        // Deleted through another replica (the 201 means it is in the bucket).
                        servers[(i + client + 1) % 3]
                            .delete(&format!("/api/charts/{name}/{version}"))
                            .await
                            .assert_status(200);
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    let mut live = Vec::new();
    for f in followers {
        live.push(f.await.expect("follower"));
    }
    let servers = Arc::try_unwrap(shared).ok().expect("tasks done");
    let (a, b, c) = (&servers[0], &servers[1], &servers[2]);

    // Afterwards: from the same start, from each replica, and hopping between them.
    let mut afterwards = Vec::new();
    for s in [a, b, c] {
        afterwards.push(follow(&[s], &start, total).await);
    }
    let hopping = follow(&[b, c, a], &start, total).await;

    let order = &afterwards[0].0;
    assert_each_once(order, &expected, "replica 0 afterwards");
    for (n, (seen, _)) in live.iter().enumerate() {
        assert_each_once(seen, &expected, &format!("live follower of replica {n}"));
        assert_eq!(seen, order, "live follower of replica {n}: another order");
    }
    for (n, (seen, next)) in afterwards.iter().enumerate() {
        assert_eq!(seen, order, "replica {n} afterwards: another order");
        // Nothing more: the cursor is at the end, on every replica.
        for s in [a, b, c] {
            assert_eq!(read(s, next, "0s").await.0, Vec::<Event>::new());
        }
    }
    assert_eq!(&hopping.0, order, "a follower hopping between replicas");
    // The cursors of followers at the end name the same positions, whichever replica made them.
    let positions = |c: &str| c.split('.').skip(2).map(str::to_owned).collect::<Vec<_>>();
    for (_, next) in afterwards.iter().chain(live.iter()).chain([&hopping]) {
        assert_eq!(positions(next), positions(&afterwards[0].1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_survives_a_restart_and_a_long_poll_returns_with_the_push() {
    let (_s3, _target, mut servers) = replicas(3).await;
    servers[0].upload_ok(ChartBuilder::chart("keep", "1.0.0").build()).await;
    let (seen, cursor) = follow(&[&servers[1]], "", 1).await;
    assert_eq!(seen, [("put".to_owned(), "keep".to_owned(), "1.0.0".to_owned())]);

    // The replica that wrote it restarts (a new process, a new log): the cursor still reads on.
    servers[0].restart().await;
    servers[0].upload_ok(ChartBuilder::chart("keep", "2.0.0").build()).await;
    let (seen, cursor) = follow(&[&servers[0]], &cursor, 1).await;
    assert_eq!(seen, [("put".to_owned(), "keep".to_owned(), "2.0.0".to_owned())]);
    let (more, _) = read(&servers[2], &cursor, "0s").await;
    assert!(more.is_empty(), "nothing is delivered twice after the restart: {more:?}");

    // A long poll on one replica, then a push through another: it returns with that push.
    let servers = Arc::new(servers);
    let poll = {
        let (servers, cursor) = (servers.clone(), cursor.clone());
        tokio::spawn(async move { read(&servers[2], &cursor, "30s").await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!poll.is_finished(), "the long poll waits while nothing changes");
    servers[1].upload_ok(ChartBuilder::chart("keep", "3.0.0").build()).await;
    let (events, _) = poll.await.expect("poll");
    assert_eq!(events, [("put".to_owned(), "keep".to_owned(), "3.0.0".to_owned())]);
}
