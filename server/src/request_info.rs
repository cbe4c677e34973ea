//! What is known about a request beyond its method, for the access log and the request metrics:
//! one [`RequestLabels`] per request, in its extensions.
//!
//! The access log (`access_log.rs`, the outermost layer but the credentials' masking) inserts
//! an empty one before anything else runs and reads it when the response body has been sent;
//! whoever learns more fills it in:
//!
//! * the gate (`gate.rs`): the route template of the tenant router (ChartMuseum's `:param`
//!   syntax, `/api/:repo/charts/:name` when tenants are served, `/api/charts/:name` at depth 0),
//!   the tenant (`""` is the root) and the identity's name (`Identity::name()`: a user or token
//!   name, ChartMuseum's user, a JWT's `sub`, or `anonymous`; never a secret);
//! * `access_log::record_route`, for the few routes outside the gate (`/metrics`, the answers
//!   while the index is being built): the template of axum's `MatchedPath`.
//!
//! A request no route matched keeps no template and is logged and counted under
//! [`UNMATCHED`], so random paths add no series. The tenant is still the client's choice (it
//! passed the tenant rules, but may not exist): it goes into log lines, never into a metric
//! label; the tenants' gauges take their labels from `Repository::tenants`.
//!
//! The access log also copies the labels into the response's extensions, so a test (or a layer
//! around the application) can read what was recorded.

use std::sync::Arc;

use parking_lot::Mutex;

/// The template of requests no route matched (404 `not found`, an invalid tenant name).
pub const UNMATCHED: &str = "unmatched";

/// A request's route template, tenant and identity, shared by the layers that fill and read it.
#[derive(Clone, Default, Debug)]
pub struct RequestLabels(Arc<Mutex<Labels>>);

#[derive(Default, Debug)]
struct Labels {
    route: Option<Arc<str>>,
    tenant: Option<String>,
    identity: Option<String>,
    /// The write the request is (`push`, `delete`, `retention`), for the audit log.
    write: Option<&'static str>,
}

impl RequestLabels {
    /// The route template that matched, ChartMuseum style (`/api/charts/:name/:version`),
    /// without the context path.
    pub fn set_route(&self, template: impl Into<Arc<str>>) {
        self.0.lock().route = Some(template.into());
    }

    /// The tenant the request is about (`""` is the root repository).
    pub fn set_tenant(&self, tenant: &str) {
        self.0.lock().tenant = Some(tenant.to_owned());
    }

    /// Who made the request (`Identity::name()`: never a secret).
    pub fn set_identity(&self, identity: &str) {
        self.0.lock().identity = Some(identity.to_owned());
    }

    /// Marks the request as a chart write (`push`, `delete`, `retention`): the audit log
    /// (`audit.rs`) records it whatever its outcome.
    pub fn set_write(&self, action: &'static str) {
        self.0.lock().write = Some(action);
    }

    /// The write the request is, if it is one.
    pub fn write(&self) -> Option<&'static str> {
        self.0.lock().write
    }

    /// The route template, or [`UNMATCHED`].
    pub fn route(&self) -> Arc<str> {
        match &self.0.lock().route {
            Some(route) => Arc::clone(route),
            None => Arc::from(UNMATCHED),
        }
    }

    /// The tenant, once a route matched.
    pub fn tenant(&self) -> Option<String> {
        self.0.lock().tenant.clone()
    }

    /// The identity's name, once credentials were checked.
    pub fn identity(&self) -> Option<String> {
        self.0.lock().identity.clone()
    }
}
