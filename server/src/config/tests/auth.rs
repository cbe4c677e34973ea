//! Tenancy (`DEPTH`, `DEPTH_DYNAMIC`) and authentication options: ChartMuseum's names, config
//! file keys, the `BASIC_AUTH_PASS_FILE` secret, refused combinations, secrets never shown.

use super::*;
use chartroom_auth::{BasicCredentials, BearerSettings};

fn message(args: ArgValues, env: &[(&str, &str)]) -> String {
    resolve(&args, storage_env(env)).unwrap_err().to_string()
}

#[test]
fn depth_options_choose_the_tenancy() {
    let tenancy = |args: ArgValues| from(args).unwrap().config.repository.tenancy;
    assert_eq!(tenancy(ArgValues::new()), Tenancy::Single);
    assert_eq!(tenancy(ArgValues::new().with(&DEPTH, "0")), Tenancy::Single);
    assert_eq!(tenancy(ArgValues::new().with(&DEPTH, "2")), Tenancy::Depth(2));
    assert_eq!(tenancy(ArgValues::new().with(&DEPTH_DYNAMIC, "true")), Tenancy::Dynamic);
    // ChartMuseum's router uses the dynamic matcher whatever the depth.
    assert_eq!(tenancy(ArgValues::new().with(&DEPTH, "3").with(&DEPTH_DYNAMIC, "1")), Tenancy::Dynamic);
    let e = err(ArgValues::new().with(&DEPTH, "17"));
    assert!(e.contains("--depth") && e.contains("DEPTH") && e.contains("from 0 to 16"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, "c.yaml", "depth: 1\n");
    let c = from(ArgValues::new().with(&CONFIG, file)).unwrap().config;
    assert_eq!(c.repository.tenancy, Tenancy::Depth(1));
    assert_eq!(c.repo_options().tenancy, Tenancy::Depth(1));
    let file = write_file(&dir, "d.yaml", "depthdynamic: true\n");
    assert_eq!(from(ArgValues::new().with(&CONFIG, file)).unwrap().config.repository.tenancy, Tenancy::Dynamic);
}

#[test]
fn chartmuseum_basic_user_from_flags_file_and_secret_file() {
    let c = from(ArgValues::new().with(&BASIC_AUTH_USER, "admin").with(&BASIC_AUTH_PASS, " pa ss ")).unwrap();
    let want = BasicCredentials::from_options(Some("admin"), Some(" pa ss ")).unwrap();
    assert_eq!(c.config.auth.chartmuseum_user, want, "the password is kept as written");
    assert!(c.config.auth.is_enabled());
    let rows = c.describe();
    let row = |k: &str| rows.iter().find(|(key, _, _)| *key == k).cloned().unwrap();
    assert_eq!(row("basicauth.pass"), ("basicauth.pass", "<redacted>".into(), "flag/env"));
    assert_eq!(row("basicauth.user"), ("basicauth.user", "admin".into(), "flag/env"));
    assert!(!format!("{:?}", c.config).contains("pa ss"), "Debug never shows the password");

    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, "c.yaml", "basicauth:\n  user: admin\n  pass: s3cret\nauthanonymousget: true\n");
    let auth = from(ArgValues::new().with(&CONFIG, file)).unwrap().config.auth;
    assert_eq!(auth.chartmuseum_user, BasicCredentials::from_options(Some("admin"), Some("s3cret")).unwrap());
    assert!(auth.anonymous_get);

    let secret = write_file(&dir, "pass", "from-file\n");
    let env = [("BASIC_AUTH_PASS_FILE", secret.to_str().unwrap())];
    let c = resolve(&ArgValues::new().with(&BASIC_AUTH_USER, "admin"), storage_env(&env)).unwrap();
    assert_eq!(
        c.config.auth.chartmuseum_user,
        BasicCredentials::from_options(Some("admin"), Some("from-file")).unwrap()
    );

    let both = message(ArgValues::new().with(&BASIC_AUTH_USER, "a").with(&BASIC_AUTH_PASS, "x"), &env);
    assert!(both.contains("BASIC_AUTH_PASS") && both.contains("BASIC_AUTH_PASS_FILE"), "{both}");
    let missing = dir.path().join("nope");
    let unreadable =
        message(ArgValues::new().with(&BASIC_AUTH_USER, "a"), &[("BASIC_AUTH_PASS_FILE", missing.to_str().unwrap())]);
    assert!(unreadable.contains("BASIC_AUTH_PASS_FILE") && unreadable.contains("nope"), "{unreadable}");
}

#[test]
fn half_a_basic_user_is_refused() {
    let e = err(ArgValues::new().with(&BASIC_AUTH_USER, "admin"));
    assert!(e.contains("BASIC_AUTH_USER is set but BASIC_AUTH_PASS is empty"), "{e}");
    let e = err(ArgValues::new().with(&BASIC_AUTH_PASS, "hunter2"));
    assert!(e.contains("BASIC_AUTH_PASS is set but BASIC_AUTH_USER is empty"), "{e}");
    assert!(!e.contains("hunter2"), "the password is never echoed: {e}");
    let e = err(ArgValues::new().with(&BASIC_AUTH_USER, "a:b").with(&BASIC_AUTH_PASS, "p"));
    assert!(e.contains("':'"), "{e}");
}

#[test]
fn bearer_settings_need_their_companions() {
    let bearer = ArgValues::new()
        .with(&BEARER_AUTH, "true")
        .with(&AUTH_REALM, "https://auth.example/token")
        .with(&AUTH_SERVICE, "chartroom")
        .with(&AUTH_CERT_PATH, "/keys/issuer.pem");
    let c = from(bearer.clone().with(&AUTH_AUDIENCE, "charts, helm").with(&AUTH_ISSUER, "https://issuer")).unwrap();
    assert_eq!(
        c.config.auth.bearer,
        Some(BearerSettings {
            realm: "https://auth.example/token".into(),
            service: "chartroom".into(),
            cert_path: "/keys/issuer.pem".into(),
            actions_search_path: String::new(),
            audience: vec!["charts".into(), "helm".into()],
            issuer: vec!["https://issuer".into()],
            leeway_seconds: 0,
        })
    );
    let companions: [&OptionSpec; 3] = [&AUTH_REALM, &AUTH_SERVICE, &AUTH_CERT_PATH];
    for (missing, chartmuseum_text) in companions.into_iter().zip([
        "Missing Auth Realm",
        "Missing Auth Service",
        "Missing Auth Server Public Cert Path",
    ]) {
        let mut args = ArgValues::new().with(&BEARER_AUTH, "true");
        for option in companions {
            if option.key != missing.key {
                args = args.with(option, "x");
            }
        }
        let e = err(args);
        assert!(e.contains(chartmuseum_text) && e.contains(missing.env) && e.contains(missing.flag), "{e}");
    }
    for option in [&AUTH_REALM, &AUTH_SERVICE, &AUTH_ACTIONS_SEARCH_PATH, &AUTH_AUDIENCE, &AUTH_ISSUER] {
        let e = err(ArgValues::new().with(option, "x"));
        assert!(e.contains(option.env) && e.contains("BEARER_AUTH") && e.contains("only applies"), "{e}");
    }
    let e = err(ArgValues::new().with(&AUTH_CERT_PATH, "/k.pem"));
    assert!(e.contains("AUTH_CERT_PATH") && e.contains("BEARER_AUTH"), "{e}");
    let e = err(bearer.with(&AUTH_AUDIENCE, "a,,b"));
    assert!(e.contains("--auth-audience") && e.contains("comma-separated"), "{e}");
}

#[test]
fn auth_config_and_its_poll_interval() {
    let c = from(ArgValues::new().with(&AUTH_CONFIG, "/etc/chartroom/auth.yaml")).unwrap().config;
    assert_eq!(c.auth.config_file, Some(PathBuf::from("/etc/chartroom/auth.yaml")));
    assert_eq!(c.auth.config_poll_interval, Some(Duration::from_secs(10)));
    assert!(c.auth.is_enabled());
    let c = from(ArgValues::new().with(&AUTH_CONFIG_POLL_INTERVAL, "0")).unwrap().config;
    assert_eq!(c.auth.config_poll_interval, None, "0: SIGHUP only");
    // The file is read when the server starts (Config::auth), with the line of a problem.
    let dir = tempfile::tempdir().unwrap();
    let bad = write_file(&dir, "auth.yaml", "users:\n  alice: plaintext\n");
    let c = from(ArgValues::new().with(&AUTH_CONFIG, &bad)).unwrap().config;
    let e = c.auth().err().expect("a plain-text password is refused").to_string();
    assert!(e.contains("auth.yaml:2") && e.contains("alice"), "{e}");
    assert!(!from(ArgValues::new()).unwrap().config.auth.is_enabled());
}
