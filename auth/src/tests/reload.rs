//! The verification cache, the blocking-pool path, reloads and the file watcher.

use super::*;
use crate::{Action, AuthStats, CacheSettings, Decision, Reason};
use std::time::Duration;

fn config_with(dir: &Dir, users: &[(&str, &str)], tenant: &str) -> PathBuf {
    let mut text = String::from("users:\n");
    for (user, password) in users {
        text.push_str(&format!("  {user}: \"{}\"\n", bcrypt_hash(password)));
    }
    let names = users.iter().map(|(user, _)| *user).collect::<Vec<_>>().join(", ");
    text.push_str(&format!("grants:\n  - to: [{names}]\n    tenants: [{tenant}]\n    actions: [pull]\n"));
    dir.write("auth.yaml", &text)
}

#[test]
fn a_cache_hit_does_not_run_bcrypt_again() {
    let dir = Dir::new();
    let auth = auth_with_file(&config_with(&dir, &[("alice", "pw")], "a"));
    let header = basic("alice", "pw");
    authenticate(&auth, &header);
    assert_eq!(auth.stats(), AuthStats { hash_verifications: 1, ..AuthStats::default() });
    for _ in 0..5 {
        authenticate(&auth, &header);
    }
    assert_eq!(auth.stats(), AuthStats { hash_verifications: 1, cache_hits: 5, ..AuthStats::default() });

    // Failures are never cached: each wrong password pays the hash again.
    for _ in 0..2 {
        let wrong = auth.authenticator().authenticate(Some(&basic("alice", "nope"))).expect_err("wrong");
        assert_eq!(wrong.reason, Reason::BadPassword);
    }
    assert_eq!(auth.stats(), AuthStats { hash_verifications: 3, cache_hits: 5, ..AuthStats::default() });
}

#[test]
fn a_disabled_cache_verifies_every_time() {
    let dir = Dir::new();
    let settings = crate::AuthSettings {
        config_file: Some(config_with(&dir, &[("alice", "pw")], "a")),
        cache: CacheSettings { ttl: Duration::from_secs(30), capacity: 0 },
        ..crate::AuthSettings::default()
    };
    let auth = Auth::new(settings).expect("auth");
    for _ in 0..3 {
        authenticate(&auth, &basic("alice", "pw"));
    }
    assert_eq!(auth.stats(), AuthStats { hash_verifications: 3, ..AuthStats::default() });
}

#[test]
fn unknown_users_cost_a_decoy_verification() {
    let dir = Dir::new();
    let auth = auth_with_file(&config_with(&dir, &[("alice", "pw")], "a"));
    let error = auth.authenticator().authenticate(Some(&basic("mallory", "pw"))).expect_err("unknown");
    assert_eq!(error.reason, Reason::UnknownUser);
    assert_eq!(auth.stats().hash_verifications, 1, "as long as a known user's check");
    // Even with the password of the user whose hash is the decoy.
    let error = auth.authenticator().authenticate(Some(&basic("mallory", "pw"))).expect_err("unknown");
    assert_eq!(error.reason, Reason::UnknownUser);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_path_verifies_on_the_blocking_pool_and_uses_the_cache() {
    let dir = Dir::new();
    let settings = crate::AuthSettings {
        config_file: Some(config_with(&dir, &[("alice", "pw"), ("bob", "pw2")], "a")),
        max_concurrent_verifications: 1,
        ..crate::AuthSettings::default()
    };
    let auth = Auth::new(settings).expect("auth");
    let authenticator = auth.authenticator();
    // Concurrent first logins queue on the single permit and all succeed.
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let authenticator = authenticator.clone();
            let header = if i % 2 == 0 { basic("alice", "pw") } else { basic("bob", "pw2") };
            tokio::spawn(async move { authenticator.authenticate_async(Some(&header)).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("authenticated");
    }
    let verified = auth.stats().hash_verifications;
    assert!((2..=4).contains(&verified), "{verified}");
    let before = auth.stats();
    let identity = authenticator.authenticate_async(Some(&basic("alice", "pw"))).await.expect("cached");
    assert_eq!(identity.name(), "alice");
    assert_eq!(auth.stats().hash_verifications, before.hash_verifications);
    assert_eq!(auth.stats().cache_hits, before.cache_hits + 1);
    let wrong = authenticator.authenticate_async(Some(&basic("bob", "x"))).await.expect_err("wrong");
    assert_eq!(wrong.reason, Reason::BadPassword);
    assert!(authenticator.authenticate_async(None).await.expect("anonymous").is_anonymous());
}

/// A burst of identical first requests waits for the verifications in flight and then hits the
/// cache: at most `max_concurrent_verifications` hashes for the whole burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_identical_first_logins_pays_for_few_hashes() {
    let dir = Dir::new();
    let settings = crate::AuthSettings {
        config_file: Some(config_with(&dir, &[("alice", "pw")], "a")),
        max_concurrent_verifications: 2,
        ..crate::AuthSettings::default()
    };
    let auth = Auth::new(settings).expect("auth");
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let authenticator = auth.authenticator();
            tokio::spawn(async move { authenticator.authenticate_async(Some(&basic("alice", "pw"))).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("authenticated").name(), "alice");
    }
    let stats = auth.stats();
    assert!(stats.hash_verifications <= 2, "{stats:?}");
    assert_eq!(stats.hash_verifications + stats.cache_hits, 32, "{stats:?}");
}

#[test]
fn reload_swaps_a_valid_file_and_keeps_the_old_one_on_error() {
    let dir = Dir::new();
    let path = config_with(&dir, &[("alice", "pw")], "a");
    let auth = auth_with_file(&path);
    let alice = authenticate(&auth, &basic("alice", "pw"));
    assert_eq!(auth.authorizer().allowed(&alice, "a", Action::Pull), Decision::Allow);

    // Valid change: bob added, alice's grant moved to tenant b.
    config_with(&dir, &[("alice", "pw"), ("bob", "pw2")], "b");
    let summary = auth.reload().expect("valid reload");
    assert_eq!((summary.users, summary.tokens, summary.grants), (2, 0, 1));
    assert_eq!(authenticate(&auth, &basic("bob", "pw2")).name(), "bob");
    assert_eq!(auth.authorizer().allowed(&alice, "a", Action::Pull), Decision::Forbidden);
    assert_eq!(auth.authorizer().allowed(&alice, "b", Action::Pull), Decision::Allow);

    // Invalid change: the error comes back, and everything works as before it.
    let broken = dir.write("auth.yaml", "users:\n  carol: \"$apr1$abc$def\"\n");
    let error = auth.reload().expect_err("invalid reload").to_string();
    assert!(error.starts_with(&format!("{}:2:", broken.display())) && error.contains("MD5"), "{error}");
    assert_eq!((auth.stats().reloads, auth.stats().reload_failures), (1, 1));
    assert_eq!(authenticate(&auth, &basic("bob", "pw2")).name(), "bob");
    assert_eq!(auth.authorizer().allowed(&alice, "b", Action::Pull), Decision::Allow);
    std::fs::remove_file(&broken).expect("remove");
    assert!(auth.reload().expect_err("missing file").to_string().starts_with("cannot read"));
    assert_eq!(authenticate(&auth, &basic("bob", "pw2")).name(), "bob");
}

#[test]
fn a_changed_password_does_not_reuse_the_cached_success() {
    let dir = Dir::new();
    let path = config_with(&dir, &[("alice", "old")], "a");
    let auth = auth_with_file(&path);
    authenticate(&auth, &basic("alice", "old"));
    authenticate(&auth, &basic("alice", "old"));
    assert_eq!(auth.stats().cache_hits, 1);
    config_with(&dir, &[("alice", "new")], "a");
    auth.reload().expect("reload");
    let old = auth.authenticator().authenticate(Some(&basic("alice", "old"))).expect_err("old password");
    assert_eq!(old.reason, Reason::BadPassword);
    assert_eq!(authenticate(&auth, &basic("alice", "new")).name(), "alice");
}

#[test]
fn reload_without_a_config_file_is_a_no_op() {
    let auth = Auth::new(chartmuseum_user("admin", "pw")).expect("auth");
    let summary = auth.reload().expect("nothing to reload");
    assert_eq!((summary.users, summary.tokens, summary.grants), (0, 0, 0));
    assert!(auth.spawn_watcher(Duration::from_millis(10)).is_none());
}

/// Polls `condition` every 10 ms for at most 20 s (a bound on waiting, not a timing assertion).
async fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    for _ in 0..2000 {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_reloads_changed_files_and_survives_bad_ones() {
    let dir = Dir::new();
    let hash = bcrypt_hash("pw");
    dir.replace("htpasswd", &format!("alice:{hash}\n"));
    let config = dir.write("auth.yaml", "htpasswd: htpasswd\n");
    let auth = auth_with_file(&config);
    let watcher = auth.spawn_watcher(Duration::from_millis(20)).expect("watcher");
    let knows = |auth: &Auth, user: &str| auth.authenticator().authenticate(Some(&basic(user, "pw"))).is_ok();
    assert!(knows(&auth, "alice") && !knows(&auth, "bob"));

    // A change in the htpasswd file alone is picked up.
    dir.replace("htpasswd", &format!("alice:{hash}\nbob:{hash}\n"));
    assert!(eventually(|| knows(&auth, "bob")).await, "bob appears after the htpasswd change");

    // A broken file is refused (once, not at every poll) and the last good configuration stays.
    assert_eq!((auth.stats().reloads, auth.stats().reload_failures), (1, 0));
    dir.replace("htpasswd", &format!("alice:{hash}\nbob:{{SHA}}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"));
    assert!(eventually(|| auth.stats().reload_failures == 1).await, "the broken file is tried");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(auth.stats().reload_failures, 1, "the same broken content is not retried");
    assert!(knows(&auth, "alice") && knows(&auth, "bob"));

    // Fixed again: picked up.
    dir.replace("htpasswd", &format!("carol:{hash}\n"));
    assert!(eventually(|| knows(&auth, "carol") && !knows(&auth, "bob")).await, "the fixed file is loaded");
    watcher.abort();
}
