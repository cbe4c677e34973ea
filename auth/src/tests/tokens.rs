//! Static tokens: as `Authorization: Bearer <token>` and as the basic-auth password under the
//! token's name (what `helm repo add --username <name> --password <token>` sends).

use super::*;
use crate::{IdentityKind, Reason};

fn token_config(dir: &Dir) -> PathBuf {
    dir.write(
        "auth.yaml",
        &format!(
            "users:\n  alice: \"{}\"\ntokens:\n  ci-team-a: \"sha256:{}\"\n  deploy: \"sha256:{}\"\n",
            bcrypt_hash("alice-pw"),
            sha256_hex("tok-a"),
            // A token that looks like a JWT is still a static token.
            sha256_hex("aaa.bbb.ccc"),
        ),
    )
}

fn failure(auth: &Auth, header: &str) -> Reason {
    auth.authenticator().authenticate(Some(header)).expect_err("refused").reason
}

#[test]
fn a_token_works_as_bearer_and_as_basic_password() {
    let dir = Dir::new();
    let auth = auth_with_file(&token_config(&dir));
    for header in ["Bearer tok-a".to_owned(), "bearer   tok-a ".to_owned(), basic("ci-team-a", "tok-a")] {
        let identity = authenticate(&auth, &header);
        assert_eq!((identity.name(), identity.kind()), ("ci-team-a", &IdentityKind::Token), "{header}");
    }
    assert_eq!(authenticate(&auth, "Bearer aaa.bbb.ccc").name(), "deploy");
    // No hash verification is involved for tokens.
    assert_eq!(auth.stats().hash_verifications, 0);
}

#[test]
fn wrong_tokens_are_refused() {
    let dir = Dir::new();
    let auth = auth_with_file(&token_config(&dir));
    assert_eq!(failure(&auth, "Bearer tok-b"), Reason::BadToken);
    assert_eq!(failure(&auth, "Bearer TOK-A"), Reason::BadToken);
    assert_eq!(failure(&auth, &basic("ci-team-a", "tok-b")), Reason::BadToken);
    // A token is only valid under its own name.
    assert_eq!(failure(&auth, &basic("deploy", "tok-a")), Reason::BadToken);
    // ... and a token is not a user's password.
    assert_eq!(failure(&auth, &basic("alice", "tok-a")), Reason::BadPassword);
    // The digest itself is not the token.
    assert_eq!(failure(&auth, &format!("Bearer sha256:{}", sha256_hex("tok-a"))), Reason::BadToken);
    // Without bearer JWTs configured, a JWT-looking value is just an unknown token.
    assert_eq!(failure(&auth, "Bearer x.y.z"), Reason::BadToken);
}

#[test]
fn identities_never_hold_the_secret() {
    let dir = Dir::new();
    let auth = auth_with_file(&token_config(&dir));
    for header in ["Bearer tok-a".to_owned(), basic("alice", "alice-pw")] {
        let identity = authenticate(&auth, &header);
        let shown = format!("{identity:?} {identity}");
        assert!(!shown.contains("tok-a") && !shown.contains("alice-pw"), "{shown}");
    }
}
