#![no_main]
//! The route table (`server/src/routing/`): (method, raw path) → endpoint, tenant and canonical
//! path, under every layout. Never a panic; a match names a tenant the layout serves (the root
//! for the root routes), its canonical path is dispatched to the same endpoint by a plain
//! depth-0 server, and tenant and canonical path put together give back the request path.
use chartroom_index::{Tenancy, Tenant};
use chartroom_server::routing::{Route, RouteTable};
use http::Method;
use libfuzzer_sys::fuzz_target;

const METHODS: [Method; 6] = [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::DELETE, Method::PATCH];

fuzz_target!(|data: &[u8]| {
    let [config, method, path @ ..] = data else { return };
    let Ok(path) = std::str::from_utf8(path) else { return };
    let tenancy = match config & 7 {
        0 => Tenancy::Single,
        1 => Tenancy::Depth(1),
        2 => Tenancy::Depth(2),
        3 => Tenancy::Depth(3),
        4 => Tenancy::Depth(0),
        _ => Tenancy::Dynamic,
    };
    let context_path = if config & 8 == 0 { "" } else { "/ctx/sub" };
    let (api, delete) = (config & 16 == 0, config & 32 == 0);
    let method = &METHODS[usize::from(*method) % METHODS.len()];
    let table = RouteTable::new(context_path, tenancy, api, delete);
    let Ok(found) = table.find(method, path) else { return };

    assert!(tenancy.serves(&found.tenant) || found.tenant.is_root(), "{path:?}: tenant {:?}", found.tenant);
    assert!(Tenant::parse(found.tenant.as_str()).is_ok());
    if matches!(found.route, Route::Health | Route::Ready | Route::Info | Route::Welcome | Route::Tenants) {
        // Root routes exist at every depth, outside the tenants (`/` is the root's welcome page).
        if found.route != Route::Welcome {
            assert!(found.tenant.is_root(), "{path:?}: a root route with tenant {:?}", found.tenant);
        }
    }

    let canonical = &found.canonical_path;
    assert!(canonical.starts_with('/'), "{path:?} → {canonical:?}");
    if found.route != Route::ResyncAll {
        let plain = RouteTable::new("", Tenancy::Single, api, delete);
        let again = plain.find(method, canonical).unwrap_or_else(|e| panic!("{path:?} → {canonical:?}: {e:?}"));
        assert_eq!(again.route, found.route, "{path:?} → {canonical:?}");
        assert_eq!(&again.canonical_path, canonical);
        assert!(again.tenant.is_root());
    }

    let stripped = match path.strip_prefix(context_path) {
        _ if context_path.is_empty() => path,
        Some("") => "/",
        Some(rest) => rest,
        None => panic!("{path:?} matched outside the context path"),
    };
    if !found.tenant.is_root() {
        let tenant = found.tenant.as_str();
        let rebuilt = match canonical.strip_prefix("/api/") {
            Some(rest) => format!("/api/{tenant}/{rest}"),
            None => format!("/{tenant}{canonical}"),
        };
        assert_eq!(rebuilt, stripped, "tenant {tenant:?} + {canonical:?}");
    }
});
