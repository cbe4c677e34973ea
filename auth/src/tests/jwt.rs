//! Bearer JWTs, ChartMuseum-compatible: keys made by the `openssl` CLI in the test (RSA, EC
//! P-256/P-384, Ed25519, certificates), tokens signed in the test.

use super::*;
use crate::{Action, BearerSettings, ConfigError, Decision, IdentityKind, Reason};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::process::Command;
use std::sync::OnceLock;

/// Keys made once per test run: `<name>.key` (PKCS#8 private) and `<name>.pub` (SPKI public).
struct Keys {
    dir: Dir,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let openssl = tool("openssl", "CHARTROOM_OPENSSL");
        let dir = Dir::new();
        let gen_key = |name: &str, args: &[&str]| {
            let key = dir.path(&format!("{name}.key"));
            run(Command::new(&openssl).arg("genpkey").args(args).arg("-out").arg(&key));
            run(Command::new(&openssl)
                .arg("pkey")
                .arg("-in")
                .arg(&key)
                .arg("-pubout")
                .arg("-out")
                .arg(dir.path(&format!("{name}.pub"))));
        };
        gen_key("rsa", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
        gen_key("rsa2", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
        gen_key("p256", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
        gen_key("p256b", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
        gen_key("p384", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]);
        gen_key("ed", &["-algorithm", "ed25519"]);
        // PKCS#1 RSA public key, as older tools write it.
        run(Command::new(&openssl)
            .args(["rsa", "-in"])
            .arg(dir.path("rsa.key"))
            .arg("-RSAPublicKey_out")
            .arg("-out")
            .arg(dir.path("rsa-pkcs1.pub")));
        // A self-signed RSA certificate, and an EC certificate signed by it (the key type differs
        // from the signature's).
        run(Command::new(&openssl)
            .args(["req", "-x509", "-subj", "/CN=token-issuer", "-days", "2", "-key"])
            .arg(dir.path("rsa.key"))
            .arg("-out")
            .arg(dir.path("rsa.crt")));
        run(Command::new(&openssl)
            .args(["req", "-new", "-subj", "/CN=ec-issuer", "-key"])
            .arg(dir.path("p256.key"))
            .arg("-out")
            .arg(dir.path("p256.csr")));
        run(Command::new(&openssl)
            .args(["x509", "-req", "-days", "2", "-in"])
            .arg(dir.path("p256.csr"))
            .arg("-CA")
            .arg(dir.path("rsa.crt"))
            .arg("-CAkey")
            .arg(dir.path("rsa.key"))
            .arg("-out")
            .arg(dir.path("p256.crt")));
        Keys { dir }
    })
}

impl Keys {
    fn path(&self, file: &str) -> PathBuf {
        self.dir.path(file)
    }

    fn encoding_key(&self, name: &str, algorithm: Algorithm) -> EncodingKey {
        let pem = std::fs::read(self.path(&format!("{name}.key"))).expect("private key");
        match algorithm {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&pem),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
            _ => EncodingKey::from_rsa_pem(&pem),
        }
        .expect("signing key")
    }

    fn sign(&self, name: &str, algorithm: Algorithm, claims: &Value) -> String {
        jsonwebtoken::encode(&Header::new(algorithm), claims, &self.encoding_key(name, algorithm)).expect("sign")
    }
}

fn now() -> i64 {
    i64::try_from(jsonwebtoken::get_current_timestamp()).expect("timestamp")
}

/// ChartMuseum-style claims granting `actions` on `name`, valid for ten minutes.
fn claims(name: &str, actions: &[&str]) -> Value {
    json!({
        "sub": "ci-bot",
        "iat": now(),
        "exp": now() + 600,
        "access": [{"type": "artifact-repository", "name": name, "actions": actions}],
    })
}

fn settings(cert: &str) -> BearerSettings {
    BearerSettings {
        realm: "https://auth.example.com/token".to_owned(),
        service: "chartroom.example.com".to_owned(),
        cert_path: keys().path(cert),
        ..BearerSettings::default()
    }
}

fn bearer_auth(bearer: BearerSettings) -> Auth {
    Auth::new(AuthSettings { bearer: Some(bearer), ..AuthSettings::default() }).unwrap_or_else(|e| panic!("{e}"))
}

fn failure(auth: &Auth, token: &str) -> Reason {
    match auth.authenticator().authenticate(Some(&format!("Bearer {token}"))) {
        Ok(identity) => panic!("should be refused, got {identity:?}"),
        Err(e) => e.reason,
    }
}

#[test]
fn tokens_of_every_key_type_are_accepted_for_their_tenant_only() {
    let cases = [
        ("rsa.pub", "rsa", Algorithm::RS256),
        ("rsa.pub", "rsa", Algorithm::RS512),
        ("rsa.pub", "rsa", Algorithm::PS256),
        ("rsa-pkcs1.pub", "rsa", Algorithm::PS384),
        ("p256.pub", "p256", Algorithm::ES256),
        ("p384.pub", "p384", Algorithm::ES384),
        ("ed.pub", "ed", Algorithm::EdDSA),
        ("rsa.crt", "rsa", Algorithm::RS256),
        ("p256.crt", "p256", Algorithm::ES256),
    ];
    for (cert, key, algorithm) in cases {
        let auth = bearer_auth(settings(cert));
        let token = keys().sign(key, algorithm, &claims("team-a", &["pull"]));
        let identity = authenticate(&auth, &format!("Bearer {token}"));
        assert_eq!(identity.name(), "ci-bot", "{cert} {algorithm:?}");
        assert!(matches!(identity.kind(), IdentityKind::Jwt(_)));
        assert_eq!(identity.jwt_claims().and_then(|c| c.get("sub")), Some(&json!("ci-bot")));
        let authorizer = auth.authorizer();
        assert_eq!(authorizer.allowed(&identity, "team-a", Action::Pull), Decision::Allow, "{cert} {algorithm:?}");
        assert_eq!(authorizer.allowed(&identity, "team-a", Action::Push), Decision::Forbidden);
        assert_eq!(authorizer.allowed(&identity, "team-b", Action::Pull), Decision::Forbidden, "wrong tenant");
        assert_eq!(authorizer.allowed(&identity, "team-a/sub", Action::Pull), Decision::Forbidden, "exact match");
        assert_eq!(authorizer.allowed(&identity, "", Action::Pull), Decision::Forbidden);
    }
}

#[test]
fn push_covers_delete_and_the_root_is_repo() {
    let auth = bearer_auth(settings("rsa.pub"));
    let token = keys().sign(
        "rsa",
        Algorithm::RS256,
        &json!({
            "exp": now() + 600,
            "access": [
                {"type": "artifact-repository", "name": "repo", "actions": ["pull", "push"]},
                {"type": "artifact-repository", "name": "org1/repo1", "actions": ["delete"]},
                {"type": "other-type", "name": "team-x", "actions": ["pull", "push"]},
            ],
        }),
    );
    let identity = authenticate(&auth, &format!("Bearer {token}"));
    assert_eq!(identity.name(), "jwt", "no sub");
    let authorizer = auth.authorizer();
    for action in Action::ALL {
        assert_eq!(authorizer.allowed(&identity, "", action), Decision::Allow, "{action} on the root");
    }
    assert_eq!(authorizer.allowed(&identity, "repo", Action::Push), Decision::Allow, "as in ChartMuseum");
    assert_eq!(authorizer.allowed(&identity, "org1/repo1", Action::Delete), Decision::Allow);
    assert_eq!(authorizer.allowed(&identity, "org1/repo1", Action::Push), Decision::Forbidden);
    assert_eq!(authorizer.allowed(&identity, "team-x", Action::Pull), Decision::Forbidden, "type must match");
}

#[test]
fn time_claims_are_enforced() {
    let auth = bearer_auth(settings("rsa.pub"));
    let sign = |claims: Value| keys().sign("rsa", Algorithm::RS256, &claims);
    let access = json!([{"type": "artifact-repository", "name": "a", "actions": ["pull"]}]);
    let expired = sign(json!({"exp": now() - 10, "access": access}));
    assert_eq!(failure(&auth, &expired), Reason::Expired);
    let early = sign(json!({"exp": now() + 600, "nbf": now() + 300, "access": access}));
    assert_eq!(failure(&auth, &early), Reason::NotYetValid);
    let forever = sign(json!({"access": access}));
    assert_eq!(failure(&auth, &forever), Reason::BadToken, "a token without exp never expires: refused");
    let started = sign(json!({"exp": now() + 600, "nbf": now() - 5, "access": access}));
    assert!(auth.authenticator().authenticate(Some(&format!("Bearer {started}"))).is_ok());

    let lenient = bearer_auth(BearerSettings { leeway_seconds: 120, ..settings("rsa.pub") });
    assert!(lenient.authenticator().authenticate(Some(&format!("Bearer {expired}"))).is_ok(), "within leeway");
}

#[test]
fn audience_and_issuer_are_checked_when_configured() {
    let sign = |extra: Value| {
        let mut claims = claims("a", &["pull"]);
        if let (Some(map), Some(more)) = (claims.as_object_mut(), extra.as_object()) {
            map.extend(more.clone());
        }
        format!("Bearer {}", keys().sign("p256", Algorithm::ES256, &claims))
    };
    // Not configured: ignored, as ChartMuseum does (tokens with any aud/iss are accepted).
    let open = bearer_auth(settings("p256.pub"));
    assert!(open.authenticator().authenticate(Some(&sign(json!({"aud": "elsewhere", "iss": "x"})))).is_ok());

    let strict = bearer_auth(BearerSettings {
        audience: vec!["chartroom".to_owned()],
        issuer: vec!["https://issuer.example.com".to_owned()],
        ..settings("p256.pub")
    });
    let check = |extra: Value| strict.authenticator().authenticate(Some(&sign(extra))).map(|i| i.name().to_owned());
    let good = json!({"aud": "chartroom", "iss": "https://issuer.example.com"});
    assert_eq!(check(good), Ok("ci-bot".to_owned()));
    let several = json!({"aud": ["other", "chartroom"], "iss": "https://issuer.example.com"});
    assert!(check(several).is_ok(), "one of several audiences is enough");
    let reason = |extra: Value| check(extra).expect_err("refused").reason;
    assert_eq!(reason(json!({"aud": "other", "iss": "https://issuer.example.com"})), Reason::WrongAudience);
    assert_eq!(reason(json!({"iss": "https://issuer.example.com"})), Reason::WrongAudience, "aud required");
    assert_eq!(reason(json!({"aud": "chartroom", "iss": "https://evil.example.com"})), Reason::WrongIssuer);
    assert_eq!(reason(json!({"aud": "chartroom"})), Reason::WrongIssuer, "iss required");
}

#[test]
fn forged_and_malformed_tokens_are_refused() {
    let auth = bearer_auth(settings("rsa.pub"));
    let good = keys().sign("rsa", Algorithm::RS256, &claims("a", &["pull"]));
    assert!(auth.authenticator().authenticate(Some(&format!("Bearer {good}"))).is_ok());

    // Signed by another RSA key.
    let other = keys().sign("rsa2", Algorithm::RS256, &claims("a", &["pull"]));
    assert_eq!(failure(&auth, &other), Reason::BadSignature);

    // The payload changed after signing (a wider grant pasted in).
    let parts: Vec<&str> = good.split('.').collect();
    let forged_payload = b64(&claims("a", &["pull", "push"]).to_string());
    assert_eq!(failure(&auth, &format!("{}.{forged_payload}.{}", parts[0], parts[2])), Reason::BadSignature);

    // `alg: none` with no signature.
    let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(&claims("a", &["push"]).to_string()));
    assert_eq!(failure(&auth, &none), Reason::BadToken);

    // HS256 "signed" with the public key as the secret (algorithm confusion).
    let public_pem = std::fs::read(keys().path("rsa.pub")).expect("public key");
    let confused = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("a", &["push"]),
        &EncodingKey::from_secret(&public_pem).expect("hmac key"),
    )
    .expect("hs256");
    assert_eq!(failure(&auth, &confused), Reason::BadToken);

    // An algorithm family without a configured key.
    let ec = keys().sign("p256", Algorithm::ES256, &claims("a", &["pull"]));
    assert_eq!(failure(&auth, &ec), Reason::BadToken);

    for garbage in ["x", "a.b", "a.b.c", "....", &format!("{good}x")] {
        let reason = failure(&auth, garbage);
        assert!(matches!(reason, Reason::BadToken | Reason::BadSignature), "{garbage}: {reason:?}");
    }
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[test]
fn several_keys_in_one_file_allow_rotation() {
    let dir = Dir::new();
    let both = [keys().path("rsa.pub"), keys().path("p256b.pub"), keys().path("rsa2.pub")]
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("key"))
        .collect::<String>();
    let file = dir.write("keys.pem", &both);
    let auth = bearer_auth(BearerSettings { cert_path: file, ..settings("rsa.pub") });
    for (key, algorithm) in [("rsa", Algorithm::RS256), ("rsa2", Algorithm::RS256), ("p256b", Algorithm::ES256)] {
        let token = keys().sign(key, algorithm, &claims("a", &["pull"]));
        assert!(auth.authenticator().authenticate(Some(&format!("Bearer {token}"))).is_ok(), "{key}");
    }
    let unknown = keys().sign("p256", Algorithm::ES256, &claims("a", &["pull"]));
    assert_eq!(failure(&auth, &unknown), Reason::BadSignature);
}

#[test]
fn bearer_settings_are_checked_with_chartmuseums_messages() {
    let message =
        |bearer: BearerSettings| match Auth::new(AuthSettings { bearer: Some(bearer), ..AuthSettings::default() }) {
            Ok(_) => panic!("should be refused"),
            Err(e) => e,
        };
    let full = settings("rsa.pub");
    let missing_realm = message(BearerSettings { realm: String::new(), ..full.clone() });
    assert!(matches!(&missing_realm, ConfigError::Setting(text) if text == "Missing Auth Realm"), "{missing_realm}");
    let missing_service = message(BearerSettings { service: String::new(), ..full.clone() });
    assert_eq!(missing_service.to_string(), "Missing Auth Service");
    let missing_cert = message(BearerSettings { cert_path: PathBuf::new(), ..full.clone() });
    assert_eq!(missing_cert.to_string(), "Missing Auth Server Public Cert Path");

    let private = message(BearerSettings { cert_path: keys().path("rsa.key"), ..full.clone() }).to_string();
    assert!(private.contains("PEM block 1 is a private key"), "{private}");
    let dir = Dir::new();
    let not_pem = message(BearerSettings { cert_path: dir.write("x.pem", "hello"), ..full.clone() }).to_string();
    assert!(not_pem.contains("holds no PEM public key"), "{not_pem}");
    let csr = message(BearerSettings { cert_path: keys().path("p256.csr"), ..full.clone() }).to_string();
    assert!(csr.contains("CERTIFICATE REQUEST"), "{csr}");
    let missing = message(BearerSettings { cert_path: dir.path("none.pem"), ..full.clone() }).to_string();
    assert!(missing.starts_with("cannot read"), "{missing}");
    let bad_path = message(BearerSettings { actions_search_path: "access[?name==".to_owned(), ..full });
    assert!(bad_path.to_string().starts_with("AUTH_ACTIONS_SEARCH_PATH is not a valid JMESPath"), "{bad_path}");
}

#[test]
fn a_custom_search_path_is_used() {
    let auth = bearer_auth(BearerSettings {
        actions_search_path: "permissions.\"$NAMESPACE\"".to_owned(),
        ..settings("ed.pub")
    });
    let token = keys().sign(
        "ed",
        Algorithm::EdDSA,
        &json!({
            "exp": now() + 60,
            "permissions": {"team-a": ["pull", "push"], "team-b": "pull", "org/x": ["pull"]},
        }),
    );
    let identity = authenticate(&auth, &format!("Bearer {token}"));
    let authorizer = auth.authorizer();
    assert_eq!(authorizer.allowed(&identity, "team-a", Action::Delete), Decision::Allow);
    assert_eq!(authorizer.allowed(&identity, "org/x", Action::Pull), Decision::Allow);
    assert_eq!(authorizer.allowed(&identity, "team-c", Action::Pull), Decision::Forbidden);
    // ChartMuseum only reads a list of actions; a bare string grants nothing.
    assert_eq!(authorizer.allowed(&identity, "team-b", Action::Pull), Decision::Forbidden);
}

#[test]
fn challenges_are_chartmuseums() {
    let auth = bearer_auth(settings("rsa.pub"));
    let authorizer = auth.authorizer();
    let prefix = "Bearer realm=\"https://auth.example.com/token\",service=\"chartroom.example.com\"";
    assert_eq!(
        authorizer.challenge("org1/repo1", Action::Pull),
        format!("{prefix},scope=\"artifact-repository:org1/repo1:pull\"")
    );
    assert_eq!(authorizer.challenge("", Action::Push), format!("{prefix},scope=\"artifact-repository:repo:push\""));
    assert_eq!(authorizer.challenge("t", Action::Delete), format!("{prefix},scope=\"artifact-repository:t:push\""));
    // Anonymous callers are asked for a token.
    let anonymous = auth.authenticator().authenticate(None).expect("anonymous");
    assert_eq!(authorizer.allowed(&anonymous, "t", Action::Pull), Decision::Unauthenticated);
    // Basic credentials mean nothing in bearer-only mode.
    let basic_reason = auth.authenticator().authenticate(Some(&basic("u", "p"))).expect_err("no users").reason;
    assert_eq!(basic_reason, Reason::UnknownUser);
}

#[test]
fn jwts_combine_with_the_config_file() {
    let dir = Dir::new();
    let config = dir.write(
        "auth.yaml",
        &format!(
            "users:\n  ci-bot: \"{}\"\ngrants:\n\
             \x20 - to: [ci-bot]\n    tenants: [\"*\"]\n    actions: [pull, push, delete]\n\
             \x20 - to: [authenticated]\n    tenants: [shared]\n    actions: [pull]\n",
            bcrypt_hash("pw")
        ),
    );
    let auth = Auth::new(AuthSettings {
        bearer: Some(settings("rsa.pub")),
        config_file: Some(config),
        ..AuthSettings::default()
    })
    .expect("auth");
    let token = keys().sign("rsa", Algorithm::RS256, &claims("team-a", &["pull"]));
    let jwt = authenticate(&auth, &format!("Bearer {token}"));
    assert_eq!(jwt.name(), "ci-bot");
    let authorizer = auth.authorizer();
    assert_eq!(authorizer.allowed(&jwt, "team-a", Action::Pull), Decision::Allow, "from the claims");
    assert_eq!(authorizer.allowed(&jwt, "shared", Action::Pull), Decision::Allow, "`authenticated` covers JWTs");
    // The JWT's sub equals a user name, but named grants are for the file's users only.
    assert_eq!(authorizer.allowed(&jwt, "other", Action::Pull), Decision::Forbidden);
    let user = authenticate(&auth, &basic("ci-bot", "pw"));
    assert_eq!(authorizer.allowed(&user, "other", Action::Pull), Decision::Allow);
}

#[test]
fn access_entries_serialize_as_chartmuseum_claims() {
    let entry = crate::AccessEntry {
        kind: crate::ACCESS_ENTRY_TYPE.to_owned(),
        name: crate::namespace("").to_owned(),
        actions: vec!["pull".to_owned()],
    };
    assert_eq!(
        serde_json::to_value(&entry).expect("json"),
        json!({"type": "artifact-repository", "name": "repo", "actions": ["pull"]})
    );
}
