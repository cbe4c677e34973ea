//! Every endpoint: method, where it lives (root, repository or API), its path pattern after the
//! tenant, the action it needs, and its names (canonical path, route templates).

use axum::http::Method;
use chartroom_auth::Action;

/// One endpoint of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `GET /`: the welcome page.
    Welcome,
    /// `GET /health`: liveness, always open.
    Health,
    /// `GET /health/ready`: readiness, always open.
    Ready,
    /// `GET /info`: the server's version, always open.
    Info,
    /// `GET /api/tenants`: the tenants the caller may pull from.
    Tenants,
    /// `GET /api/events`: the change feed, filtered to the tenants the caller may pull from.
    Events,
    /// `GET /api/webhooks/deliveries`: pending webhook events and the latest attempts, for the
    /// tenants the caller may pull from.
    Deliveries,
    /// `POST /api/resync` under `--depth N` (N ≥ 1): every tenant at once.
    ResyncAll,
    /// `GET|HEAD {R}/index.yaml`
    Index,
    /// `GET|HEAD {R}/charts/:filename`
    ChartFile,
    /// `GET /api{R}/charts`
    ListCharts,
    /// `POST /api{R}/charts`
    UploadChart,
    /// `GET|HEAD /api{R}/charts/:name`
    GetChart,
    /// `DELETE /api{R}/charts/:name` (every version; ChartMuseum lacks it)
    DeleteChart,
    /// `GET|HEAD /api{R}/charts/:name/:version`
    GetVersion,
    /// `DELETE /api{R}/charts/:name/:version`
    DeleteVersion,
    /// `GET /api{R}/charts/:name/:version/templates`
    Templates,
    /// `GET /api{R}/charts/:name/:version/values`
    Values,
    /// `POST /api{R}/prov`
    UploadProv,
    /// `POST /api{R}/provenance/verify`: which stored provenance files no longer verify with
    /// the keyring in force (not in ChartMuseum).
    VerifyProvenance,
    /// `POST /api{R}/resync`
    Resync,
    /// `GET /ui{R}/`: the web catalogue of a repository (`server/src/ui/`).
    UiCatalogue,
    /// `GET /ui{R}/charts/:name`: a chart's page in the web catalogue.
    UiChart,
    /// `GET {R}/artifacthub-repo.yml`: the Artifact Hub repository metadata file.
    ArtifactHub,
    /// `GET /api{R}/retention`: what the retention policy would remove now (dry run).
    RetentionPreview,
    /// `POST /api{R}/retention`: applies the retention policy to the tenant's charts.
    ApplyRetention,
    /// `GET /ui/.assets/:file`: the catalogue's embedded CSS and JS, open to everyone (they are
    /// the same bytes for every caller and hold no repository data).
    UiAsset,
}

/// Where a route's path lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// A fixed path, matched before any tenant is looked for (`/health` at every depth).
    Root,
    /// `/<tenant>/...`
    Repo,
    /// `/api/<tenant>/...`
    Api,
    /// `/ui/<tenant>/...`: the web catalogue's pages (as `/api`, so that a tenant's files keep
    /// their paths).
    Ui,
}

/// A route's description.
pub(super) struct Spec {
    pub route: Route,
    /// The method; `GET` routes also answer `HEAD`.
    pub method: Method,
    pub class: Class,
    /// The path segments after the tenant (after `/api/<tenant>` for API routes); `:x` is one
    /// non-empty segment. For root routes: the whole path, segment by segment.
    pub pattern: &'static [&'static str],
    /// The route template with a tenant (`/api/:repo/charts/:name`); ChartMuseum's metric label.
    pub tenant_template: &'static str,
    /// The route template at depth 0 (`/api/charts/:name`), also the shape of the canonical path.
    pub root_template: &'static str,
}

macro_rules! spec {
    ($route:ident, $method:ident, $class:ident, [$($seg:literal),*], $tenant:literal, $root:literal) => {
        Spec {
            route: Route::$route,
            method: Method::$method,
            class: Class::$class,
            pattern: &[$($seg),*],
            tenant_template: $tenant,
            root_template: $root,
        }
    };
}

/// Every route, in ChartMuseum's registration order: with `--depth-dynamic` the first pattern of
/// a class that fits a path fixes the tenant depth, whatever the method.
pub(super) const SPECS: &[Spec] = &[
    spec!(Welcome, GET, Root, [""], "/", "/"),
    spec!(Info, GET, Root, ["info"], "/info", "/info"),
    spec!(Health, GET, Root, ["health"], "/health", "/health"),
    spec!(Ready, GET, Root, ["health", "ready"], "/health/ready", "/health/ready"),
    spec!(Tenants, GET, Root, ["api", "tenants"], "/api/tenants", "/api/tenants"),
    spec!(Events, GET, Root, ["api", "events"], "/api/events", "/api/events"),
    spec!(
        Deliveries,
        GET,
        Root,
        ["api", "webhooks", "deliveries"],
        "/api/webhooks/deliveries",
        "/api/webhooks/deliveries"
    ),
    // `.assets` can be no tenant's segment (a leading `.` is refused), so this root route
    // shadows no repository path at any depth.
    spec!(UiAsset, GET, Root, ["ui", ".assets", ":file"], "/ui/.assets/:file", "/ui/.assets/:file"),
    spec!(ResyncAll, POST, Root, ["api", "resync"], "/api/resync", "/api/resync"),
    spec!(ArtifactHub, GET, Repo, ["artifacthub-repo.yml"], "/:repo/artifacthub-repo.yml", "/artifacthub-repo.yml"),
    spec!(Index, GET, Repo, ["index.yaml"], "/:repo/index.yaml", "/index.yaml"),
    spec!(ChartFile, GET, Repo, ["charts", ":filename"], "/:repo/charts/:filename", "/charts/:filename"),
    spec!(ListCharts, GET, Api, ["charts"], "/api/:repo/charts", "/api/charts"),
    spec!(GetChart, GET, Api, ["charts", ":name"], "/api/:repo/charts/:name", "/api/charts/:name"),
    spec!(
        GetVersion,
        GET,
        Api,
        ["charts", ":name", ":version"],
        "/api/:repo/charts/:name/:version",
        "/api/charts/:name/:version"
    ),
    spec!(
        Templates,
        GET,
        Api,
        ["charts", ":name", ":version", "templates"],
        "/api/:repo/charts/:name/:version/templates",
        "/api/charts/:name/:version/templates"
    ),
    spec!(
        Values,
        GET,
        Api,
        ["charts", ":name", ":version", "values"],
        "/api/:repo/charts/:name/:version/values",
        "/api/charts/:name/:version/values"
    ),
    spec!(UploadChart, POST, Api, ["charts"], "/api/:repo/charts", "/api/charts"),
    spec!(UiCatalogue, GET, Ui, [""], "/ui/:repo/", "/ui/"),
    spec!(UiChart, GET, Ui, ["charts", ":name"], "/ui/:repo/charts/:name", "/ui/charts/:name"),
    spec!(UploadProv, POST, Api, ["prov"], "/api/:repo/prov", "/api/prov"),
    spec!(
        VerifyProvenance,
        POST,
        Api,
        ["provenance", "verify"],
        "/api/:repo/provenance/verify",
        "/api/provenance/verify"
    ),
    spec!(Resync, POST, Api, ["resync"], "/api/:repo/resync", "/api/resync"),
    spec!(RetentionPreview, GET, Api, ["retention"], "/api/:repo/retention", "/api/retention"),
    spec!(ApplyRetention, POST, Api, ["retention"], "/api/:repo/retention", "/api/retention"),
    spec!(DeleteChart, DELETE, Api, ["charts", ":name"], "/api/:repo/charts/:name", "/api/charts/:name"),
    spec!(
        DeleteVersion,
        DELETE,
        Api,
        ["charts", ":name", ":version"],
        "/api/:repo/charts/:name/:version",
        "/api/charts/:name/:version"
    ),
];

impl Spec {
    /// Whether a request with `method` is for this route (`HEAD` goes to `GET` routes).
    pub(super) fn accepts(&self, method: &Method) -> bool {
        self.method == method || (self.method == Method::GET && method == Method::HEAD)
    }

    /// Whether `segments` have this route's shape: same count, equal literals, non-empty
    /// parameters.
    pub(super) fn fits(&self, segments: &[&str]) -> bool {
        segments.len() == self.pattern.len()
            && self.pattern.iter().zip(segments).all(|(want, got)| match want.strip_prefix(':') {
                Some(_) => !got.is_empty(),
                None => want == got,
            })
    }

    /// The depth-0 path of this route with the request's parameter segments, as they were sent
    /// (still percent-encoded: the handlers' extractors decode them as before tenants existed).
    pub(super) fn canonical_path(&self, segments: &[&str]) -> String {
        let mut path = String::new();
        match self.class {
            Class::Api => path.push_str("/api"),
            Class::Ui => path.push_str("/ui"),
            Class::Root | Class::Repo => {}
        }
        for (want, got) in self.pattern.iter().zip(segments) {
            path.push('/');
            path.push_str(if want.starts_with(':') { got } else { want });
        }
        if path.is_empty() { "/".to_owned() } else { path }
    }
}

impl Route {
    fn spec(self) -> &'static Spec {
        // Every route has exactly one entry (`tests::every_route_has_one_spec`).
        SPECS.iter().find(|s| s.route == self).unwrap_or(&SPECS[0])
    }

    /// What the route does to its tenant; `None` for the routes open to everyone (`/health`,
    /// `/info`) and for `/api/tenants`, whose answer depends on the caller instead.
    pub fn action(self) -> Option<Action> {
        match self {
            Route::Health
            | Route::Ready
            | Route::Info
            | Route::Tenants
            | Route::Events
            | Route::Deliveries
            | Route::UiAsset => None,
            Route::Welcome
            | Route::Index
            | Route::ChartFile
            | Route::ListCharts
            | Route::GetChart
            | Route::GetVersion
            | Route::Templates
            | Route::Values
            | Route::UiCatalogue
            | Route::UiChart
            | Route::ArtifactHub => Some(Action::Pull),
            // Retention deletes versions; its preview tells what a delete grant may remove, so
            // it needs that grant too.
            Route::RetentionPreview | Route::ApplyRetention => Some(Action::Delete),
            // The re-verification report reads the tenant's provenance files and changes
            // nothing; it tells a caller no more than pulling does (the chart API already shows
            // each version's recorded verification, and the `.prov` files are downloadable),
            // and it costs the storage reads a puller could make by downloading them.
            Route::VerifyProvenance => Some(Action::Pull),
            // A resync rewrites the tenant's index from storage: a write, as an upload is.
            Route::UploadChart | Route::UploadProv | Route::Resync | Route::ResyncAll => Some(Action::Push),
            Route::DeleteChart | Route::DeleteVersion => Some(Action::Delete),
        }
    }

    /// The chart write the route is, for the audit log (`audit.rs`).
    pub fn audited_write(self) -> Option<&'static str> {
        match self {
            Route::UploadChart | Route::UploadProv => Some("push"),
            Route::DeleteChart | Route::DeleteVersion => Some("delete"),
            Route::ApplyRetention => Some("retention"),
            _ => None,
        }
    }

    /// Whether anyone may call it, credentials or not, valid or not (the probes, `/info`).
    pub fn is_open(self) -> bool {
        matches!(self, Route::Health | Route::Ready | Route::Info | Route::UiAsset)
    }

    /// The route template, ChartMuseum's way (`/api/:repo/charts/:name` when tenants are
    /// served, `/api/charts/:name` at depth 0): a bounded label for logs and metrics.
    pub fn template(self, tenants: bool) -> &'static str {
        let spec = self.spec();
        if tenants { spec.tenant_template } else { spec.root_template }
    }
}
