//! The matcher as ChartMuseum's `router/match_test.go` checks it (depths 0-3 × context paths ×
//! tenants, `--depth-dynamic` agreeing with the fixed depth, tenants named `api*` and `health`),
//! plus what Chartroom adds: tenant names checked, method mismatches, disabled routes.

use axum::http::Method;
use chartroom_index::{Tenancy, Tenant};

use super::table::SPECS;
use super::*;

fn table(context_path: &str, tenancy: Tenancy) -> RouteTable {
    RouteTable::new(context_path, tenancy, true, true)
}

fn depth(n: usize) -> Tenancy {
    if n == 0 { Tenancy::Single } else { Tenancy::Depth(n) }
}

/// `(route, tenant, canonical path)` of a request, or the error.
fn find(t: &RouteTable, method: Method, path: &str) -> Result<(Route, String, String), MatchError> {
    t.find(&method, path).map(|m| (m.route, m.tenant.as_str().to_owned(), m.canonical_path))
}

fn join(parts: &[&str]) -> String {
    let joined: Vec<&str> = parts.iter().map(|p| p.trim_matches('/')).filter(|p| !p.is_empty()).collect();
    format!("/{}", joined.join("/"))
}

#[test]
fn every_route_has_one_spec() {
    use Route::*;
    for route in [
        Welcome,
        Health,
        Ready,
        Info,
        Tenants,
        Events,
        Deliveries,
        ResyncAll,
        Index,
        ChartFile,
        ListCharts,
        UploadChart,
        GetChart,
        DeleteChart,
        GetVersion,
        DeleteVersion,
        Templates,
        Values,
        UploadProv,
        VerifyProvenance,
        Resync,
        UiCatalogue,
        UiChart,
        UiAsset,
        ArtifactHub,
        RetentionPreview,
        ApplyRetention,
    ] {
        assert_eq!(SPECS.iter().filter(|s| s.route == route).count(), 1, "{route:?}");
    }
}

/// ChartMuseum's table: every route at depths 0-3 under every context path, and the dynamic
/// layout finding the same route and tenant.
#[test]
fn depths_context_paths_and_dynamic_depth() {
    for n in 0..=3 {
        let repo = ["", "myrepo", "myorg/myrepo", "myorg/myteam/myrepo"][n];
        for context in ["", "/x", "/x/y", "/x/y/z"] {
            let fixed = table(context, depth(n));
            let dynamic = table(context, Tenancy::Dynamic);
            let cases: &[(Method, String, Route, &str, String)] = &[
                (Method::GET, join(&[context]), Route::Welcome, "", "/".into()),
                (Method::GET, join(&[context, "health"]), Route::Health, "", "/health".into()),
                (Method::GET, join(&[context, "health", "ready"]), Route::Ready, "", "/health/ready".into()),
                (Method::GET, join(&[context, "info"]), Route::Info, "", "/info".into()),
                (Method::GET, join(&[context, "api", "tenants"]), Route::Tenants, "", "/api/tenants".into()),
                (Method::GET, join(&[context, repo, "index.yaml"]), Route::Index, repo, "/index.yaml".into()),
                (Method::HEAD, join(&[context, repo, "index.yaml"]), Route::Index, repo, "/index.yaml".into()),
                (
                    Method::GET,
                    join(&[context, repo, "charts", "mychart-0.1.0.tgz"]),
                    Route::ChartFile,
                    repo,
                    "/charts/mychart-0.1.0.tgz".into(),
                ),
                (
                    Method::GET,
                    join(&[context, repo, "charts", "mychart-0.1.0.tgz.prov"]),
                    Route::ChartFile,
                    repo,
                    "/charts/mychart-0.1.0.tgz.prov".into(),
                ),
                (Method::GET, join(&[context, "api", repo, "charts"]), Route::ListCharts, repo, "/api/charts".into()),
                (
                    Method::GET,
                    join(&[context, "api", repo, "charts", "mychart"]),
                    Route::GetChart,
                    repo,
                    "/api/charts/mychart".into(),
                ),
                (
                    Method::HEAD,
                    join(&[context, "api", repo, "charts", "mychart"]),
                    Route::GetChart,
                    repo,
                    "/api/charts/mychart".into(),
                ),
                (
                    Method::GET,
                    join(&[context, "api", repo, "charts", "mychart", "0.1.0"]),
                    Route::GetVersion,
                    repo,
                    "/api/charts/mychart/0.1.0".into(),
                ),
                (
                    Method::GET,
                    join(&[context, "api", repo, "charts", "mychart", "0.1.0", "templates"]),
                    Route::Templates,
                    repo,
                    "/api/charts/mychart/0.1.0/templates".into(),
                ),
                (
                    Method::GET,
                    join(&[context, "api", repo, "charts", "mychart", "0.1.0", "values"]),
                    Route::Values,
                    repo,
                    "/api/charts/mychart/0.1.0/values".into(),
                ),
                (Method::POST, join(&[context, "api", repo, "charts"]), Route::UploadChart, repo, "/api/charts".into()),
                (Method::POST, join(&[context, "api", repo, "prov"]), Route::UploadProv, repo, "/api/prov".into()),
                (
                    Method::POST,
                    join(&[context, "api", repo, "provenance", "verify"]),
                    Route::VerifyProvenance,
                    repo,
                    "/api/provenance/verify".into(),
                ),
                (
                    Method::DELETE,
                    join(&[context, "api", repo, "charts", "mychart", "0.1.0"]),
                    Route::DeleteVersion,
                    repo,
                    "/api/charts/mychart/0.1.0".into(),
                ),
                (
                    Method::DELETE,
                    join(&[context, "api", repo, "charts", "mychart"]),
                    Route::DeleteChart,
                    repo,
                    "/api/charts/mychart".into(),
                ),
            ];
            for (method, path, route, tenant, canonical) in cases {
                let want = Ok((*route, (*tenant).to_owned(), canonical.clone()));
                assert_eq!(find(&fixed, method.clone(), path), want, "depth {n}, context {context:?}: {method} {path}");
                assert_eq!(find(&dynamic, method.clone(), path), want, "dynamic, context {context:?}: {method} {path}");
            }
            // Nothing that the dynamic layout could take for a route.
            assert_eq!(find(&dynamic, Method::GET, &join(&[context, "favicon"])), Err(MatchError::NotFound));
            // Outside the context path: not found, `/health` included.
            if !context.is_empty() {
                assert_eq!(find(&fixed, Method::GET, "/health"), Err(MatchError::NotFound));
                assert_eq!(find(&fixed, Method::GET, &format!("{context}x/health")), Err(MatchError::NotFound));
                assert_eq!(find(&fixed, Method::GET, &format!("{context}/")).map(|m| m.0), Ok(Route::Welcome));
            }
        }
    }
}

/// Tenants named like the fixed paths keep their repository routes.
#[test]
fn tenants_named_api_and_health() {
    for tenancy in [Tenancy::Depth(1), Tenancy::Dynamic] {
        let t = table("", tenancy);
        for (path, route, tenant, canonical) in [
            ("/apix/index.yaml", Route::Index, "apix", "/index.yaml"),
            ("/apix/charts/mychart-0.1.0.tgz", Route::ChartFile, "apix", "/charts/mychart-0.1.0.tgz"),
            ("/api/index.yaml", Route::Index, "api", "/index.yaml"),
            ("/api/charts/mychart-0.1.0.tgz", Route::ChartFile, "api", "/charts/mychart-0.1.0.tgz"),
            ("/api/charts/mychart-0.1.0.tgz.prov", Route::ChartFile, "api", "/charts/mychart-0.1.0.tgz.prov"),
            ("/health/index.yaml", Route::Index, "health", "/index.yaml"),
            ("/health/charts/mychart-0.1.0.tgz", Route::ChartFile, "health", "/charts/mychart-0.1.0.tgz"),
            ("/tenants/index.yaml", Route::Index, "tenants", "/index.yaml"),
        ] {
            let want = Ok((route, tenant.to_owned(), canonical.to_owned()));
            assert_eq!(find(&t, Method::GET, path), want, "{tenancy:?} {path}");
        }
        // The API of tenants called `api` and `tenants`.
        assert_eq!(find(&t, Method::GET, "/api/api/charts").map(|m| (m.0, m.1)), Ok((Route::ListCharts, "api".into())));
        let tenants_api = find(&t, Method::POST, "/api/tenants/charts").map(|m| (m.0, m.1));
        assert_eq!(tenants_api, Ok((Route::UploadChart, "tenants".into())));
    }
    for tenancy in [Tenancy::Depth(2), Tenancy::Dynamic] {
        let t = table("", tenancy);
        assert_eq!(find(&t, Method::GET, "/api/xyz/index.yaml").map(|m| m.1), Ok("api/xyz".into()), "{tenancy:?}");
        let file = find(&t, Method::GET, "/api/xyz/charts/mychart-0.1.0.tgz");
        assert_eq!(file.map(|m| (m.0, m.1)), Ok((Route::ChartFile, "api/xyz".into())), "{tenancy:?}");
    }
}

/// At depth 0 every `/api/...` path is an API path, as before tenants (a chart may be called
/// `x.tgz` in a lookup; the answer is the API's, not a repository file's).
#[test]
fn depth_zero_keeps_every_api_path() {
    let t = table("", Tenancy::Single);
    assert_eq!(find(&t, Method::GET, "/api/charts/x.tgz").map(|m| m.0), Ok(Route::GetChart));
    assert_eq!(find(&t, Method::POST, "/api/resync").map(|m| m.0), Ok(Route::Resync));
    assert_eq!(find(&t, Method::GET, "/api/charts/"), Err(MatchError::NotFound), "no empty parameter");
    assert_eq!(find(&t, Method::GET, "/charts/"), Err(MatchError::NotFound));
    assert_eq!(find(&t, Method::GET, "/health/"), Err(MatchError::NotFound));
    assert_eq!(find(&t, Method::GET, "//index.yaml"), Err(MatchError::NotFound));
    assert_eq!(find(&t, Method::GET, "/team/index.yaml"), Err(MatchError::NotFound), "no tenants at depth 0");
    // Percent-encoded parameters stay as sent: the handlers decode them.
    let encoded = find(&t, Method::GET, "/charts/a%2Fb-1.0.0.tgz").map(|m| m.2);
    assert_eq!(encoded, Ok("/charts/a%2Fb-1.0.0.tgz".to_owned()));
}

#[test]
fn methods_that_do_not_fit_are_not_found() {
    for tenancy in [Tenancy::Single, Tenancy::Depth(1), Tenancy::Dynamic] {
        let t = table("", tenancy);
        let r = if tenancy == Tenancy::Single { "" } else { "/team" };
        for (method, path) in [
            (Method::POST, "/health".to_owned()),
            (Method::DELETE, "/".to_owned()),
            (Method::PUT, format!("/api{r}/charts")),
            (Method::POST, format!("{r}/index.yaml")),
            (Method::PATCH, format!("/api{r}/charts/a/1.0.0")),
            (Method::GET, format!("/api{r}/prov")),
            (Method::GET, format!("/api{r}/provenance/verify")),
            (Method::POST, "/api/tenants".to_owned()),
        ] {
            let found = find(&t, method.clone(), &path);
            assert_eq!(found, Err(MatchError::NotFound), "{tenancy:?} {method} {path}");
        }
    }
}

#[test]
fn disabled_api_and_delete() {
    let no_api = RouteTable::new("", Tenancy::Depth(1), false, true);
    assert_eq!(find(&no_api, Method::GET, "/api/team/charts"), Err(MatchError::NotFound));
    assert_eq!(find(&no_api, Method::GET, "/api/tenants"), Err(MatchError::NotFound));
    assert_eq!(find(&no_api, Method::POST, "/api/team/provenance/verify"), Err(MatchError::NotFound));
    assert_eq!(find(&no_api, Method::GET, "/team/index.yaml").map(|m| m.0), Ok(Route::Index));
    let no_delete = RouteTable::new("", Tenancy::Depth(1), true, false);
    assert_eq!(find(&no_delete, Method::DELETE, "/api/team/charts/a/1.0.0"), Err(MatchError::NotFound));
    assert_eq!(find(&no_delete, Method::GET, "/api/team/charts/a/1.0.0").map(|m| m.0), Ok(Route::GetVersion));
}

/// `POST /api/resync` resyncs every tenant where it is no tenant's path (`--depth N`), the root
/// at depth 0 and with `--depth-dynamic`.
#[test]
fn resync_routes() {
    let all = find(&table("", Tenancy::Depth(2)), Method::POST, "/api/resync");
    assert_eq!(all, Ok((Route::ResyncAll, String::new(), "/api/resync".into())));
    let one = find(&table("", Tenancy::Depth(2)), Method::POST, "/api/a/b/resync");
    assert_eq!(one, Ok((Route::Resync, "a/b".into(), "/api/resync".into())));
    let root = find(&table("", Tenancy::Dynamic), Method::POST, "/api/resync");
    assert_eq!(root, Ok((Route::Resync, String::new(), "/api/resync".into())));
}

/// Tenant segments are checked before anything reads storage: the answer names the rule.
#[test]
fn invalid_tenants_are_refused_with_the_rule() {
    for tenancy in [Tenancy::Depth(1), Tenancy::Depth(2), Tenancy::Dynamic] {
        let t = table("/ctx", tenancy);
        let paths: &[&str] = match tenancy {
            Tenancy::Depth(1) => &[
                "/ctx/../index.yaml",
                "/ctx/./index.yaml",
                "/ctx/.chartroom/index.yaml",
                "/ctx//index.yaml",
                "/ctx/a%2Fb/index.yaml",
                "/ctx/%2e%2e/index.yaml",
                "/ctx/..%2F..%2Fetc/charts/passwd.tgz",
                "/ctx/api/../charts",
                "/ctx/api/.chartroom/charts",
                "/ctx/api/a%2Fb/charts/x/1.0.0",
                "/ctx/a b/index.yaml",
            ],
            Tenancy::Depth(2) => &["/ctx/a//index.yaml", "/ctx/a/../index.yaml", "/ctx/api/a/../charts"],
            _ => &["/ctx/a/../index.yaml", "/ctx//index.yaml", "/ctx/api/.chartroom/charts", "/ctx/x/%2e/index.yaml"],
        };
        for path in paths {
            let found = match find(&t, Method::GET, path) {
                Err(MatchError::NotFound) => find(&t, Method::POST, path),
                other => other,
            };
            match found {
                Err(MatchError::InvalidTenant(e)) => {
                    let message = e.to_string();
                    assert!(message.starts_with("invalid repository path"), "{path}: {message}");
                }
                other => panic!("{tenancy:?} {path}: {other:?}"),
            }
        }
        let long = format!("/ctx/{}/index.yaml", "x".repeat(65));
        if tenancy == Tenancy::Depth(1) || tenancy == Tenancy::Dynamic {
            let Err(MatchError::InvalidTenant(e)) = find(&t, Method::GET, &long) else { panic!("{long}") };
            assert!(e.to_string().contains("1 to 64 characters"), "{e}");
        }
    }
    let longest = format!("/{}/index.yaml", "x".repeat(64));
    let found = table("", Tenancy::Depth(1)).find(&Method::GET, &longest).map(|m| m.tenant);
    assert_eq!(found, Ok(Tenant::parse(&"x".repeat(64)).unwrap()));
}

#[test]
fn route_templates_are_chartmuseums() {
    assert_eq!(Route::GetVersion.template(true), "/api/:repo/charts/:name/:version");
    assert_eq!(Route::GetVersion.template(false), "/api/charts/:name/:version");
    assert_eq!(Route::ChartFile.template(true), "/:repo/charts/:filename");
    assert_eq!(Route::Health.template(true), "/health");
    assert!(table("", Tenancy::Dynamic).has_tenants() && !table("", Tenancy::Single).has_tenants());
    assert_eq!(Route::DeleteVersion.action(), Some(chartroom_auth::Action::Delete));
    assert_eq!(Route::Resync.action(), Some(chartroom_auth::Action::Push));
    assert_eq!(Route::Tenants.action(), None);
    assert_eq!(Route::VerifyProvenance.action(), Some(chartroom_auth::Action::Pull));
    assert_eq!(Route::VerifyProvenance.template(true), "/api/:repo/provenance/verify");
    assert!(Route::Health.is_open() && Route::Info.is_open() && !Route::Tenants.is_open());
    assert!(Route::Ready.is_open() && Route::Ready.action().is_none());
    assert_eq!(Route::Ready.template(true), "/health/ready");
}

/// The re-verification report is a route of every tenant (`/api/<tenant>/provenance/verify`)
/// and of the root at depth 0; under `--depth N` (N ≥ 1) the bare path names no route.
#[test]
fn provenance_verify_routes() {
    let one = find(&table("", Tenancy::Depth(1)), Method::POST, "/api/team-a/provenance/verify");
    assert_eq!(one, Ok((Route::VerifyProvenance, "team-a".into(), "/api/provenance/verify".into())));
    let bare = find(&table("", Tenancy::Depth(1)), Method::POST, "/api/provenance/verify");
    assert_eq!(bare, Err(MatchError::NotFound));
    for tenancy in [Tenancy::Single, Tenancy::Dynamic] {
        let root = find(&table("/ctx", tenancy), Method::POST, "/ctx/api/provenance/verify");
        assert_eq!(root, Ok((Route::VerifyProvenance, String::new(), "/api/provenance/verify".into())), "{tenancy:?}");
    }
    // A tenant called `provenance` keeps its own API.
    let named = find(&table("", Tenancy::Depth(1)), Method::POST, "/api/provenance/charts");
    assert_eq!(named, Ok((Route::UploadChart, "provenance".into(), "/api/charts".into())));
}

/// The web catalogue's routes: `/ui/<tenant>/` and `/ui/<tenant>/charts/<name>` at every depth
/// (fixed and dynamic agree), assets at the root; absent without `with_ui`; a tenant called
/// `ui` keeps its files; the welcome page needs no permission once tenants are served.
#[test]
fn web_catalogue_routes() {
    for n in 0..=3 {
        let repo = ["", "myrepo", "myorg/myrepo", "myorg/myteam/myrepo"][n];
        for context in ["", "/x/y"] {
            for t in [table(context, depth(n)).with_ui(true), table(context, Tenancy::Dynamic).with_ui(true)] {
                let catalogue = format!("{}/", join(&[context, "ui", repo]));
                assert_eq!(
                    find(&t, Method::GET, &catalogue),
                    Ok((Route::UiCatalogue, repo.to_owned(), "/ui/".to_owned())),
                    "{catalogue} {t:?}"
                );
                let chart = join(&[context, "ui", repo, "charts", "my%20chart"]);
                assert_eq!(
                    find(&t, Method::GET, &chart),
                    Ok((Route::UiChart, repo.to_owned(), "/ui/charts/my%20chart".to_owned())),
                    "{chart}"
                );
                let asset = join(&[context, "ui", ".assets", "chartroom-0123.css"]);
                assert_eq!(
                    find(&t, Method::GET, &asset),
                    Ok((Route::UiAsset, String::new(), "/ui/.assets/chartroom-0123.css".to_owned())),
                    "{asset}"
                );
                assert_eq!(find(&t, Method::POST, &catalogue), Err(MatchError::NotFound));
            }
            let off = table(context, depth(n));
            assert_eq!(
                find(&off, Method::GET, &format!("{}/", join(&[context, "ui", repo])))
                    .ok()
                    .map(|m| m.0)
                    .filter(|r| *r == Route::UiCatalogue),
                None
            );
            assert_eq!(find(&off, Method::GET, &join(&[context, "ui", ".assets", "a.css"])).map(|m| m.0).ok(), None);
        }
    }
    // A tenant called `ui` keeps its repository files.
    let t = table("", depth(1)).with_ui(true);
    assert_eq!(find(&t, Method::GET, "/ui/index.yaml").map(|m| (m.0, m.1)), Ok((Route::Index, "ui".to_owned())));
    assert_eq!(
        find(&t, Method::GET, "/ui/charts/a-1.0.0.tgz").map(|m| (m.0, m.1)),
        Ok((Route::ChartFile, "ui".to_owned()))
    );
    // The welcome page is about no tenant once tenants are served.
    assert_eq!(t.action(Route::Welcome), None);
    assert_eq!(t.action(Route::UiCatalogue), Some(chartroom_auth::Action::Pull));
    assert_eq!(table("", depth(0)).action(Route::Welcome), Some(chartroom_auth::Action::Pull));
    assert!(Route::UiAsset.is_open());
}
