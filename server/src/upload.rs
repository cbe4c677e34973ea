//! Uploads: `POST /api/charts` (raw `.tgz` body or multipart with `chart` and `prov` parts) and
//! `POST /api/prov`.
//!
//! Order: bounded body read → validation (blocking pool) → create-only store (409 on conflict
//! unless overwrite is allowed) → index entry → 201 once the served index contains the chart.
//! Nothing is stored for a request that fails validation; a failed second write rolls back the first.

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use chartroom_chart::archive::{self, LoadedChart};
use chartroom_chart::provenance::{self, Provenance};
use chartroom_storage::{StorageError, chart_file, prov_file};
use http_body_util::BodyExt;
use serde_json::json;

use crate::error::ApiError;
use crate::{AppState, query_map};

/// Reads a request body up to `limit` bytes within the read timeout.
async fn read_body(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let limit = state.settings().max_upload_size;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(limit));
    }
    let read = async {
        let mut body = body;
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ApiError::bad_request(format!("cannot read request body: {e}")))?;
            if let Ok(data) = frame.into_data() {
                if buf.len() as u64 + data.len() as u64 > limit {
                    return Err(ApiError::too_large(limit));
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
    };
    let timeout = state.settings().read_timeout;
    tokio::time::timeout(timeout, read).await.map_err(|_| {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("request body not received within {}s (--read-timeout)", timeout.as_secs()),
        )
    })?
}

async fn validate_chart(state: &AppState, bytes: Bytes) -> Result<LoadedChart, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request("empty request body: expected a chart archive (.tgz)"));
    }
    let limits = state.settings().limits.clone();
    tokio::task::spawn_blocking(move || archive::load_archive(&bytes, &limits))
        .await
        .map_err(|e| ApiError::internal(format!("chart validation failed: {e}")))?
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

fn validate_prov(bytes: &[u8]) -> Result<Provenance, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request("invalid provenance file: empty body"));
    }
    provenance::parse(bytes).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// A provenance file must describe the chart it accompanies, or `helm --verify` fails later.
fn check_prov_matches(prov: &Provenance, chart: &LoadedChart) -> Result<(), ApiError> {
    let (name, version) = (&chart.metadata.name, &chart.metadata.version);
    if &prov.name != name || &prov.version != version {
        return Err(ApiError::bad_request(format!(
            "provenance file is for {}-{} but the chart is {name}-{version}",
            prov.name, prov.version
        )));
    }
    let file = chart_file(name, version);
    if let Some(sum) = prov.files.get(&file) {
        let expected = format!("sha256:{}", chart.digest);
        if !sum.eq_ignore_ascii_case(&expected) {
            return Err(ApiError::bad_request(format!(
                "provenance file does not match the chart: it records {sum} for {file}, the chart is {expected}"
            )));
        }
    }
    Ok(())
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"))
}

fn force_requested(query: Option<&str>) -> bool {
    query_map(query).contains_key("force")
}

/// `POST /api/charts`
pub async fn upload_chart(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let force = force_requested(req.uri().query());
    let (parts, body) = req.into_parts();
    let bytes = read_body(&state, &parts.headers, body).await?;
    if is_multipart(&parts.headers) {
        let req = Request::from_parts(parts, Body::from(bytes));
        return upload_multipart(state, req, force).await;
    }
    let chart = validate_chart(&state, bytes.clone()).await?;
    store(&state, chart, bytes, None, force, "file already exists").await
}

async fn upload_multipart(state: AppState, req: Request, force: bool) -> Result<Response, ApiError> {
    let settings = state.settings();
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::bad_request(format!("invalid multipart body: {e}")))?;
    let chart_fields = ["chart", settings.chart_form_field.as_str()];
    let prov_fields = ["prov", settings.prov_form_field.as_str()];
    let mut chart: Option<Bytes> = None;
    let mut prov: Option<Bytes> = None;
    while let Some(field) =
        multipart.next_field().await.map_err(|e| ApiError::bad_request(format!("invalid multipart body: {e}")))?
    {
        let name = field.name().unwrap_or("").to_owned();
        let slot = if chart_fields.contains(&name.as_str()) {
            &mut chart
        } else if prov_fields.contains(&name.as_str()) {
            &mut prov
        } else {
            continue;
        };
        let data =
            field.bytes().await.map_err(|e| ApiError::bad_request(format!("invalid multipart field {name:?}: {e}")))?;
        if slot.is_some() {
            return Err(ApiError::bad_request(format!("more than one {name:?} file in the form")));
        }
        *slot = Some(data);
    }
    let (chart_bytes, prov_bytes) = match (chart, prov) {
        (None, None) => {
            return Err(ApiError::bad_request(format!(
                "no package or provenance file found in form fields {} and {}",
                settings.chart_form_field, settings.prov_form_field
            )));
        }
        (None, Some(prov)) => return store_prov(&state, prov, force, "chart already exists").await,
        (Some(chart), prov) => (chart, prov),
    };
    let loaded = validate_chart(&state, chart_bytes.clone()).await?;
    let prov = match prov_bytes {
        Some(bytes) => {
            check_prov_matches(&validate_prov(&bytes)?, &loaded)?;
            Some(bytes)
        }
        None => None,
    };
    store(&state, loaded, chart_bytes, prov, force, "chart already exists").await
}

/// Stores a validated chart (and its provenance), then indexes it.
async fn store(
    state: &AppState,
    chart: LoadedChart,
    bytes: Bytes,
    prov: Option<Bytes>,
    force: bool,
    conflict_text: &str,
) -> Result<Response, ApiError> {
    let (name, version) = (chart.metadata.name.clone(), chart.metadata.version.clone());
    let file = chart_file(&name, &version);
    let storage = state.repo().storage();
    let overwrite = state.overwrite().allows(force);
    let _guard = state.lock_key(&file).await;
    let put = |file: String, data: Bytes| async move {
        if overwrite { storage.put_replace(&file, data).await } else { storage.put_new(&file, data).await }
    };
    let info = match put(file.clone(), bytes).await {
        Ok(info) => info,
        Err(StorageError::AlreadyExists(_)) => return Err(ApiError::conflict(conflict_text)),
        Err(e) => return Err(e.into()),
    };
    if let Some(prov) = prov {
        let result = put(prov_file(&name, &version), prov).await;
        if let Err(e) = result {
            if !overwrite && let Err(rollback) = storage.delete(&file).await {
                tracing::error!(%file, error = %rollback, "cannot roll back a chart whose provenance file failed to store");
            }
            return Err(match e {
                StorageError::AlreadyExists(_) => ApiError::conflict(conflict_text),
                other => other.into(),
            });
        }
    } else if overwrite {
        drop_stale_prov(storage, &name, &version, &chart.digest).await;
    }
    let entry = state.repo().entry_for_upload(chart, &info)?;
    state.repo().upsert(entry).await?;
    tracing::info!(chart = %name, %version, "chart stored and indexed");
    Ok((StatusCode::CREATED, Json(json!({ "saved": true }))).into_response())
}

/// A replaced chart must not keep a provenance file that vouches for other bytes: `helm --verify`
/// would fail on it. A provenance file that still matches (same bytes re-uploaded) is kept.
async fn drop_stale_prov(storage: &chartroom_storage::Storage, name: &str, version: &str, digest: &str) {
    let file = prov_file(name, version);
    let Ok(bytes) = storage.read(&file).await else { return };
    let matches = provenance::parse(&bytes).ok().and_then(|p| p.files.get(&chart_file(name, version)).cloned())
        == Some(format!("sha256:{digest}"));
    if !matches {
        match storage.delete(&file).await {
            Ok(()) => tracing::info!(%file, "removed a provenance file that no longer matches the replaced chart"),
            Err(e) => tracing::warn!(%file, error = %e, "cannot remove a stale provenance file"),
        }
    }
}

async fn store_prov(state: &AppState, bytes: Bytes, force: bool, conflict_text: &str) -> Result<Response, ApiError> {
    let prov = validate_prov(&bytes)?;
    let storage = state.repo().storage();
    let chart_key = chart_file(&prov.name, &prov.version);
    let _guard = state.lock_key(&chart_key).await;
    // When the chart is already indexed, the provenance must describe those exact bytes.
    let indexed_digest = state.repo().index().get(&prov.name, &prov.version).map(|e| e.digest.clone());
    if let (Some(digest), Some(sum)) = (indexed_digest, prov.files.get(&chart_key))
        && !sum.eq_ignore_ascii_case(&format!("sha256:{digest}"))
    {
        return Err(ApiError::bad_request(format!(
            "provenance file does not match the stored chart: it records {sum} for {chart_key}, the chart is sha256:{digest}"
        )));
    }
    let file = prov_file(&prov.name, &prov.version);
    let result = if state.overwrite().allows(force) {
        storage.put_replace(&file, bytes).await
    } else {
        storage.put_new(&file, bytes).await
    };
    match result {
        Ok(_) => Ok((StatusCode::CREATED, Json(json!({ "saved": true }))).into_response()),
        Err(StorageError::AlreadyExists(_)) => Err(ApiError::conflict(conflict_text)),
        Err(e) => Err(e.into()),
    }
}

/// `POST /api/prov`: a raw provenance file.
pub async fn upload_prov(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let force = force_requested(req.uri().query());
    let (parts, body) = req.into_parts();
    let bytes = read_body(&state, &parts.headers, body).await?;
    store_prov(&state, bytes, force, "file already exists").await
}
