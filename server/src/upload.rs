//! Uploads: `POST /api/charts` (raw `.tgz` body or multipart with `chart` and `prov` parts) and
//! `POST /api/prov`.
//!
//! Parsing only: a bounded body read, the multipart form, `?force`. Validation, storage, the
//! overwrite policy and indexing are the repository's ([`chartroom_index::Repository::publish`]).

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use chartroom_auth::Identity;
use chartroom_index::Tenant;
use http_body_util::BodyExt;
use serde_json::json;

use crate::AppState;
use crate::audit::{pruned, written};
use crate::body_budget::{BudgetFull, Reservation};
use crate::error::{ChartMuseumError, CommonError};
use crate::handlers::identity_name;
use crate::http_util::query_map;

/// Reads a request body up to `limit` bytes within the read timeout, counted against the upload
/// memory budget (`--max-upload-memory`) for as long as the returned reservation lives.
async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Bytes, Reservation), ChartMuseumError> {
    let limit = state.settings().max_upload_size;
    let budget = state.body_budget();
    let full = |e: BudgetFull| ChartMuseumError::from(CommonError::UploadMemoryFull(e.budget));
    let mut held = Reservation::default();
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(CommonError::PayloadTooLarge(limit).into());
    }
    if let Some(declared) = declared {
        budget.cover(&mut held, declared, limit, false).map_err(full)?;
    }
    let read = async {
        let mut body = body;
        // A declared length is allocated once: growing by doubling left a 20 MiB body in a
        // 32 MiB buffer, after copying it (measured: 8 concurrent 20 MiB uploads cost 106 MB
        // under a 64 MiB budget).
        let mut buf = BytesMut::with_capacity(declared.unwrap_or(0) as usize);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ChartMuseumError::UnreadableBody(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                let len = buf.len() as u64 + data.len() as u64;
                if len > limit {
                    return Err(CommonError::PayloadTooLarge(limit).into());
                }
                budget.cover(&mut held, len, limit, true).map_err(full)?;
                buf.extend_from_slice(&data);
            }
        }
        Ok::<_, ChartMuseumError>(buf.freeze())
    };
    let timeout = state.settings().read_timeout;
    let bytes = tokio::time::timeout(timeout, read).await.map_err(|_| CommonError::ReadTimeout(timeout))??;
    Ok((bytes, held))
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"))
}

fn force_requested(req: &Request) -> bool {
    query_map(req.uri()).contains_key("force")
}

fn saved() -> Response {
    (StatusCode::CREATED, Json(json!({ "saved": true }))).into_response()
}

/// Every write is logged with who made it, where, and what.
fn log_write(identity: &Option<Extension<Identity>>, tenant: &Tenant, chart: &str, version: &str, what: &str) {
    tracing::info!(identity = identity_name(identity), tenant = tenant.as_str(), chart, version, "{what}");
}

/// Counts an upload by outcome (`chartroom_uploads_total`) and the bytes stored.
fn counted(result: Result<Response, ChartMuseumError>, bytes: usize) -> Result<Response, ChartMuseumError> {
    use ChartMuseumError as E;
    let outcome = match &result {
        Ok(_) => {
            metrics::counter!("chartroom_upload_bytes_total").increment(bytes as u64);
            "stored"
        }
        Err(E::FileExists | E::ChartExists) => "conflict",
        Err(E::Common(CommonError::PayloadTooLarge(_))) => "too_large",
        Err(E::Common(_) | E::UnreadableArchive(_) | E::UnreadableValues(_)) => "error",
        Err(_) => "invalid",
    };
    metrics::counter!("chartroom_uploads_total", "outcome" => outcome).increment(1);
    result
}

/// `POST /api/charts`
pub async fn upload_chart(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    identity: Option<Extension<Identity>>,
    req: Request,
) -> Result<Response, ChartMuseumError> {
    let mut bytes = 0;
    let result = upload_chart_counted(state, &tenant, &identity, req, &mut bytes).await;
    counted(result, bytes)
}

async fn upload_chart_counted(
    state: AppState,
    tenant: &Tenant,
    identity: &Option<Extension<Identity>>,
    req: Request,
    size: &mut usize,
) -> Result<Response, ChartMuseumError> {
    let force = force_requested(&req);
    let (parts, body) = req.into_parts();
    // The reservation is held until the upload is answered: its bytes live that long.
    let (bytes, _reserved) = read_body(&state, &parts.headers, body).await?;
    *size = bytes.len();
    if is_multipart(&parts.headers) {
        let req = Request::from_parts(parts, Body::from(bytes));
        return upload_multipart(state, tenant, identity, req, force)
            .await
            .map_err(ChartMuseumError::in_multipart_form);
    }
    let published = state.repo_as(identity).publish(tenant, bytes, None, force).await?;
    log_write(identity, tenant, &published.name, &published.version, "chart uploaded");
    let response = written(saved(), &published.name, Some(&published.version), Some(&published.digest));
    Ok(pruned(response, &published.pruned))
}

async fn upload_multipart(
    state: AppState,
    tenant: &Tenant,
    identity: &Option<Extension<Identity>>,
    req: Request,
    force: bool,
) -> Result<Response, ChartMuseumError> {
    let settings = state.settings();
    let Form { chart, prov } = read_form(req, &settings.chart_form_field, &settings.prov_form_field).await?;
    match (chart, prov) {
        (None, None) => Err(ChartMuseumError::NoFormFiles {
            chart_field: settings.chart_form_field.clone(),
            prov_field: settings.prov_form_field.clone(),
        }),
        (None, Some(prov)) => {
            let stored = state.repo_as(identity).put_provenance(tenant, prov, force).await?;
            log_write(identity, tenant, &stored.name, &stored.version, "provenance file uploaded");
            Ok(written(saved(), &stored.name, Some(&stored.version), None))
        }
        (Some(chart), prov) => {
            let with_prov = prov.is_some();
            let published = state.repo_as(identity).publish(tenant, chart, prov, force).await?;
            let what = if with_prov { "chart uploaded with its provenance file" } else { "chart uploaded" };
            log_write(identity, tenant, &published.name, &published.version, what);
            let response = written(saved(), &published.name, Some(&published.version), Some(&published.digest));
            Ok(pruned(response, &published.pruned))
        }
    }
}

/// The chart and provenance parts of a multipart upload form (other parts are ignored).
pub(crate) struct Form {
    pub chart: Option<Bytes>,
    pub prov: Option<Bytes>,
}

/// Reads the multipart form of `req` (its body already read and bounded): the `chart` part or
/// the one named `chart_field`, the `prov` part or the one named `prov_field`; a second part of
/// either kind is refused.
pub(crate) async fn read_form(req: Request, chart_field: &str, prov_field: &str) -> Result<Form, ChartMuseumError> {
    let mut multipart =
        Multipart::from_request(req, &()).await.map_err(|e| ChartMuseumError::InvalidMultipart(e.to_string()))?;
    let chart_fields = ["chart", chart_field];
    let prov_fields = ["prov", prov_field];
    let mut chart: Option<Bytes> = None;
    let mut prov: Option<Bytes> = None;
    while let Some(field) =
        multipart.next_field().await.map_err(|e| ChartMuseumError::InvalidMultipart(e.to_string()))?
    {
        let name = field.name().unwrap_or("").to_owned();
        let slot = if chart_fields.contains(&name.as_str()) {
            &mut chart
        } else if prov_fields.contains(&name.as_str()) {
            &mut prov
        } else {
            continue;
        };
        let data = field
            .bytes()
            .await
            .map_err(|e| ChartMuseumError::InvalidMultipartField { field: name.clone(), reason: e.to_string() })?;
        if slot.is_some() {
            return Err(ChartMuseumError::DuplicateFormFile(name));
        }
        *slot = Some(data);
    }
    Ok(Form { chart, prov })
}

/// `POST /api/prov`: a raw provenance file.
pub async fn upload_prov(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    identity: Option<Extension<Identity>>,
    req: Request,
) -> Result<Response, ChartMuseumError> {
    let force = force_requested(&req);
    let (parts, body) = req.into_parts();
    let mut size = 0;
    let result = async {
        let (bytes, _reserved) = read_body(&state, &parts.headers, body).await?;
        size = bytes.len();
        let stored = state.repo_as(&identity).put_provenance(&tenant, bytes, force).await?;
        log_write(&identity, &tenant, &stored.name, &stored.version, "provenance file uploaded");
        Ok(written(saved(), &stored.name, Some(&stored.version), None))
    }
    .await;
    counted(result, size)
}
