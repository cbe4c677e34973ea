//! Which endpoint a request is for, which tenant it addresses and what it wants to do there:
//! ChartMuseum's URL mapping (`helm/chartmuseum:pkg/chartmuseum/router/match.go`) as a pure
//! function of (method, path), table-tested in `tests.rs`.
//!
//! * [`Route`] (`table.rs`): every endpoint, with its method, its path pattern after the tenant,
//!   its [`Action`] and its route template (`/api/:repo/charts/:name`, for logs and metrics).
//! * [`RouteTable::find`] (`matcher.rs`): strips the context path, answers the root routes
//!   (`/`, `/health`, `/info`, `/api/tenants`) at any depth, splits the tenant off repository
//!   routes (`/<tenant>/index.yaml`, `/<tenant>/charts/<file>`) and `/api` routes
//!   (`/api/<tenant>/charts/...`) by the layout (`--depth N`, `--depth-dynamic`), and validates
//!   the tenant name before anything else happens.
//!
//! The match names the endpoint's *canonical path*: its depth-0 path with the request's own
//! parameter segments (`/t1/t2/charts/a-1.0.0.tgz` → `/charts/a-1.0.0.tgz`). The server's axum
//! router only dispatches canonical paths to handlers (and decodes their parameters); it never
//! sees a tenant or a context path.

mod matcher;
mod table;

pub use matcher::{MatchError, RouteMatch, RouteTable};
pub use table::Route;

#[cfg(test)]
mod tests;
