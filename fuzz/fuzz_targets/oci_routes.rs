#![no_main]
//! The OCI distribution route parser (`/v2/...`): never a panic; a routed repository has a valid
//! chart name and a tenant the layout serves, and the path written again from the route parses
//! to the same route.
use chartroom_index::oci::is_valid_name_component;
use chartroom_index::{Tenancy, Tenant};
use chartroom_server::fuzzing::{Endpoint, OciRoute};
use http::Method;
use libfuzzer_sys::fuzz_target;

const METHODS: [Method; 6] = [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::DELETE, Method::PATCH];

fuzz_target!(|data: &[u8]| {
    let [config, method, path @ ..] = data else { return };
    let Ok(path) = std::str::from_utf8(path) else { return };
    let tenancy = match config & 3 {
        0 => Tenancy::Single,
        1 => Tenancy::Depth(1),
        2 => Tenancy::Depth(2),
        _ => Tenancy::Dynamic,
    };
    let method = &METHODS[usize::from(*method) % METHODS.len()];
    let Some(Ok(route)) = OciRoute::parse(method, path, tenancy) else { return };
    assert_eq!(&route.method, method);
    let Some(repo) = route.repo() else {
        assert!(matches!(route.endpoint, Endpoint::Base | Endpoint::Token));
        return;
    };
    assert!(is_valid_name_component(&repo.name), "{path:?}: name {:?}", repo.name);
    assert!(tenancy.serves(&repo.tenant), "{path:?}: tenant {:?}", repo.tenant);
    assert!(Tenant::parse(repo.tenant.as_str()).is_ok());
    let label = repo.label();
    let rebuilt = match &route.endpoint {
        Endpoint::Base | Endpoint::Token => unreachable!("no repository"),
        Endpoint::Tags(_) => format!("/v2/{label}/tags/list"),
        Endpoint::Manifest(_, reference) => format!("/v2/{label}/manifests/{reference}"),
        Endpoint::Blob(_, digest) => format!("/v2/{label}/blobs/{digest}"),
        Endpoint::StartUpload(_) => format!("/v2/{label}/blobs/uploads/"),
        Endpoint::Upload(_, id) => format!("/v2/{label}/blobs/uploads/{id}"),
        Endpoint::Referrers(_, digest) => format!("/v2/{label}/referrers/{digest}"),
    };
    let again = OciRoute::parse(method, &rebuilt, tenancy);
    assert_eq!(again, Some(Ok(route.clone())), "{path:?} → {rebuilt:?}");
});
