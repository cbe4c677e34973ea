//! The ChartMuseum single user (`BASIC_AUTH_USER` / `BASIC_AUTH_PASS`), `AUTH_ANONYMOUS_GET`,
//! header parsing and the `Basic` challenge.

use super::*;
use crate::{Action, AuthError, ConfigError, Decision, IdentityKind, Reason};

fn reason(auth: &Auth, header: Option<&str>) -> Reason {
    match auth.authenticator().authenticate(header) {
        Ok(identity) => panic!("{header:?} should fail, got {identity:?}"),
        Err(AuthError { reason }) => reason,
    }
}

#[test]
fn the_single_user_may_do_everything_everywhere() {
    let auth = Auth::new(chartmuseum_user("admin", "pa:ss")).expect("auth");
    assert!(auth.is_enabled());
    let admin = authenticate(&auth, &basic("admin", "pa:ss"));
    assert_eq!(admin.name(), "admin");
    assert_eq!(admin.kind(), &IdentityKind::ChartMuseumUser);
    for tenant in ["", "team-a", "org/x/y"] {
        for action in Action::ALL {
            assert_eq!(auth.authorizer().allowed(&admin, tenant, action), Decision::Allow, "{tenant} {action}");
        }
    }
    // Anonymous callers must authenticate: 401 with ChartMuseum's exact challenge.
    let anonymous = authenticate_none(&auth);
    for action in Action::ALL {
        assert_eq!(auth.authorizer().allowed(&anonymous, "", action), Decision::Unauthenticated);
    }
    assert_eq!(auth.authorizer().challenge("", Action::Push), "Basic realm=\"ChartMuseum\"");
}

fn authenticate_none(auth: &Auth) -> Identity {
    let identity = auth.authenticator().authenticate(None).expect("anonymous");
    assert!(identity.is_anonymous() && identity.name() == "anonymous");
    identity
}

#[test]
fn wrong_credentials_are_refused_with_a_reason() {
    let auth = Auth::new(chartmuseum_user("admin", "secret")).expect("auth");
    assert_eq!(reason(&auth, Some(&basic("admin", "Secret"))), Reason::BadPassword);
    assert_eq!(reason(&auth, Some(&basic("admin", "secret "))), Reason::BadPassword);
    assert_eq!(reason(&auth, Some(&basic("admin", ""))), Reason::BadPassword);
    assert_eq!(reason(&auth, Some(&basic("Admin", "secret"))), Reason::UnknownUser);
    assert_eq!(reason(&auth, Some(&basic("", "secret"))), Reason::UnknownUser);
    assert_eq!(reason(&auth, Some("Basic !!!not-base64")), Reason::MalformedHeader);
    assert_eq!(reason(&auth, Some("Basic YWRtaW4=")), Reason::MalformedHeader, "no colon");
    assert_eq!(reason(&auth, Some("Basic")), Reason::MalformedHeader);
    assert_eq!(reason(&auth, Some("Digest username=\"admin\"")), Reason::UnsupportedScheme);
    assert_eq!(reason(&auth, Some("Bearer secret")), Reason::BadToken);
    assert_eq!(reason(&auth, Some("Bearer ")), Reason::MalformedHeader, "no token after `Bearer`");
}

#[test]
fn header_variants_clients_send_are_accepted() {
    let auth = Auth::new(chartmuseum_user("admin", "secret")).expect("auth");
    let header = basic("admin", "secret");
    let encoded = header.trim_start_matches("Basic ");
    for variant in
        [format!("basic {encoded}"), format!("BASIC   {encoded}  "), format!("Basic {}", encoded.trim_end_matches('='))]
    {
        assert_eq!(authenticate(&auth, &variant).name(), "admin", "{variant:?}");
    }
    // An empty header is no header.
    assert!(auth.authenticator().authenticate(Some("  ")).expect("anonymous").is_anonymous());
}

#[test]
fn anonymous_get_lets_anyone_pull_and_nothing_else() {
    let auth = Auth::new(AuthSettings { anonymous_get: true, ..chartmuseum_user("admin", "secret") }).expect("auth");
    let anonymous = authenticate_none(&auth);
    for tenant in ["", "team-a"] {
        assert_eq!(auth.authorizer().allowed(&anonymous, tenant, Action::Pull), Decision::Allow);
        assert_eq!(auth.authorizer().allowed(&anonymous, tenant, Action::Push), Decision::Unauthenticated);
        assert_eq!(auth.authorizer().allowed(&anonymous, tenant, Action::Delete), Decision::Unauthenticated);
    }
    // Credentials that are sent must be right, even for a pull (the client learns of its mistake).
    assert_eq!(reason(&auth, Some(&basic("admin", "wrong"))), Reason::BadPassword);
}

#[test]
fn without_any_auth_everything_is_allowed() {
    for settings in [AuthSettings::default(), AuthSettings { anonymous_get: true, ..AuthSettings::default() }] {
        let auth = Auth::new(settings).expect("auth");
        assert!(!auth.is_enabled());
        let anonymous = authenticate_none(&auth);
        for action in Action::ALL {
            assert_eq!(auth.authorizer().allowed(&anonymous, "any", action), Decision::Allow);
        }
    }
}

#[test]
fn the_single_user_settings_are_checked() {
    assert_eq!(BasicCredentials::from_options(None, None).expect("none"), None);
    assert_eq!(BasicCredentials::from_options(Some(""), Some("")).expect("none"), None);
    let only_user = BasicCredentials::from_options(Some("admin"), None).expect_err("half set");
    assert!(only_user.to_string().contains("BASIC_AUTH_PASS is empty"), "{only_user}");
    let only_pass = BasicCredentials::from_options(None, Some("pw")).expect_err("half set");
    assert!(only_pass.to_string().contains("BASIC_AUTH_USER is empty"), "{only_pass}");
    let colon = BasicCredentials::from_options(Some("a:b"), Some("pw")).expect_err("colon");
    assert!(matches!(colon, ConfigError::Setting(_)) && colon.to_string().contains("':'"));
    let credentials = BasicCredentials::from_options(Some("admin"), Some("hunter2")).expect("ok").expect("some");
    assert!(!format!("{credentials:?}").contains("hunter2"), "Debug hides the password");
}

#[test]
fn the_single_user_and_the_config_file_combine_but_do_not_share_names() {
    let dir = Dir::new();
    let config = dir.write(
        "auth.yaml",
        &format!(
            "users:\n  alice: \"{}\"\ngrants:\n  - to: [alice]\n    tenants: [team-a]\n    actions: [pull]\n",
            bcrypt_hash("a")
        ),
    );
    let settings = AuthSettings { config_file: Some(config.clone()), ..chartmuseum_user("admin", "secret") };
    let auth = Auth::new(settings.clone()).expect("auth");
    assert_eq!(authenticate(&auth, &basic("admin", "secret")).kind(), &IdentityKind::ChartMuseumUser);
    assert_eq!(authenticate(&auth, &basic("alice", "a")).kind(), &IdentityKind::User);

    let clash = AuthSettings { config_file: Some(config), ..chartmuseum_user("alice", "secret") };
    let error = Auth::new(clash).err().expect("a name with two passwords is refused").to_string();
    assert!(error.contains("`alice` is both BASIC_AUTH_USER and a user or token"), "{error}");
}
