//! The endpoints of the distribution API: parse, call the repository's OCI operations, shape
//! the answer. Nothing here decides access (`access.rs`) or touches storage directly.

use std::ops::Range;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chartroom_auth::Identity;
use chartroom_index::oci::{BlobBody, Digest, MAX_MANIFEST_SIZE, OciError, Reference, media};

use super::body;
use super::route::{Endpoint, OciRepo, OciRoute, OciRouteError};
use crate::AppState;
use crate::error::OciWireError;
use crate::http_util::query_map;

type Answer = Result<Response, OciWireError>;

/// Answers an allowed request.
pub(super) async fn handle(state: &AppState, route: &OciRoute, identity: &Identity, req: Request) -> Answer {
    let method = &route.method;
    let prefix = route.prefix.as_str();
    match (&route.endpoint, method) {
        (Endpoint::Base, _) => Ok(json(method, "{}".into(), "application/json")),
        // Answered before access is checked (`mod.rs`, `token.rs`).
        (Endpoint::Token, _) => Err(OciWireError::Unsupported("the token endpoint takes no repository".into())),
        (Endpoint::Tags(repo), _) => tags(state, prefix, repo, req.uri()).await,
        (Endpoint::Manifest(repo, reference), &Method::PUT) => {
            put_manifest(state, prefix, repo, reference, identity, req).await
        }
        (Endpoint::Manifest(repo, reference), &Method::DELETE) => {
            delete_manifest(state, repo, reference, identity).await
        }
        (Endpoint::Manifest(repo, reference), _) => get_manifest(state, repo, reference, method).await,
        (Endpoint::Blob(repo, digest), &Method::DELETE) => {
            let digest = parse_digest(digest)?;
            // A blob that goes with a manifest: 405 `UNSUPPORTED`, as the spec allows.
            state.repo().oci_delete_blob(&repo.tenant, &repo.name, &digest).await.map_err(|e| match e {
                OciError::Unsupported(message) => OciWireError::Unsupported(message),
                other => other.into(),
            })?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        (Endpoint::Blob(repo, digest), _) => get_blob(state, repo, digest, method, req.headers()).await,
        (Endpoint::StartUpload(repo), _) => start_upload(state, prefix, repo, identity, req).await,
        (Endpoint::Upload(repo, id), &Method::PATCH) => patch_upload(state, prefix, repo, id, req).await,
        (Endpoint::Upload(repo, id), &Method::PUT) => put_upload(state, prefix, repo, id, req).await,
        (Endpoint::Upload(repo, id), &Method::DELETE) => {
            uploads(state)?.cancel(&repo.tenant, &repo.name, id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (Endpoint::Upload(repo, id), _) => {
            let status = uploads(state)?.status(&repo.tenant, &repo.name, id).await?;
            Ok(upload_progress(prefix, repo, &status.id, status.size, StatusCode::NO_CONTENT))
        }
        (Endpoint::Referrers(repo, digest), _) => referrers(state, repo, digest, method, req.uri()).await,
    }
}

fn uploads(state: &AppState) -> Result<&chartroom_index::oci::Uploads, OciWireError> {
    state.uploads().ok_or_else(|| OciWireError::Unsupported("the OCI API is disabled".into()))
}

fn parse_digest(text: &str) -> Result<Digest, OciWireError> {
    Digest::parse(text).map_err(|e| OciError::DigestInvalid(e.to_string()).into())
}

/// `{prefix}/v2/<name>/<rest>` (the prefix is the context path the request came through, or none).
fn location(prefix: &str, repo: &OciRepo, rest: &str) -> HeaderValue {
    let url = format!("{prefix}/v2/{}/{rest}", repo.label());
    HeaderValue::from_str(&url).unwrap_or_else(|_| HeaderValue::from_static("/v2/"))
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

fn json(method: &Method, body: String, content_type: &'static str) -> Response {
    let len = body.len();
    let mut response =
        if *method == Method::HEAD { Response::new(Body::empty()) } else { Response::new(Body::from(body)) };
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

/// `GET /v2/<name>/tags/list[?n=&last=]`: lexical order, `Link` to the next page.
async fn tags(state: &AppState, prefix: &str, repo: &OciRepo, uri: &Uri) -> Answer {
    let query = query_map(uri);
    let all = state.repo().oci_tags(&repo.tenant, &repo.name).await?;
    let last = query.get("last").map(String::as_str);
    let after: Vec<&String> = all.iter().filter(|t| last.is_none_or(|l| t.as_str() > l)).collect();
    let n = match query.get("n") {
        None => None,
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| OciWireError::Oci(OciError::UploadInvalid(format!("n={n:?} is not a number of tags"))))?,
        ),
    };
    let page: Vec<&String> = after.iter().take(n.unwrap_or(usize::MAX)).copied().collect();
    let body = serde_json::json!({ "name": repo.label(), "tags": page }).to_string();
    let mut response = json(&Method::GET, body, "application/json");
    if let (Some(n), Some(last)) = (n, page.last())
        && after.len() > page.len()
    {
        let next = format!("<{}/v2/{}/tags/list?n={n}&last={last}>; rel=\"next\"", prefix, repo.label());
        set(response.headers_mut(), "link", &next);
    }
    Ok(response)
}

async fn get_manifest(state: &AppState, repo: &OciRepo, reference: &str, method: &Method) -> Answer {
    let reference = Reference::parse(reference)?;
    let manifest = state.repo().oci_manifest(&repo.tenant, &repo.name, &reference).await?;
    let len = manifest.bytes.len();
    let mut response =
        if *method == Method::HEAD { Response::new(Body::empty()) } else { Response::new(Body::from(manifest.bytes)) };
    let headers = response.headers_mut();
    set(headers, "content-type", &manifest.media_type);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    set(headers, "docker-content-digest", &manifest.digest.to_string());
    set(headers, "etag", &format!("\"{}\"", manifest.digest));
    Ok(response)
}

async fn put_manifest(
    state: &AppState,
    prefix: &str,
    repo: &OciRepo,
    reference: &str,
    identity: &Identity,
    req: Request,
) -> Answer {
    let reference = Reference::parse(reference)?;
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (parts, request_body) = req.into_parts();
    let limit = (MAX_MANIFEST_SIZE as u64).min(state.settings().max_upload_size);
    let (bytes, _reserved) = body::read(state, &parts.headers, request_body, limit).await?;
    let put =
        state.repo().oci_put_manifest(&repo.tenant, &repo.name, &reference, content_type.as_deref(), bytes).await?;
    if let Some((name, version)) = &put.chart {
        let what = if put.published { "chart pushed" } else { "chart manifest pushed for a stored chart" };
        tracing::info!(identity = identity.name(), tenant = repo.tenant.as_str(), chart = %name, %version, "{what}");
    } else {
        tracing::info!(identity = identity.name(), repository = %repo.label(), digest = %put.digest, "manifest pushed");
    }
    let mut response = StatusCode::CREATED.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location(prefix, repo, &format!("manifests/{}", put.digest)));
    set(headers, "docker-content-digest", &put.digest.to_string());
    if let Some(subject) = &put.subject {
        set(headers, "oci-subject", &subject.to_string());
    }
    if let Some((name, version)) = &put.chart {
        // For the audit log: the chart archive's digest, as the index has it.
        let index = state.repo().index(&repo.tenant).ok();
        let digest = index.as_ref().and_then(|i| i.get(name, version).map(|e| e.digest().to_string()));
        let response = crate::audit::written(response, name, Some(version), digest.as_deref());
        return Ok(crate::audit::pruned(response, &put.pruned));
    }
    Ok(response)
}

async fn delete_manifest(state: &AppState, repo: &OciRepo, reference: &str, identity: &Identity) -> Answer {
    let reference = Reference::parse(reference)?;
    state.repo().oci_delete_manifest(&repo.tenant, &repo.name, &reference).await?;
    tracing::info!(identity = identity.name(), repository = %repo.label(), %reference, "manifest deleted");
    Ok(crate::audit::written(StatusCode::ACCEPTED.into_response(), &repo.name, Some(&reference.to_string()), None))
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` against a blob of `size` bytes.
fn byte_range(value: &str, size: u64) -> Result<Range<u64>, OciError> {
    let refuse = || OciError::RangeNotSatisfiable(value.to_owned(), size);
    let spec = value.trim().strip_prefix("bytes=").ok_or_else(refuse)?;
    if spec.contains(',') {
        return Err(refuse());
    }
    let (start, end) = spec.split_once('-').ok_or_else(refuse)?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let suffix: u64 = end.parse().map_err(|_| refuse())?;
        size.saturating_sub(suffix)..size
    } else {
        let start: u64 = start.parse().map_err(|_| refuse())?;
        let end =
            if end.is_empty() { size } else { end.parse::<u64>().map_err(|_| refuse())?.saturating_add(1).min(size) };
        start..end
    };
    if range.start >= range.end || range.start >= size {
        return Err(refuse());
    }
    Ok(range)
}

async fn get_blob(state: &AppState, repo: &OciRepo, digest: &str, method: &Method, headers: &HeaderMap) -> Answer {
    let digest = parse_digest(digest)?;
    let repository = state.repo();
    let info = repository.oci_blob_info(&repo.tenant, &repo.name, &digest).await?;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(value) if *method == Method::GET => match byte_range(value, info.size) {
            Ok(range) => Some(range),
            Err(error) => {
                let mut response = OciWireError::from(error).into_response();
                set(response.headers_mut(), "content-range", &format!("bytes */{}", info.size));
                return Ok(response);
            }
        },
        _ => None,
    };
    let (status, length) = match &range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.end - r.start),
        None => (StatusCode::OK, info.size),
    };
    let body = if *method == Method::HEAD {
        Body::empty()
    } else {
        match repository.oci_open_blob(&repo.tenant, &repo.name, &digest, range.clone()).await?.1 {
            BlobBody::Bytes(bytes) => Body::from(bytes),
            BlobBody::Stream(stream) => Body::from_stream(stream.body),
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    set(out, "docker-content-digest", &digest.to_string());
    set(out, "etag", &format!("\"{digest}\""));
    if let Some(r) = &range {
        set(out, "content-range", &format!("bytes {}-{}/{}", r.start, r.end - 1, info.size));
    }
    Ok(response)
}

fn blob_created(prefix: &str, repo: &OciRepo, digest: &Digest) -> Response {
    let mut response = StatusCode::CREATED.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location(prefix, repo, &format!("blobs/{digest}")));
    set(headers, "docker-content-digest", &digest.to_string());
    response
}

fn upload_progress(prefix: &str, repo: &OciRepo, id: &str, size: u64, status: StatusCode) -> Response {
    let mut response = status.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location(prefix, repo, &format!("blobs/uploads/{id}")));
    let range = if size == 0 { "0-0".to_owned() } else { format!("0-{}", size - 1) };
    set(headers, "range", &range);
    set(headers, "docker-upload-uuid", id);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    response
}

/// `POST /v2/<name>/blobs/uploads/`: a session, a whole blob (`?digest=`), or a mount
/// (`?mount=&from=`, which falls back to a session when the blob cannot be mounted).
async fn start_upload(state: &AppState, prefix: &str, repo: &OciRepo, identity: &Identity, req: Request) -> Answer {
    let query = query_map(req.uri());
    let uploads = uploads(state)?;
    if let Some(mount) = query.get("mount") {
        let digest = parse_digest(mount)?;
        let from = query.get("from").map(|f| super::route::repository(f, state.repo().tenancy()));
        if let Some(Ok(from)) = from
            && state.repo().oci_mount_blob(&repo.tenant, &repo.name, &digest, (&from.tenant, &from.name)).await?
        {
            return Ok(blob_created(prefix, repo, &digest));
        }
    } else if let Some(digest) = query.get("digest") {
        let digest = parse_digest(digest)?;
        let (parts, request_body) = req.into_parts();
        let (blob, _reserved) = body::read(state, &parts.headers, request_body, uploads.limits().max_size).await?;
        uploads.put_blob(&repo.tenant, &repo.name, &digest, blob).await?;
        return Ok(blob_created(prefix, repo, &digest));
    }
    let status = uploads.start(&repo.tenant, &repo.name, identity.name()).await?;
    Ok(upload_progress(prefix, repo, &status.id, 0, StatusCode::ACCEPTED))
}

/// `Content-Range: <start>-<end>` (inclusive), the first and last byte of a chunk.
fn content_range(headers: &HeaderMap) -> Result<Option<(u64, u64)>, OciWireError> {
    let Some(value) = headers.get(header::CONTENT_RANGE) else { return Ok(None) };
    let text = value.to_str().unwrap_or("");
    let spec = text.trim().trim_start_matches("bytes ").trim_start_matches("bytes=");
    let spec = spec.split('/').next().unwrap_or("");
    let parsed = spec.split_once('-').and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
    match parsed {
        Some((start, end)) if end >= start => Ok(Some((start, end))),
        _ => Err(OciError::UploadInvalid(format!("invalid Content-Range {text:?}: expected <start>-<end>")).into()),
    }
}

async fn patch_upload(state: &AppState, prefix: &str, repo: &OciRepo, id: &str, req: Request) -> Answer {
    let uploads = uploads(state)?;
    let range = content_range(req.headers())?;
    let (parts, request_body) = req.into_parts();
    let (chunk, _reserved) = body::read(state, &parts.headers, request_body, uploads.limits().max_size).await?;
    if let Some((start, end)) = range
        && end - start + 1 != chunk.len() as u64
    {
        return Err(OciError::UploadInvalid(format!(
            "Content-Range {start}-{end} announces {} bytes, the body has {}",
            end - start + 1,
            chunk.len()
        ))
        .into());
    }
    let status = uploads.append(&repo.tenant, &repo.name, id, range.map(|r| r.0), chunk).await?;
    Ok(upload_progress(prefix, repo, &status.id, status.size, StatusCode::ACCEPTED))
}

async fn put_upload(state: &AppState, prefix: &str, repo: &OciRepo, id: &str, req: Request) -> Answer {
    let uploads = uploads(state)?;
    let query = query_map(req.uri());
    let digest = query.get("digest").ok_or_else(|| {
        OciWireError::Oci(OciError::DigestInvalid("the digest query parameter is required to finish an upload".into()))
    })?;
    let digest = parse_digest(digest)?;
    let range = content_range(req.headers())?;
    let (parts, request_body) = req.into_parts();
    let (last, _reserved) = body::read(state, &parts.headers, request_body, uploads.limits().max_size).await?;
    if let Some((start, _)) = range
        && !last.is_empty()
    {
        let status = uploads.status(&repo.tenant, &repo.name, id).await?;
        if start != status.size {
            return Err(OciError::ChunkOutOfOrder { got: start, size: status.size }.into());
        }
    }
    uploads.finish(&repo.tenant, &repo.name, id, last, &digest).await?;
    Ok(blob_created(prefix, repo, &digest))
}

async fn referrers(state: &AppState, repo: &OciRepo, digest: &str, method: &Method, uri: &Uri) -> Answer {
    let digest = parse_digest(digest)?;
    let query = query_map(uri);
    let artifact_type = query.get("artifactType").map(String::as_str);
    let body = state.repo().oci_referrers(&repo.tenant, &repo.name, &digest, artifact_type).await?;
    let body = String::from_utf8_lossy(&body).into_owned();
    let mut response = json(method, body, media::IMAGE_INDEX);
    if artifact_type.is_some() {
        set(response.headers_mut(), "oci-filters-applied", "artifactType");
    }
    Ok(response)
}

impl From<OciRouteError> for OciWireError {
    fn from(error: OciRouteError) -> Self {
        match error {
            OciRouteError::NameInvalid(m) => OciWireError::NameInvalid(m),
            OciRouteError::NameUnknown(m) => OciWireError::NameUnknown(m),
            OciRouteError::MethodNotAllowed => OciWireError::Unsupported("method not supported on this path".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges() {
        assert_eq!(byte_range("bytes=0-9", 100).unwrap(), 0..10);
        assert_eq!(byte_range("bytes=90-", 100).unwrap(), 90..100);
        assert_eq!(byte_range("bytes=-10", 100).unwrap(), 90..100);
        assert_eq!(byte_range("bytes=95-200", 100).unwrap(), 95..100);
        for bad in ["bytes=100-", "bytes=5-4", "bytes=a-b", "items=0-1", "bytes=0-1,3-4", "bytes=-0"] {
            assert!(byte_range(bad, 100).is_err(), "{bad}");
        }
    }
}
