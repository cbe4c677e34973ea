//! What routing and authentication learned about a request, for the layers around them (access
//! log, metrics) and the handlers: one type per fact, in the request's extensions.
//!
//! The gate (`gate.rs`) inserts them into the request before the handler runs, and copies them
//! into the *response's* extensions, because a layer outside the gate hands the request on and
//! only gets the response back. Read them with `response.extensions().get::<RouteTemplate>()`
//! (and [`RequestTenant`], [`RequestIdentity`]). None carries a secret; none is unbounded user
//! input except the tenant, which has passed the tenant rules (1-64 of `A-Z a-z 0-9 . _ -` per
//! segment) but is still the client's choice: use it as a metric label only for tenants that
//! exist (`Repository::tenants`).

use chartroom_index::Tenant;

/// The route template of the endpoint (`/api/:repo/charts/:name`, `/index.yaml`), or
/// [`RouteTemplate::UNMATCHED`]: a bounded set, usable as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteTemplate(pub &'static str);

impl RouteTemplate {
    /// Every request that matches no route (404 `not found`, an invalid tenant name).
    pub const UNMATCHED: RouteTemplate = RouteTemplate("(unmatched)");
}

/// The tenant the request addresses (the root for depth 0 and for `/health`, `/info`, `/`).
/// Absent when the path matched no route or named an invalid tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTenant(pub Tenant);

/// Who made the request, as a name safe to log: a user or token name of the auth config,
/// ChartMuseum's user, a JWT's `sub`, or `anonymous`. Absent for the routes open to everyone
/// (`/health`, `/info`) and when the credentials did not check out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestIdentity(pub String);
