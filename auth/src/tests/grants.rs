//! The grants matrix: tenants x identities x actions, every cell asserted.

use super::*;
use crate::{Action, Decision};

/// alice (bcrypt) and bob (argon2id) users, the `ci` token, and grants of every kind.
fn matrix_config(dir: &Dir) -> PathBuf {
    dir.write(
        "auth.yaml",
        &format!(
            "users:\n  alice: \"{}\"\n  bob: \"{}\"\n\
             tokens:\n  ci: \"sha256:{}\"\n\
             grants:\n\
             \x20 - to: [alice, ci]\n    tenants: [team-a, \"platform/*\"]\n    actions: [pull, push, delete]\n\
             \x20 - to: [bob]\n    tenants: [team-b]\n    actions: [push, pull]\n\
             \x20 - to: [ci]\n    tenants: [team-b]\n    actions: [pull]\n\
             \x20 - to: [anonymous]\n    tenants: [\"\", public]\n    actions: [pull]\n\
             \x20 - to: [authenticated]\n    tenants: [shared]\n    actions: [pull]\n",
            bcrypt_hash("alice-pw"),
            argon2id_hash("bob-pw"),
            sha256_hex("ci-token"),
        ),
    )
}

#[test]
fn every_cell_of_the_matrix() {
    let dir = Dir::new();
    let auth = auth_with_file(&matrix_config(&dir));
    let authorizer = auth.authorizer();
    let identities = [
        ("anonymous", auth.authenticator().authenticate(None).expect("anonymous")),
        ("alice", authenticate(&auth, &basic("alice", "alice-pw"))),
        ("bob", authenticate(&auth, &basic("bob", "bob-pw"))),
        ("ci (bearer)", authenticate(&auth, "Bearer ci-token")),
        ("ci (basic)", authenticate(&auth, &basic("ci", "ci-token"))),
    ];
    let tenants = ["", "team-a", "team-b", "platform/x", "platform/x/y", "platform", "public", "shared", "other"];
    // One row per identity, one cell per tenant: the allowed actions (P pull, U push, D delete).
    let expected: [[&str; 9]; 5] = [
        ["P", "", "", "", "", "", "P", "", ""],
        ["", "PUD", "", "PUD", "PUD", "", "", "P", ""],
        ["", "", "PU", "", "", "", "", "P", ""],
        ["", "PUD", "P", "PUD", "PUD", "", "", "P", ""],
        ["", "PUD", "P", "PUD", "PUD", "", "", "P", ""],
    ];
    let mut cells = 0;
    for ((who, identity), row) in identities.iter().zip(expected) {
        for (tenant, allowed) in tenants.iter().zip(row) {
            for (action, letter) in [(Action::Pull, 'P'), (Action::Push, 'U'), (Action::Delete, 'D')] {
                let want = if allowed.contains(letter) {
                    Decision::Allow
                } else if identity.is_anonymous() {
                    Decision::Unauthenticated
                } else {
                    Decision::Forbidden
                };
                assert_eq!(authorizer.allowed(identity, tenant, action), want, "{who} {action} {tenant:?}");
                cells += 1;
            }
            let set = authorizer.allowed_actions(identity, tenant);
            assert_eq!(set.iter().count(), allowed.len(), "{who} {tenant:?}");
        }
    }
    assert_eq!(cells, 5 * 9 * 3);
}

#[test]
fn refusals_carry_bounded_reasons() {
    let dir = Dir::new();
    let auth = auth_with_file(&matrix_config(&dir));
    let alice = authenticate(&auth, &basic("alice", "alice-pw"));
    let forbidden = auth.authorizer().allowed(&alice, "team-b", Action::Push);
    assert_eq!(forbidden.reason().map(|r| r.as_str()), Some("forbidden"));
    let anonymous = auth.authenticator().authenticate(None).expect("anonymous");
    let unauthenticated = auth.authorizer().allowed(&anonymous, "team-a", Action::Pull);
    assert_eq!(unauthenticated.reason().map(|r| r.as_str()), Some("missing_credentials"));
    assert_eq!(Decision::Allow.reason(), None);
}

#[test]
fn invalid_tenant_names_get_nothing_even_under_star() {
    let dir = Dir::new();
    let config = dir.write(
        "auth.yaml",
        &format!(
            "users:\n  root: \"{}\"\ngrants:\n  - to: [root]\n    tenants: [\"*\"]\n    actions: [pull, push, delete]\n",
            bcrypt_hash("r")
        ),
    );
    let auth = auth_with_file(&config);
    let root = authenticate(&auth, &basic("root", "r"));
    assert_eq!(auth.authorizer().allowed(&root, "any/thing", Action::Delete), Decision::Allow);
    for bad in ["..", "a/../b", ".chartroom", "a//b", "a%2Fb", "/"] {
        assert_eq!(auth.authorizer().allowed(&root, bad, Action::Pull), Decision::Forbidden, "{bad:?}");
    }
}

#[test]
fn anonymous_get_adds_to_the_grants() {
    let dir = Dir::new();
    let settings = crate::AuthSettings {
        config_file: Some(matrix_config(&dir)),
        anonymous_get: true,
        ..crate::AuthSettings::default()
    };
    let auth = Auth::new(settings).expect("auth");
    let anonymous = auth.authenticator().authenticate(None).expect("anonymous");
    let bob = authenticate(&auth, &basic("bob", "bob-pw"));
    assert_eq!(auth.authorizer().allowed(&anonymous, "team-a", Action::Pull), Decision::Allow);
    assert_eq!(auth.authorizer().allowed(&anonymous, "team-a", Action::Push), Decision::Unauthenticated);
    assert_eq!(auth.authorizer().allowed(&bob, "other", Action::Pull), Decision::Allow);
    assert_eq!(auth.authorizer().allowed(&bob, "other", Action::Push), Decision::Forbidden);
}
