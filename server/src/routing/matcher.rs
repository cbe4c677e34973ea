//! (method, path) → (route, tenant, canonical path), as ChartMuseum maps URLs.

use axum::http::Method;
use chartroom_index::{Tenancy, Tenant, TenantError};

use super::Route;
use super::table::{Class, SPECS, Spec};

/// The routes a server answers and how it reads tenants out of paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    /// `""` or `/a/b`.
    context_path: String,
    tenancy: Tenancy,
    api: bool,
    delete: bool,
    /// The web catalogue's routes (`/ui/...`); off unless [`RouteTable::with_ui`].
    ui: bool,
}

/// A request's endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub route: Route,
    /// The tenant the request addresses: the root for depth 0 and for root routes.
    pub tenant: Tenant,
    /// The route's depth-0 path with the request's parameter segments (still percent-encoded).
    pub canonical_path: String,
}

/// Why a request has no endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchError {
    /// No route has this path and method (ChartMuseum answers 404, never 405).
    NotFound,
    /// The path names a route, but its tenant segments break the tenant rules (400).
    InvalidTenant(TenantError),
}

impl RouteTable {
    /// `context_path` as the configuration normalises it (`""` or `/a/b`); `api` = not
    /// `--disable-api`, `delete` = not `--disable-delete`.
    pub fn new(context_path: &str, tenancy: Tenancy, api: bool, delete: bool) -> RouteTable {
        RouteTable { context_path: context_path.to_owned(), tenancy, api, delete, ui: false }
    }

    /// The same table with the web catalogue's routes (not `--disable-ui`).
    pub fn with_ui(self, ui: bool) -> RouteTable {
        RouteTable { ui, ..self }
    }

    /// Whether the web catalogue's routes are served.
    pub fn has_ui(&self) -> bool {
        self.ui
    }

    /// Whether tenants are served (route templates then carry `:repo`).
    pub fn has_tenants(&self) -> bool {
        !matches!(self.tenancy, Tenancy::Single | Tenancy::Depth(0))
    }

    /// What `route` does to its tenant on this server ([`Route::action`]), except that with
    /// tenants the welcome page (`/`: the tenant count, or for browsers the list of the
    /// repositories the visitor may read) shows no tenant's charts and needs no permission,
    /// as `/api/tenants`.
    pub fn action(&self, route: Route) -> Option<chartroom_auth::Action> {
        match route {
            Route::Welcome if self.has_tenants() => None,
            route => route.action(),
        }
    }

    /// Whether this server registers `spec` at all.
    fn available(&self, spec: &Spec) -> bool {
        match spec.route {
            Route::Welcome
            | Route::Health
            | Route::Ready
            | Route::Info
            | Route::Index
            | Route::ChartFile
            | Route::ArtifactHub => true,
            // Resync of every tenant has its own path only where `/api/resync` is no tenant's route.
            Route::ResyncAll => self.api && matches!(self.tenancy, Tenancy::Depth(n) if n > 0),
            Route::DeleteChart | Route::DeleteVersion | Route::ApplyRetention => self.api && self.delete,
            Route::UiCatalogue | Route::UiChart | Route::UiAsset => self.ui,
            _ => self.api,
        }
    }

    /// The endpoint of a request for `path` (the raw, still percent-encoded path).
    pub fn find(&self, method: &Method, path: &str) -> Result<RouteMatch, MatchError> {
        let path = self.strip_context_path(path).ok_or(MatchError::NotFound)?;
        let rest = path.strip_prefix('/').ok_or(MatchError::NotFound)?;
        let segments: Vec<&str> = rest.split('/').collect();

        // Root routes, at every depth (`/health` is never a tenant's).
        if let Some(spec) = SPECS.iter().find(|s| s.class == Class::Root && self.available(s) && s.fits(&segments)) {
            if !spec.accepts(method) {
                return Err(MatchError::NotFound);
            }
            return Ok(RouteMatch {
                route: spec.route,
                tenant: Tenant::root(),
                canonical_path: spec.canonical_path(&segments),
            });
        }

        // `/api/...` is an API route unless it names a repository file, so that a tenant called
        // `api` keeps its `/api/index.yaml` (ChartMuseum's `checkApiRoute`). At depth 0 there is
        // no such tenant, and every `/api/...` path stays an API path, as before tenants.
        let is_api = segments.len() > 1
            && segments[0] == "api"
            && (!self.has_tenants() || !(path.ends_with(".yaml") || path.ends_with(".tgz") || path.ends_with(".prov")));
        // `/ui/...` likewise for the web catalogue's pages.
        let is_ui = self.ui
            && segments.len() > 1
            && segments[0] == "ui"
            && (!self.has_tenants() || !(path.ends_with(".yaml") || path.ends_with(".tgz") || path.ends_with(".prov")));
        let (class, segments) = if is_api {
            (Class::Api, &segments[1..])
        } else if is_ui {
            (Class::Ui, &segments[1..])
        } else {
            (Class::Repo, &segments[..])
        };
        if class == Class::Api && !self.api {
            return Err(MatchError::NotFound);
        }
        let class_specs = || SPECS.iter().filter(move |s| s.class == class && self.available(s));

        let depth = match self.tenancy {
            Tenancy::Single => 0,
            Tenancy::Depth(n) => n,
            // The first pattern of the class that fits the end of the path, whatever the method,
            // leaves the rest to the tenant (ChartMuseum's `getDepth`).
            Tenancy::Dynamic => class_specs()
                .find(|s| segments.len() >= s.pattern.len() && s.fits(&segments[segments.len() - s.pattern.len()..]))
                .map(|s| segments.len() - s.pattern.len())
                .ok_or(MatchError::NotFound)?,
        };
        if segments.len() < depth {
            return Err(MatchError::NotFound);
        }
        let (tenant_segments, after) = segments.split_at(depth);
        let spec = class_specs().find(|s| s.accepts(method) && s.fits(after)).ok_or(MatchError::NotFound)?;
        let tenant = Tenant::from_segments(tenant_segments).map_err(MatchError::InvalidTenant)?;
        Ok(RouteMatch { route: spec.route, tenant, canonical_path: spec.canonical_path(after) })
    }

    /// The path without the context path (`/` for the context path itself, with or without a
    /// trailing `/`); `None` for a path outside it.
    fn strip_context_path<'p>(&self, path: &'p str) -> Option<&'p str> {
        if self.context_path.is_empty() {
            return Some(path);
        }
        let rest = path.strip_prefix(self.context_path.as_str())?;
        match rest {
            "" | "/" => Some("/"),
            rest if rest.starts_with('/') => Some(rest),
            _ => None,
        }
    }
}
