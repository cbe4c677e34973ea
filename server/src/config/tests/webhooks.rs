//! The webhook options: endpoints by name with their secret, event and tenant filters; what is
//! refused, and the secret never shown.

use chartroom_index::EventKind;

use super::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn hooks() -> ArgValues {
    ArgValues::new()
        .with(&WEBHOOK, "ci=https://ci.example/hook,audit=http://10.0.0.1:8080/x")
        .with(&WEBHOOK_SECRET, format!("ci={SECRET},audit={SECRET}"))
}

#[test]
fn endpoints_with_their_filters() {
    let resolved =
        from(hooks().with(&WEBHOOK_EVENTS, "ci=chart.pushed+chart.deleted").with(&WEBHOOK_TENANTS, "ci=team-a+org/*"))
            .unwrap();
    let endpoints = &resolved.config.webhooks;
    let names: Vec<&str> = endpoints.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["audit", "ci"]);
    let ci = &endpoints[1];
    assert_eq!(ci.url, "https://ci.example/hook");
    assert_eq!(ci.events, [EventKind::Pushed, EventKind::Deleted]);
    assert_eq!(ci.tenants, ["team-a", "org/*"]);
    assert!(endpoints[0].events.is_empty() && endpoints[0].tenants.is_empty(), "no filter: everything");
    let shown = format!("{:?}", resolved.describe());
    assert!(!shown.contains("whsec_MfKQ"), "the secret is never shown: {shown}");
    assert!(from(ArgValues::new()).unwrap().config.webhooks.is_empty());
}

#[test]
fn bad_webhook_settings_stop_the_start() {
    for (args, says) in [
        (ArgValues::new().with(&WEBHOOK, "ci=https://x"), "webhook endpoint ci needs a signing secret"),
        (ArgValues::new().with(&WEBHOOK, "ci=ftp://x").with(&WEBHOOK_SECRET, format!("ci={SECRET}")), "not an http"),
        (hooks().with(&WEBHOOK_SECRET, "ci=secret"), "starts with whsec_"),
        (hooks().with(&WEBHOOK_SECRET, "ci=whsec_c2hvcnQ="), "24 to 64 are required"),
        (hooks().with(&WEBHOOK_EVENTS, "ci=chart.pushed+chart.moved"), "unknown event \"chart.moved\""),
        (hooks().with(&WEBHOOK_TENANTS, "cd=team-a"), "names endpoint cd, which --webhook does not define"),
        (ArgValues::new().with(&WEBHOOK, "c/i=https://x"), "endpoint name \"c/i\""),
    ] {
        let e = err(args);
        assert!(e.contains(says), "{e}");
        assert!(!e.contains("MfKQ9r8"), "no secret in errors: {e}");
    }
}
