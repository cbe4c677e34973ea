//! The web catalogue: server-rendered pages over the in-memory index, for browsers.
//!
//! * `GET /` with `Accept: text/html`: the catalogue (depth 0) or the repositories the visitor
//!   may read (depth > 0); any other `Accept` (curl's `*/*`) keeps the plain welcome text.
//! * `GET /ui/<tenant>/`: a repository's catalogue (`?q=` search, `?sort=name|pushed`, `?page=`).
//! * `GET /ui/<tenant>/charts/<name>[?version=<v>]`: a chart's page (README, values, schema,
//!   versions, install commands), its files read from the stored archive with the API's bounds.
//! * `GET /ui/.assets/<name>-<hash>.{css,js}`: the embedded assets, cached immutably.
//!
//! The gate routes and authorizes these like any read (`Action::Pull` on the tenant), so pages
//! obey the same grants as `index.yaml`. Every page is one HTML response under a strict
//! Content-Security-Policy (scripts and styles from this origin only, no inline script),
//! gzip-compressed when the browser accepts it. `--disable-ui` removes all of it.

mod assets;
mod catalogue;
mod highlight;
mod markdown;
mod pages;
mod schema;

use std::io::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chartroom_auth::{Action, Identity, Reason};
use chartroom_index::{Entry, Tenant};
use flate2::Compression;
use flate2::write::GzEncoder;

pub(crate) use catalogue::Cache;

use crate::AppState;
use crate::error::ChartMuseumError;
use crate::http_util::{accepts_gzip, query_map};
use pages::{ChartView, Crumb, Site, VersionRow};

/// The policy of every page: nothing but this origin's own CSS, JS and requests; images only
/// from here or inline (`data:` chart icons); no framing, no `<base>`, forms post here only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Versions per page on a chart's page.
const VERSIONS_PAGE: usize = 50;

/// Whether a `GET /` comes from a browser (it asks for HTML by name; curl sends `*/*`).
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| item.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("text/html")))
}

/// Tenants whose catalogue is built ahead of the first visitor (the cache keeps about as many).
const WARM_TENANTS: usize = 1024;

impl AppState {
    /// Builds the catalogue's chart summaries in the background once the index is ready, so that
    /// the first visitor after a start does not wait for them (one JSON parse per chart: about
    /// 140 ms at 10,000 charts; later changes re-read only the charts they touch).
    pub fn spawn_catalogue_warmup(&self) {
        if self.settings().disable_ui {
            return;
        }
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            for tenant in state.repo().tenants().into_iter().take(WARM_TENANTS) {
                // A tenant that cannot be read now is built by its first request instead.
                let _ = state.ui_cache().summaries(state.repo(), &tenant);
            }
        });
    }
}

/// `GET /`: browsers get the catalogue (or the repositories at depth > 0), everyone else the
/// welcome text as before.
pub(crate) async fn home(
    state: State<AppState>,
    tenant: Extension<Tenant>,
    identity: Option<Extension<Identity>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let ui = state.routes().has_ui();
    if !ui || !wants_html(&headers) {
        let mut response = match crate::handlers::welcome(state, headers).await {
            Ok(html) => html.into_response(),
            Err(e) => e.into_response(),
        };
        if ui {
            // Browsers get another page at this address.
            response.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept"));
        }
        return response;
    }
    let mut response = if state.routes().has_tenants() {
        tenant_list(&state, identity.map(|Extension(i)| i), &headers)
    } else {
        catalogue_page(&state, &tenant, &uri, &headers)
    };
    response.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
    response
}

/// `GET /ui/<tenant>/`
pub(crate) async fn catalogue(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    catalogue_page(&state, &tenant, &uri, &headers)
}

fn site(state: &AppState, headers: &HeaderMap) -> Site {
    // The Host header as sent, reduced to the characters a host and port may hold: it is
    // repeated in the page's commands (escaped there anyway).
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost:8080");
    let host: String =
        host.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']')).collect();
    let scheme = if state.serves_tls() { "https" } else { "http" };
    Site {
        context_path: state.settings().context_path.clone(),
        origin: format!("{scheme}://{host}"),
        host,
        has_tenants: state.routes().has_tenants(),
        oci: !state.settings().disable_oci,
    }
}

/// Home, then the tenant's catalogue (when tenants are served).
fn crumbs(site: &Site, tenant: &Tenant, leaf: Option<&str>) -> Vec<Crumb> {
    let mut crumbs: Vec<Crumb> = Vec::new();
    if site.has_tenants {
        crumbs.push(("Repositories".into(), Some(site.home())));
        crumbs.push((tenant.as_str().to_owned(), Some(site.catalogue(tenant))));
    } else {
        crumbs.push(("Charts".into(), Some(site.home())));
    }
    match leaf {
        Some(leaf) => crumbs.push((leaf.to_owned(), None)),
        None => {
            if let Some(last) = crumbs.last_mut() {
                last.1 = None;
            }
        }
    }
    crumbs
}

fn catalogue_page(state: &AppState, tenant: &Tenant, uri: &Uri, headers: &HeaderMap) -> Response {
    let site = site(state, headers);
    let summaries = match state.ui_cache().summaries(state.repo(), tenant) {
        Ok(s) => s,
        Err(e) => return ChartMuseumError::from(e).into_response(),
    };
    let query = query_map(uri);
    let q = query.get("q").map(|q| q.trim()).unwrap_or_default();
    // Bounded: a search longer than any chart's text finds nothing anyway.
    let q: String = q.chars().take(200).collect();
    let sort = catalogue::Sort::parse(query.get("sort").map(String::as_str));
    let page_number = query.get("page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(1);
    let page = catalogue::select(&summaries, &q, sort, page_number);
    let crumbs = crumbs(&site, tenant, None);
    let markup = pages::catalogue(&site, tenant, &crumbs, &page, &q, sort, summaries.len());
    html_response(headers, StatusCode::OK, markup.into_string())
}

/// The repositories the visitor may read, with their sizes. A visitor without credentials who
/// may read none of them is asked for credentials (the Basic challenge), as `index.yaml` would.
fn tenant_list(state: &AppState, identity: Option<Identity>, headers: &HeaderMap) -> Response {
    let identity = identity.unwrap_or_else(Identity::anonymous);
    let authorizer = state.auth().authorizer();
    let list: Vec<(Tenant, usize, usize)> = state
        .repo()
        .tenants()
        .into_iter()
        .filter(|t| !t.is_root())
        .filter(|t| authorizer.allowed(&identity, t.as_str(), Action::Pull).is_allowed())
        .filter_map(|t| {
            let snapshot = state.repo().snapshot(&t).ok()?;
            Some((t, snapshot.charts, snapshot.versions))
        })
        .collect();
    if list.is_empty() && state.auth().is_enabled() && identity.is_anonymous() {
        return ChartMuseumError::Unauthorized {
            reason: Reason::MissingCredentials,
            challenge: authorizer.challenge("", Action::Pull),
        }
        .into_response();
    }
    let site = site(state, headers);
    html_response(headers, StatusCode::OK, pages::tenants(&site, &list).into_string())
}

/// `GET /ui/<tenant>/charts/<name>[?version=<v>&vpage=<n>]`
pub(crate) async fn chart(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let site = site(&state, &headers);
    let query = query_map(&uri);
    let not_found = |title: &str, message: String| {
        let crumbs = crumbs(&site, &tenant, Some(title));
        let markup = pages::error(&site, &crumbs, title, &message);
        html_response(&headers, StatusCode::NOT_FOUND, markup.into_string())
    };
    let (versions, local_names) = {
        let index = match state.repo().index(&tenant) {
            Ok(index) => index,
            Err(e) => return ChartMuseumError::from(e).into_response(),
        };
        let Some(versions) = index.versions(&name) else {
            return not_found("Chart not found", format!("There is no chart called “{name}” here."));
        };
        let versions: Vec<Arc<Entry>> = versions.cloned().collect();
        let names: Vec<String> = index.names().map(str::to_owned).collect();
        (versions, names)
    };
    let entry = match query.get("version").filter(|v| !v.is_empty()) {
        Some(wanted) => match versions.iter().find(|e| e.version() == wanted.as_str()) {
            Some(e) => Arc::clone(e),
            None => {
                return not_found("Version not found", format!("Chart “{name}” has no version “{wanted}”."));
            }
        },
        None => match versions.iter().find(|e| !catalogue::is_prerelease(e.version())).or(versions.first()) {
            Some(e) => Arc::clone(e),
            None => return not_found("Chart not found", format!("There is no chart called “{name}” here.")),
        },
    };
    let meta = catalogue::Meta::of(&entry);

    let wanted: fn(&str) -> bool = |p| {
        p == "values.yaml"
            || p == "values.schema.json"
            || p.eq_ignore_ascii_case("README.md")
            || p.eq_ignore_ascii_case("README")
            || p.eq_ignore_ascii_case("README.txt")
    };
    let (mut readme, mut readme_cut, mut values, mut values_cut, mut schema, mut files_error) =
        (None, false, None, false, None, None);
    match state.repo().archive_files(&tenant, &entry, wanted).await {
        Ok(files) => {
            // README.md before README and README.txt when a chart has several.
            let mut readmes: Vec<&chartroom_chart::archive::ChartFile> =
                files.iter().filter(|f| f.path.to_ascii_lowercase().starts_with("readme")).collect();
            readmes.sort_by_key(|f| !f.path.eq_ignore_ascii_case("README.md"));
            if let Some(file) = readmes.first() {
                let (text, cut) = bounded_text(&file.data, markdown::MAX_README);
                readme = Some(markdown::render(&text));
                readme_cut = cut;
            }
            if let Some(file) = files.iter().find(|f| f.path == "values.yaml") {
                let (text, cut) = bounded_text(&file.data, highlight::MAX_VALUES);
                values = Some(highlight::yaml(&text));
                values_cut = cut;
            }
            if let Some(file) = files.iter().find(|f| f.path == "values.schema.json") {
                schema = Some(schema::rows(&file.data));
            }
        }
        Err(e) => files_error = Some(e.to_string()),
    }

    let version_count = versions.len();
    let version_pages = version_count.div_ceil(VERSIONS_PAGE).max(1);
    let position = versions.iter().position(|e| e.version() == entry.version()).unwrap_or(0);
    let version_page = query
        .get("vpage")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(position / VERSIONS_PAGE + 1)
        .clamp(1, version_pages);
    let rows: Vec<VersionRow> = versions
        .iter()
        .skip((version_page - 1) * VERSIONS_PAGE)
        .take(VERSIONS_PAGE)
        .map(|e| VersionRow {
            version: e.version().to_owned(),
            pushed: e.created,
            prerelease: catalogue::is_prerelease(e.version()),
            deprecated: e.metadata_json().contains("\"deprecated\":true"),
            digest: e.digest().chars().take(12).collect(),
            signer: signer(e),
        })
        .collect();
    let mut choices: Vec<String> = versions.iter().take(VERSIONS_PAGE).map(|e| e.version().to_owned()).collect();
    if !choices.iter().any(|c| c == entry.version()) {
        choices.push(entry.version().to_owned());
    }
    let local_dependencies =
        meta.dependencies.iter().filter(|d| local_names.contains(&d.name)).map(|d| d.name.clone()).collect();
    let digest = entry.digest();
    let view = ChartView {
        tenant: &tenant,
        digest: &digest,
        created: entry.created,
        signer: signer(&entry),
        versions: rows,
        version_page,
        version_pages,
        version_count,
        choices,
        readme,
        readme_cut,
        values,
        values_cut,
        schema,
        files_error,
        local_dependencies,
        meta,
    };
    let crumbs = crumbs(&site, &tenant, Some(&view.meta.name));
    html_response(&headers, StatusCode::OK, pages::chart(&site, &crumbs, &view).into_string())
}

/// Who signed a version, when its provenance file verified.
fn signer(entry: &Entry) -> Option<String> {
    let signature = entry.provenance()?.signature.as_ref()?;
    Some(signature.user_id.clone().unwrap_or_else(|| signature.fingerprint.clone()))
}

/// At most `max` bytes of `data` as text (invalid UTF-8 replaced), and whether it was cut.
fn bounded_text(data: &[u8], max: usize) -> (String, bool) {
    let cut = data.len() > max;
    let data = if cut { &data[..max] } else { data };
    (String::from_utf8_lossy(data).into_owned(), cut)
}

/// `GET /ui/.assets/<file>`
pub(crate) async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = assets::find(&file) else {
        return ChartMuseumError::RouteNotFound.into_response();
    };
    let mut response = compressed(&headers, asset.bytes.to_vec());
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// A page: HTML with the security headers, gzip-compressed when the browser accepts it.
fn html_response(headers: &HeaderMap, status: StatusCode, html: String) -> Response {
    let mut response = compressed(headers, html.into_bytes());
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Pages may be behind credentials: never kept by a shared cache, always revalidated.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    response
}

/// `body`, gzip-compressed when the client accepts it and it is worth it.
fn compressed(headers: &HeaderMap, body: Vec<u8>) -> Response {
    let mut gzip = None;
    if body.len() > 1024 && accepts_gzip(headers) {
        let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::new(6));
        if encoder.write_all(&body).is_ok()
            && let Ok(bytes) = encoder.finish()
        {
            gzip = Some(bytes);
        }
    }
    let mut response = match gzip {
        Some(bytes) => {
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        }
        None => Response::new(Body::from(body)),
    };
    response.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    response
}
