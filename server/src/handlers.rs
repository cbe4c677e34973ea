//! Read, delete and service handlers: each parses its request, asks the repository
//! (`chartroom-index`) and shapes the response; deletes go through the repository's write path.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use chartroom_auth::{Action, Identity};
use chartroom_chart::archive;
use chartroom_chart::constraint;
use chartroom_chart::yaml::JsonValue;
use chartroom_index::{Entry, FileKind, Tenant, helm_reads_json};
use chartroom_storage::ObjectInfo;
use serde_json::json;

use crate::AppState;
use crate::error::ChartMuseumError;
use crate::http_util::{accepts_gzip, not_modified, query_map};
use crate::routing::Route;

const JSON: &str = "application/json; charset=utf-8";

/// Liveness and readiness in one view. Always 200 while the process serves: during an object
/// store outage the index is still served from memory, so taking replicas out of a load balancer
/// would turn a partial outage (no uploads) into a full one. `status` says `degraded` then, with
/// the storage error, for alerting and for operators.
pub async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let repo = state.repo();
    let storage = repo.storage_health();
    let status = if storage.reachable && !storage.full { "ok" } else { "degraded" };
    Json(json!({
        "healthy": true,
        "status": status,
        "replica": repo.replica_id(),
        "storage": storage,
        "storageRequests": repo.storage_requests(),
    }))
}

pub async fn info() -> impl IntoResponse {
    Json(json!({ "version": env!("CARGO_PKG_VERSION"), "server": "chartroom" }))
}

pub async fn welcome(State(state): State<AppState>, headers: HeaderMap) -> Result<Html<String>, ChartMuseumError> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost:8080");
    let host: String =
        host.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']')).collect();
    let url = format!("http://{host}{}", state.settings().context_path);
    if !state.routes().has_tenants() {
        let snapshot = state.repo().snapshot(&Tenant::root())?;
        return Ok(Html(format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Chartroom</title></head>\n<body>\n\
             <h1>Chartroom</h1>\n<p>A Helm chart repository serving {versions} chart versions of {charts} charts.</p>\n\
             <p>Add it to Helm:</p>\n<pre>helm repo add chartroom {url}\nhelm repo update\nhelm search repo chartroom/</pre>\n\
             <p>Upload a chart:</p>\n<pre>curl --data-binary @mychart-0.1.0.tgz {url}/api/charts</pre>\n</body></html>\n",
            versions = snapshot.versions,
            charts = snapshot.charts,
        )));
    }
    // The count of tenants is no secret: `/api/tenants` names the ones a caller may pull from.
    let tenants = state.repo().tenants().len();
    Ok(Html(format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Chartroom</title></head>\n<body>\n\
         <h1>Chartroom</h1>\n<p>A Helm chart repository server with {tenants} tenants holding charts.</p>\n\
         <p>Add a tenant's repository to Helm:</p>\n<pre>helm repo add &lt;name&gt; {url}/&lt;tenant&gt;\nhelm repo update</pre>\n\
         <p>Upload a chart:</p>\n<pre>curl --data-binary @mychart-0.1.0.tgz {url}/api/&lt;tenant&gt;/charts</pre>\n\
         <p>The tenants you may pull from: <a href=\"{url}/api/tenants\">{url}/api/tenants</a></p>\n</body></html>\n",
    )))
}

/// `GET /api/tenants`: the tenants that hold charts and that the caller may pull from, with
/// their sizes (the root repository is the tenant `""`).
pub async fn tenants(State(state): State<AppState>, Extension(identity): Extension<Identity>) -> Response {
    let authorizer = state.auth().authorizer();
    let listed: Vec<serde_json::Value> = state
        .repo()
        .tenants()
        .into_iter()
        .filter(|tenant| authorizer.allowed(&identity, tenant.as_str(), Action::Pull).is_allowed())
        .filter_map(|tenant| {
            let snapshot = state.repo().snapshot(&tenant).ok()?;
            Some(json!({ "name": tenant.as_str(), "charts": snapshot.charts, "versions": snapshot.versions }))
        })
        .collect();
    json_response(&Method::GET, json!({ "tenants": listed }).to_string())
}

/// `GET|HEAD /index.yaml`: precomputed bytes from memory, strong ETag, 304, gzip on request.
///
/// With `--index-format auto` the snapshot holds a YAML and a JSON body: a Helm that reads JSON
/// (by its `User-Agent`) gets the JSON one, every other client the YAML one, with
/// `Vary: User-Agent`; each body's own ETags are the only validators that match it.
pub async fn index_yaml(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ChartMuseumError> {
    let snapshot = state.repo().snapshot(&tenant)?;
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let representation = snapshot.body_for(helm_reads_json(user_agent));
    let wants_gzip = accepts_gzip(&headers);
    let (mut response, served_gzip) = if not_modified(
        &headers,
        &[&representation.etag, &representation.gzip_etag],
        Some(snapshot.last_modified_time),
    ) {
        (StatusCode::NOT_MODIFIED.into_response(), wants_gzip)
    } else {
        // Compressed once per snapshot, by the first request that asks (Helm never does).
        let gzip = if wants_gzip {
            let snap = Arc::clone(&snapshot);
            let json = representation.json;
            tokio::task::spawn_blocking(move || snap.body_for(json).gzip_or_compress().clone()).await.ok()
        } else {
            None
        };
        let (body, len) = match &gzip {
            Some(gz) => (Body::from(gz.clone()), gz.len()),
            None => (index_body(&representation.chunks), representation.len),
        };
        let mut response = if method == Method::HEAD { Response::new(Body::empty()) } else { Response::new(body) };
        response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        if gzip.is_some() {
            response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        (response, gzip.is_some())
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(if served_gzip { &representation.gzip_etag } else { &representation.etag }) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-yaml"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let vary = if snapshot.varies_by_user_agent() { "Accept-Encoding, User-Agent" } else { "Accept-Encoding" };
    h.insert(header::VARY, HeaderValue::from_static(vary));
    if let Ok(v) = HeaderValue::from_str(&snapshot.last_modified) {
        h.insert(header::LAST_MODIFIED, v);
    }
    Ok(response)
}

/// The body of an index representation: its chunks, sent in order without copying.
fn index_body(chunks: &[bytes::Bytes]) -> Body {
    let chunks = chunks.to_vec();
    Body::from_stream(futures::stream::iter(chunks.into_iter().map(Ok::<_, Infallible>)))
}

fn content_type(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Archive => "application/gzip",
        FileKind::Provenance => "application/pgp-signature",
    }
}

fn file_headers(state: &AppState, response: &mut Response, info: &ObjectInfo, kind: FileKind) {
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(kind)));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(info.size));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
    if let Some(tag) = object_etag(info)
        && let Ok(v) = HeaderValue::from_str(&tag)
    {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(info.last_modified)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    // Immutable only when no request can ever replace a published version's bytes.
    let cache =
        if state.repo().charts_immutable() { "public, max-age=31536000, immutable" } else { "public, no-cache" };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
}

fn object_etag(info: &ObjectInfo) -> Option<String> {
    let tag = info.e_tag.as_deref()?.trim_matches('"');
    (!tag.is_empty() && tag.bytes().all(|b| b.is_ascii_graphic() && b != b'"')).then(|| format!("\"{tag}\""))
}

/// `GET /charts/<file>`: streamed from storage, never buffered or re-encoded.
pub async fn chart_file(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ChartMuseumError> {
    let (kind, object) = state.repo().open_file(&tenant, &file).await?;
    let etag = object_etag(&object.info);
    let mut response = if not_modified(
        &headers,
        &etag.iter().map(String::as_str).collect::<Vec<_>>(),
        Some(object.info.last_modified),
    ) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from_stream(object.body))
    };
    file_headers(&state, &mut response, &object.info, kind);
    if response.status() == StatusCode::NOT_MODIFIED {
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
    Ok(response)
}

/// `HEAD /charts/<file>`: the GET headers, from a metadata request only.
pub async fn chart_file_head(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ChartMuseumError> {
    let (kind, info) = state.repo().file_info(&tenant, &file).await?;
    let etag = object_etag(&info);
    let status =
        if not_modified(&headers, &etag.iter().map(String::as_str).collect::<Vec<_>>(), Some(info.last_modified)) {
            StatusCode::NOT_MODIFIED
        } else {
            StatusCode::OK
        };
    let mut response = status.into_response();
    file_headers(&state, &mut response, &info, kind);
    Ok(response)
}

pub(crate) fn json_response(method: &Method, body: String) -> Response {
    let len = body.len();
    let mut response =
        if *method == Method::HEAD { Response::new(Body::empty()) } else { Response::new(Body::from(body)) };
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

/// `GET /api/charts[?offset=N&limit=M]`: pagination over chart names in index order.
pub async fn list_charts(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    uri: Uri,
) -> Result<Response, ChartMuseumError> {
    let query = query_map(&uri);
    let offset = match query.get("offset") {
        None => 0,
        Some(v) => v.parse::<usize>().map_err(|_| ChartMuseumError::InvalidOffset)?,
    };
    let limit = match query.get("limit") {
        None => usize::MAX,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => return Err(ChartMuseumError::InvalidLimit),
        },
    };
    let body = state.repo().index(&tenant)?.entries_json(offset, limit);
    Ok(json_response(&Method::GET, body))
}

/// `GET|HEAD /api/charts/<name>`
pub async fn get_chart(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    method: Method,
    Path(name): Path<String>,
) -> Result<Response, ChartMuseumError> {
    let body = state.repo().index(&tenant)?.chart_json(&name).ok_or(ChartMuseumError::ChartNotFound)?;
    Ok(json_response(&method, body))
}

/// Helm's `IndexFile.Get` semantics: exact version first, else a Masterminds constraint
/// (`latest` = any non-prerelease), newest first.
fn resolve(state: &AppState, tenant: &Tenant, name: &str, version: &str) -> Result<Arc<Entry>, ChartMuseumError> {
    let index = state.repo().index(tenant)?;
    let versions: Vec<Arc<Entry>> = index.versions(name).ok_or(ChartMuseumError::NoChartName)?.cloned().collect();
    drop(index);
    let requested = if version == "latest" { "" } else { version };
    match constraint::select(&versions, |e| e.version(), requested)? {
        Some(entry) => Ok(Arc::clone(entry)),
        None => Err(ChartMuseumError::NoChartVersion { name: name.to_owned(), version: version.to_owned() }),
    }
}

/// `GET|HEAD /api/charts/<name>/<version>`
pub async fn get_version(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    method: Method,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ChartMuseumError> {
    let entry = resolve(&state, &tenant, &name, &version)?;
    Ok(json_response(&method, entry.api_json()))
}

async fn chart_files(
    state: &AppState,
    tenant: &Tenant,
    entry: &Entry,
    wanted: fn(&str) -> bool,
) -> Result<Vec<archive::ChartFile>, ChartMuseumError> {
    Ok(state.repo().archive_files(tenant, entry, wanted).await?)
}

/// `GET /api/charts/<name>/<version>/templates`
pub async fn templates(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ChartMuseumError> {
    let entry = resolve(&state, &tenant, &name, &version)?;
    let files = chart_files(&state, &tenant, &entry, |p| p.starts_with("templates/") || p == "values.yaml").await?;
    let mut templates = Vec::new();
    let mut values = serde_json::Value::Object(Default::default());
    for f in files {
        if f.path == "values.yaml" {
            values = parse_values(&f.data)?;
        } else {
            templates
                .push(json!({ "name": f.path, "data": base64::engine::general_purpose::STANDARD.encode(&f.data) }));
        }
    }
    Ok(json_response(&Method::GET, json!({ "templates": templates, "values": values }).to_string()))
}

/// `values.yaml` as the templates API shows it. Uploads accept what Helm accepts (a byte order
/// mark, several documents, keys that are not strings), so this must read all of it: the first
/// document is the values, as Helm 3 and ChartMuseum read them (Helm 4 merges the documents);
/// keys become strings as in Helm's YAML-to-JSON conversion.
pub(crate) fn parse_values(data: &[u8]) -> Result<serde_json::Value, ChartMuseumError> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    if data.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    let text = std::str::from_utf8(data).map_err(|e| ChartMuseumError::UnreadableValues(e.to_string()))?;
    let documents: Vec<Option<JsonValue>> =
        serde_saphyr::from_multiple_with_options(text, chartroom_chart::yaml::read_options_for(text.len()))
            .map_err(|e| ChartMuseumError::UnreadableValues(e.to_string()))?;
    let first = documents.into_iter().next().flatten().map(|JsonValue(v)| v);
    Ok(first.filter(|v| !v.is_null()).unwrap_or_else(|| serde_json::Value::Object(Default::default())))
}

/// `GET /api/charts/<name>/<version>/values`: the raw values.yaml.
pub async fn values(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ChartMuseumError> {
    let entry = resolve(&state, &tenant, &name, &version)?;
    let mut files = chart_files(&state, &tenant, &entry, |p| p == "values.yaml").await?;
    let file = files.pop().ok_or(ChartMuseumError::ValuesNotFound)?;
    let mut response = Response::new(Body::from(file.data));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/yaml"));
    Ok(response)
}

/// `DELETE /api/charts/<name>/<version>`: the archive, its `.prov`, and the index entry.
pub async fn delete_version(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    identity: Option<Extension<Identity>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ChartMuseumError> {
    // For the audit log: the digest of the bytes deleted.
    let digest = state.repo().index(&tenant).ok().and_then(|i| i.get(&name, &version).map(|e| e.digest().to_string()));
    state.repo_as(&identity).unpublish(&tenant, &name, &version).await?;
    tracing::info!(identity = identity_name(&identity), tenant = tenant.as_str(), chart = %name, %version, "chart version deleted");
    let response = Json(json!({ "deleted": true })).into_response();
    Ok(crate::audit::written(response, &name, Some(&version), digest.as_deref()))
}

/// `DELETE /api/charts/<name>`: every version (ChartMuseum lacks this).
pub async fn delete_chart(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    identity: Option<Extension<Identity>>,
    Path(name): Path<String>,
) -> Result<Response, ChartMuseumError> {
    state.repo_as(&identity).unpublish_chart(&tenant, &name).await?;
    tracing::info!(identity = identity_name(&identity), tenant = tenant.as_str(), chart = %name, version = "*", "chart deleted, every version");
    Ok(crate::audit::written(Json(json!({ "deleted": true })).into_response(), &name, None, None))
}

/// `POST /api/provenance/verify`: which stored charts' provenance files do not verify with the
/// keyring in force now (after a keyring change); changes nothing.
pub async fn reverify_provenance(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
) -> Result<Response, ChartMuseumError> {
    let report = state.repo().reverify_provenance(&tenant).await?;
    Ok(Json(report).into_response())
}

/// `POST /api/resync`: reconcile the index with storage now (files added or removed by other tools).
/// Under `--depth N` (N ≥ 1), `POST /api/resync` is every tenant at once (new tenants appear,
/// tenants without charts are dropped).
pub async fn resync(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Extension(route): Extension<Route>,
) -> Result<Response, ChartMuseumError> {
    let report = match route {
        Route::ResyncAll => state.repo().resync_all().await?,
        _ => state.repo().resync(&tenant).await?,
    };
    Ok(Json(json!({ "resynced": true, "report": report })).into_response())
}

/// The caller's name for the write log (`anonymous` without authentication).
pub(crate) fn identity_name(identity: &Option<Extension<Identity>>) -> &str {
    identity.as_ref().map_or("anonymous", |Extension(identity)| identity.name())
}

/// Readiness: 200 while the repository serves everything, 503 while the object store does not
/// answer (uploads, deletes and downloads fail then). `/health` stays 200 meanwhile (liveness).
pub async fn ready(State(state): State<AppState>) -> Response {
    let storage = state.repo().storage_health();
    if storage.reachable && !storage.full {
        return Json(json!({ "ready": true })).into_response();
    }
    let reason = if storage.full {
        "storage is full: uploads fail until space is freed".to_owned()
    } else {
        format!("storage is unreachable: {}", storage.last_error.as_deref().unwrap_or("no answer"))
    };
    ChartMuseumError::from(crate::CommonError::NotReady(reason)).into_response()
}

/// `/health` while the index is being built: the process is alive.
pub async fn health_starting() -> impl IntoResponse {
    Json(json!({ "healthy": true, "status": "starting" }))
}
