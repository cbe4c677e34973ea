//! OCI distribution paths → endpoint, repository (tenant and chart name) and action: a pure
//! function of (method, path), table-tested below.
//!
//! The repository part of `/v2/<name>/...` is everything before the *last* `/manifests/`,
//! `/blobs/uploads`, `/blobs/`, `/tags/list` or `/referrers/`; its last segment is the chart
//! name, the segments before it the tenant (as many as `--depth` says; all of them with
//! `--depth-dynamic`; none on a single repository).

use axum::http::Method;
use chartroom_auth::Action;
use chartroom_index::oci::is_valid_name_component;
use chartroom_index::{Tenancy, Tenant};

/// An OCI repository: a tenant's chart name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRepo {
    pub tenant: Tenant,
    pub name: String,
}

impl OciRepo {
    /// `<tenant>/<name>` as clients write it.
    pub fn label(&self) -> String {
        if self.tenant.is_root() { self.name.clone() } else { format!("{}/{}", self.tenant.as_str(), self.name) }
    }
}

/// The endpoints of the distribution API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /v2/`
    Base,
    /// `GET|POST /v2/token`: registry tokens (`token.rs`), outside any repository.
    Token,
    /// `GET /v2/<name>/tags/list`
    Tags(OciRepo),
    /// `GET|HEAD|PUT|DELETE /v2/<name>/manifests/<reference>`
    Manifest(OciRepo, String),
    /// `GET|HEAD|DELETE /v2/<name>/blobs/<digest>`
    Blob(OciRepo, String),
    /// `POST /v2/<name>/blobs/uploads/`
    StartUpload(OciRepo),
    /// `GET|PATCH|PUT|DELETE /v2/<name>/blobs/uploads/<id>`
    Upload(OciRepo, String),
    /// `GET /v2/<name>/referrers/<digest>`
    Referrers(OciRepo, String),
}

/// A routed OCI request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRoute {
    pub endpoint: Endpoint,
    pub method: Method,
    /// The context path the request came through (`""` at the root), for `Location` and `Link`.
    pub prefix: String,
}

/// Why an OCI path has no endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OciRouteError {
    /// The repository name breaks the rules (400 `NAME_INVALID`).
    NameInvalid(String),
    /// The repository name has the wrong number of tenant segments for this server (404
    /// `NAME_UNKNOWN`).
    NameUnknown(String),
    /// A path of the API with a method it does not have (405 `UNSUPPORTED`).
    MethodNotAllowed,
}

impl OciRoute {
    /// The route of `path` (the request path without the context path), `None` when it is not
    /// a distribution API path (so a tenant called `v2` keeps its `index.yaml`).
    pub fn parse(method: &Method, path: &str, tenancy: Tenancy) -> Option<Result<OciRoute, OciRouteError>> {
        if path == "/v2" || path == "/v2/" {
            return Some(if method == Method::GET || method == Method::HEAD {
                Ok(OciRoute { endpoint: Endpoint::Base, method: method.clone(), prefix: String::new() })
            } else {
                Err(OciRouteError::MethodNotAllowed)
            });
        }
        if path == "/v2/token" {
            return Some(if method == Method::GET || method == Method::POST {
                Ok(OciRoute { endpoint: Endpoint::Token, method: method.clone(), prefix: String::new() })
            } else {
                Err(OciRouteError::MethodNotAllowed)
            });
        }
        let rest = path.strip_prefix("/v2/")?;
        let (name, kind, tail) = split(rest)?;
        Some(route(method, name, kind, tail, tenancy))
    }

    /// What the request does to its repository; `None` for `/v2/`, which only authenticates.
    pub fn action(&self) -> Option<Action> {
        let write = matches!(self.method, Method::POST | Method::PUT | Method::PATCH);
        match &self.endpoint {
            Endpoint::Base | Endpoint::Token => None,
            Endpoint::Upload(..) | Endpoint::StartUpload(_) => Some(Action::Push),
            _ if write => Some(Action::Push),
            _ if self.method == Method::DELETE => Some(Action::Delete),
            _ => Some(Action::Pull),
        }
    }

    pub fn repo(&self) -> Option<&OciRepo> {
        match &self.endpoint {
            Endpoint::Base | Endpoint::Token => None,
            Endpoint::Tags(r)
            | Endpoint::Manifest(r, _)
            | Endpoint::Blob(r, _)
            | Endpoint::StartUpload(r)
            | Endpoint::Upload(r, _)
            | Endpoint::Referrers(r, _) => Some(r),
        }
    }

    /// The route template, a bounded label for logs and metrics.
    pub fn template(&self) -> &'static str {
        match self.endpoint {
            Endpoint::Base => "/v2/",
            Endpoint::Token => "/v2/token",
            Endpoint::Tags(_) => "/v2/:name/tags/list",
            Endpoint::Manifest(..) => "/v2/:name/manifests/:reference",
            Endpoint::Blob(..) => "/v2/:name/blobs/:digest",
            Endpoint::StartUpload(_) => "/v2/:name/blobs/uploads/",
            Endpoint::Upload(..) => "/v2/:name/blobs/uploads/:id",
            Endpoint::Referrers(..) => "/v2/:name/referrers/:digest",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tags,
    Manifests,
    Uploads,
    Blobs,
    Referrers,
}

/// Splits `<name>/<kind>/<tail>` at the last marker.
fn split(rest: &str) -> Option<(&str, Kind, &str)> {
    let markers = [
        ("/tags/list", Kind::Tags),
        ("/manifests/", Kind::Manifests),
        ("/blobs/uploads", Kind::Uploads),
        ("/blobs/", Kind::Blobs),
        ("/referrers/", Kind::Referrers),
    ];
    let mut best: Option<(usize, &str, Kind)> = None;
    for (marker, kind) in markers {
        if let Some(at) = rest.rfind(marker) {
            // `/blobs/uploads` also contains `/blobs/`: the longer marker at the same place wins.
            let better = match best {
                None => true,
                Some((b, _, _)) => at > b,
            };
            if better {
                best = Some((at, marker, kind));
            }
        }
    }
    let (at, marker, kind) = best?;
    let tail = &rest[at + marker.len()..];
    let ok = match kind {
        Kind::Tags => tail.is_empty(),
        Kind::Uploads => tail.is_empty() || tail == "/" || (tail.starts_with('/') && !tail[1..].contains('/')),
        _ => !tail.is_empty() && !tail.contains('/'),
    };
    ok.then(|| (&rest[..at], kind, tail.trim_start_matches('/')))
}

fn route(method: &Method, name: &str, kind: Kind, tail: &str, tenancy: Tenancy) -> Result<OciRoute, OciRouteError> {
    let repo = repository(name, tenancy)?;
    let allowed: &[Method] = match kind {
        Kind::Tags | Kind::Referrers => &[Method::GET, Method::HEAD],
        Kind::Manifests => &[Method::GET, Method::HEAD, Method::PUT, Method::DELETE],
        Kind::Blobs => &[Method::GET, Method::HEAD, Method::DELETE],
        Kind::Uploads if tail.is_empty() => &[Method::POST],
        Kind::Uploads => &[Method::GET, Method::PATCH, Method::PUT, Method::DELETE],
    };
    if !allowed.contains(method) {
        return Err(OciRouteError::MethodNotAllowed);
    }
    let endpoint = match kind {
        Kind::Tags => Endpoint::Tags(repo),
        Kind::Manifests => Endpoint::Manifest(repo, tail.to_owned()),
        Kind::Blobs => Endpoint::Blob(repo, tail.to_owned()),
        Kind::Uploads if tail.is_empty() => Endpoint::StartUpload(repo),
        Kind::Uploads => Endpoint::Upload(repo, tail.to_owned()),
        Kind::Referrers => Endpoint::Referrers(repo, tail.to_owned()),
    };
    Ok(OciRoute { endpoint, method: method.clone(), prefix: String::new() })
}

pub(super) fn repository(name: &str, tenancy: Tenancy) -> Result<OciRepo, OciRouteError> {
    let segments: Vec<&str> = name.split('/').collect();
    let Some((chart, tenant)) = segments.split_last() else { return Err(OciRouteError::NameInvalid(name.to_owned())) };
    if !is_valid_name_component(chart) {
        return Err(OciRouteError::NameInvalid(format!(
            "invalid repository name {name:?}: its last component must match [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*"
        )));
    }
    let fits = match tenancy {
        Tenancy::Single => tenant.is_empty(),
        Tenancy::Depth(n) => tenant.len() == n,
        Tenancy::Dynamic => true,
    };
    if !fits {
        let want = match tenancy {
            Tenancy::Depth(n) if n > 0 => format!("<{n} tenant segments>/<chart>"),
            _ => "<chart>".to_owned(),
        };
        return Err(OciRouteError::NameUnknown(format!("repository {name} is not served here: names are {want}")));
    }
    let tenant = Tenant::from_segments(tenant).map_err(|e| OciRouteError::NameInvalid(e.to_string()))?;
    Ok(OciRepo { tenant, name: (*chart).to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(tenant: &str, name: &str) -> OciRepo {
        OciRepo { tenant: Tenant::parse(tenant).unwrap(), name: name.to_owned() }
    }

    #[test]
    fn endpoints() {
        let d = "sha256:aa";
        let cases: Vec<(Method, String, Tenancy, Endpoint)> = vec![
            (Method::GET, "/v2/".into(), Tenancy::Single, Endpoint::Base),
            (Method::GET, "/v2".into(), Tenancy::Single, Endpoint::Base),
            (Method::GET, "/v2/demo/tags/list".into(), Tenancy::Single, Endpoint::Tags(repo("", "demo"))),
            (
                Method::PUT,
                "/v2/demo/manifests/1.0.0".into(),
                Tenancy::Single,
                Endpoint::Manifest(repo("", "demo"), "1.0.0".into()),
            ),
            (Method::HEAD, format!("/v2/demo/blobs/{d}"), Tenancy::Single, Endpoint::Blob(repo("", "demo"), d.into())),
            (Method::POST, "/v2/demo/blobs/uploads/".into(), Tenancy::Single, Endpoint::StartUpload(repo("", "demo"))),
            (Method::POST, "/v2/demo/blobs/uploads".into(), Tenancy::Single, Endpoint::StartUpload(repo("", "demo"))),
            (
                Method::PATCH,
                "/v2/demo/blobs/uploads/abc".into(),
                Tenancy::Single,
                Endpoint::Upload(repo("", "demo"), "abc".into()),
            ),
            (
                Method::GET,
                format!("/v2/org/team/demo/referrers/{d}"),
                Tenancy::Depth(2),
                Endpoint::Referrers(repo("org/team", "demo"), d.into()),
            ),
            // The last marker wins: a chart called `manifests` in tenant `t`.
            (
                Method::GET,
                "/v2/t/manifests/manifests/1.0.0".into(),
                Tenancy::Depth(1),
                Endpoint::Manifest(repo("t", "manifests"), "1.0.0".into()),
            ),
            (Method::GET, "/v2/a/b/c/tags/list".into(), Tenancy::Dynamic, Endpoint::Tags(repo("a/b", "c"))),
            (Method::GET, "/v2/c/tags/list".into(), Tenancy::Dynamic, Endpoint::Tags(repo("", "c"))),
            (Method::GET, "/v2/token".into(), Tenancy::Depth(1), Endpoint::Token),
            (Method::POST, "/v2/token".into(), Tenancy::Single, Endpoint::Token),
        ];
        for (method, path, tenancy, want) in cases {
            let got = OciRoute::parse(&method, &path, tenancy).unwrap().unwrap();
            assert_eq!(got.endpoint, want, "{method} {path}");
        }
    }

    #[test]
    fn actions() {
        let action = |m: Method, p: &str| OciRoute::parse(&m, p, Tenancy::Single).unwrap().unwrap().action();
        assert_eq!(action(Method::GET, "/v2/"), None);
        assert_eq!(action(Method::HEAD, "/v2/a/manifests/1"), Some(Action::Pull));
        assert_eq!(action(Method::PUT, "/v2/a/manifests/1"), Some(Action::Push));
        assert_eq!(action(Method::DELETE, "/v2/a/manifests/1"), Some(Action::Delete));
        assert_eq!(action(Method::DELETE, "/v2/a/blobs/uploads/x"), Some(Action::Push));
        assert_eq!(action(Method::GET, "/v2/a/blobs/uploads/x"), Some(Action::Push));
    }

    #[test]
    fn not_oci_paths_fall_through() {
        for path in ["/v2/index.yaml", "/v2/charts/a-1.0.0.tgz", "/v3/", "/", "/v2x/a/tags/list"] {
            assert!(OciRoute::parse(&Method::GET, path, Tenancy::Depth(1)).is_none(), "{path}");
        }
    }

    #[test]
    fn refusals() {
        let parse = |m: Method, p: &str, t| OciRoute::parse(&m, p, t).unwrap().unwrap_err();
        assert!(matches!(parse(Method::GET, "/v2/Demo/tags/list", Tenancy::Single), OciRouteError::NameInvalid(_)));
        assert!(matches!(parse(Method::GET, "/v2/a/b/tags/list", Tenancy::Single), OciRouteError::NameUnknown(_)));
        assert!(matches!(parse(Method::GET, "/v2/b/tags/list", Tenancy::Depth(1)), OciRouteError::NameUnknown(_)));
        assert!(matches!(parse(Method::GET, "/v2/../b/tags/list", Tenancy::Depth(1)), OciRouteError::NameInvalid(_)));
        assert!(matches!(
            parse(Method::GET, "/v2/.chartroom/b/tags/list", Tenancy::Depth(1)),
            OciRouteError::NameInvalid(_)
        ));
        assert!(matches!(parse(Method::POST, "/v2/a/manifests/1", Tenancy::Single), OciRouteError::MethodNotAllowed));
        assert!(matches!(parse(Method::POST, "/v2/", Tenancy::Single), OciRouteError::MethodNotAllowed));
    }
}
