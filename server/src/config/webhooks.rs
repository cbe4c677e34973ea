//! `--webhook NAME=URL` and its companions `--webhook-secret`, `--webhook-events`,
//! `--webhook-tenants` (each `NAME=…`, repeatable): the endpoints of `chartroom-webhooks`.

use std::collections::BTreeMap;

use chartroom_index::EventKind;
use chartroom_webhooks::{Endpoint, Secret};

use super::error::ConfigError;
use super::options::{WEBHOOK, WEBHOOK_EVENTS, WEBHOOK_SECRET, WEBHOOK_TENANTS};
use super::resolve::{Resolver, Shown};

/// `NAME=VALUE` pairs by name, as the variable would list them.
struct Named<T>(BTreeMap<String, T>);

impl<T: Clone + Into<String>> Shown for Named<T> {
    fn shown(&self) -> String {
        self.0.iter().map(|(n, v)| format!("{n}={}", v.clone().into())).collect::<Vec<_>>().join(",")
    }
}

fn named<T: Clone + Into<String>>(
    pairs: Vec<(String, String)>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Named<T>, String> {
    let mut out = BTreeMap::new();
    for (name, value) in pairs {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(format!("endpoint name {name:?}: use letters, digits, - and _ (at most 64)"));
        }
        let parsed = parse(&value).map_err(|e| format!("endpoint {name}: {e}"))?;
        if out.insert(name.clone(), parsed).is_some() {
            return Err(format!("endpoint {name} is given twice"));
        }
    }
    Ok(Named(out))
}

/// A list written `a+b+c`.
fn plus_list(text: &str) -> Vec<String> {
    text.split('+').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

pub(super) fn resolve(r: &mut Resolver<'_>) -> Result<Vec<Endpoint>, ConfigError> {
    let urls = r.pairs(&WEBHOOK, |pairs| {
        named(pairs, |url| match url.starts_with("http://") || url.starts_with("https://") {
            true => Ok(url.to_owned()),
            false => Err(format!("{url:?} is not an http:// or https:// URL")),
        })
    })?;
    let secrets = r.pairs(&WEBHOOK_SECRET, |pairs| named(pairs, |s| Secret::parse(s).map(|_| s.to_owned())))?;
    let events = r.pairs(&WEBHOOK_EVENTS, |pairs| {
        named(pairs, |list| {
            for kind in plus_list(list) {
                if EventKind::parse(&kind).is_none() {
                    return Err(format!("unknown event {kind:?} (chart.pushed, chart.overwritten, chart.deleted)"));
                }
            }
            Ok(list.to_owned())
        })
    })?;
    let tenants = r.pairs(&WEBHOOK_TENANTS, |pairs| named(pairs, |list| Ok(list.to_owned())))?;
    for (spec, names) in [(&WEBHOOK_SECRET, &secrets.0), (&WEBHOOK_EVENTS, &events.0), (&WEBHOOK_TENANTS, &tenants.0)] {
        if let Some(name) = names.keys().find(|n| !urls.0.contains_key(*n)) {
            return Err(
                r.missing(&WEBHOOK, &format!("{} names endpoint {name}, which --webhook does not define", spec.flag))
            );
        }
    }
    let mut endpoints = Vec::new();
    for (name, url) in urls.0 {
        let Some(secret) = secrets.0.get(&name) else {
            return Err(r.missing(&WEBHOOK_SECRET, &format!("webhook endpoint {name} needs a signing secret")));
        };
        let secret = Secret::parse(secret).map_err(|e| r.missing(&WEBHOOK_SECRET, &e))?;
        let events = events.0.get(&name).map(|l| plus_list(l)).unwrap_or_default();
        let events = events.iter().filter_map(|k| EventKind::parse(k)).collect();
        let tenants = tenants.0.get(&name).map(|l| plus_list(l)).unwrap_or_default();
        endpoints.push(Endpoint { name, url, secret, events, tenants });
    }
    Ok(endpoints)
}
