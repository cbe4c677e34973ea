//! The OCI distribution API's error: `{"errors":[{"code","message","detail"}]}` with the
//! distribution spec's codes. [`OciWireError::parts`] chooses status, code, message and detail
//! in one `match`; `oci/snapshots/` holds every variant's rendering.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chartroom_auth::{Action, Reason};
use chartroom_index::oci::OciError;
use chartroom_index::{PublishError, RepoError, UnpublishError};
use chartroom_storage::StorageError;

use super::CommonError;
use super::chartmuseum::unauthorized_message;

/// The header every answer of the distribution API carries.
pub const API_VERSION_HEADER: &str = "docker-distribution-api-version";

#[derive(Debug)]
pub enum OciWireError {
    Common(CommonError),
    /// No credentials where they are needed, or credentials that do not check out.
    Unauthorized {
        reason: Reason,
        challenge: String,
    },
    /// Valid credentials without the permission.
    Denied {
        identity: String,
        action: Action,
        repository: String,
    },
    /// A registry token that does not grant what the request does (RFC 6750's
    /// `insufficient_scope`): 403 with the challenge for the scope needed, so a client that
    /// refreshes its token on 403 (the Python oras SDK) asks for the right one.
    InsufficientScope {
        scope: String,
        challenge: String,
    },
    NameInvalid(String),
    NameUnknown(String),
    /// A path of the API with a method it does not have, or a feature Chartroom lacks.
    Unsupported(String),
    /// An error of the repository's OCI operations.
    Oci(OciError),
    /// A request whose body cannot be read.
    UnreadableBody(String),
}

/// One error of the body: spec code, message, detail.
struct Parts {
    status: StatusCode,
    code: &'static str,
    message: String,
    detail: Option<serde_json::Value>,
}

fn parts(status: StatusCode, code: &'static str, message: String) -> Parts {
    Parts { status, code, message, detail: None }
}

impl OciWireError {
    fn parts(&self) -> Parts {
        use StatusCode as S;
        match self {
            OciWireError::Common(common) => {
                let (status, message) = common.status_and_message();
                let code = match common {
                    CommonError::PayloadTooLarge(_) => "SIZE_INVALID",
                    CommonError::ReadTimeout(_) => "BLOB_UPLOAD_INVALID",
                    CommonError::StorageUnavailable(_)
                    | CommonError::ShuttingDown
                    | CommonError::WriteTimeout(_)
                    | CommonError::Starting
                    | CommonError::NotReady(_)
                    | CommonError::UploadMemoryFull(_) => "UNAVAILABLE",
                    CommonError::RateLimited | CommonError::TooManyUploads => "TOOMANYREQUESTS",
                    CommonError::StorageFull => "UNAVAILABLE",
                    CommonError::OriginNotAllowed(_) => "DENIED",
                    CommonError::Internal(_) => "UNKNOWN",
                };
                parts(status, code, message)
            }
            OciWireError::Unauthorized { reason, .. } => {
                parts(S::UNAUTHORIZED, "UNAUTHORIZED", unauthorized_message(*reason).to_owned())
            }
            OciWireError::Denied { identity, action, repository } => Parts {
                status: S::FORBIDDEN,
                code: "DENIED",
                message: format!("forbidden: {identity:?} may not {} repository {repository}", action.as_str()),
                detail: Some(serde_json::json!({ "repository": repository, "action": action.as_str() })),
            },
            OciWireError::InsufficientScope { scope, .. } => Parts {
                status: S::FORBIDDEN,
                code: "DENIED",
                message: format!("the token does not grant {scope}; ask the token endpoint for it"),
                detail: Some(serde_json::json!({ "scope": scope })),
            },
            OciWireError::NameInvalid(message) => parts(S::BAD_REQUEST, "NAME_INVALID", message.clone()),
            OciWireError::NameUnknown(message) => parts(S::NOT_FOUND, "NAME_UNKNOWN", message.clone()),
            OciWireError::Unsupported(message) => parts(S::METHOD_NOT_ALLOWED, "UNSUPPORTED", message.clone()),
            OciWireError::UnreadableBody(message) => {
                parts(S::BAD_REQUEST, "BLOB_UPLOAD_INVALID", format!("cannot read the request body: {message}"))
            }
            OciWireError::Oci(error) => oci_parts(error),
        }
    }

    /// The current size of an upload, for the `Range` header of a 416.
    fn upload_size(&self) -> Option<u64> {
        match self {
            OciWireError::Oci(OciError::ChunkOutOfOrder { size, .. }) => Some(*size),
            _ => None,
        }
    }
}

fn oci_parts(error: &OciError) -> Parts {
    use StatusCode as S;
    let message = error.to_string();
    match error {
        OciError::NameUnknown(repository) => Parts {
            detail: Some(serde_json::json!({ "name": repository })),
            ..parts(S::NOT_FOUND, "NAME_UNKNOWN", message)
        },
        OciError::ManifestUnknown { reference, .. } => Parts {
            detail: Some(serde_json::json!({ "reference": reference })),
            ..parts(S::NOT_FOUND, "MANIFEST_UNKNOWN", message)
        },
        OciError::BlobUnknown { digest, .. } => Parts {
            detail: Some(serde_json::json!({ "digest": digest })),
            ..parts(S::NOT_FOUND, "BLOB_UNKNOWN", message)
        },
        OciError::DigestInvalid(_) => parts(S::BAD_REQUEST, "DIGEST_INVALID", message),
        OciError::ManifestInvalid(_) => parts(S::BAD_REQUEST, "MANIFEST_INVALID", message),
        OciError::ManifestBlobUnknown(digest) => Parts {
            detail: Some(serde_json::json!({ "digest": digest })),
            ..parts(S::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN", message)
        },
        OciError::UploadUnknown(_) => parts(S::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", message),
        OciError::UploadInvalid(_) => parts(S::BAD_REQUEST, "BLOB_UPLOAD_INVALID", message),
        OciError::ChunkOutOfOrder { .. } => parts(S::RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID", message),
        OciError::RangeNotSatisfiable(..) => parts(S::RANGE_NOT_SATISFIABLE, "BLOB_UNKNOWN", message),
        OciError::TooLarge(_) => parts(S::PAYLOAD_TOO_LARGE, "SIZE_INVALID", message),
        OciError::TooManyUploads(_) => parts(S::TOO_MANY_REQUESTS, "TOOMANYREQUESTS", message),
        OciError::Unsupported(_) => parts(S::BAD_REQUEST, "MANIFEST_INVALID", message),
        OciError::ChartExists(_) => parts(S::CONFLICT, "DENIED", message),
        // A chart layer that fails validation: the HTTP API's message, as a manifest error.
        OciError::Publish(PublishError::Exists(_)) => parts(S::CONFLICT, "DENIED", message),
        // ChartMuseum's status for the storage limit; the distribution spec's code for a refusal.
        OciError::Publish(PublishError::StorageLimit) => parts(S::INSUFFICIENT_STORAGE, "DENIED", message),
        OciError::Publish(PublishError::Repo(e)) | OciError::Repo(e) => repo_parts(e),
        OciError::Publish(PublishError::ValidationAborted(_)) => parts(S::INTERNAL_SERVER_ERROR, "UNKNOWN", message),
        OciError::Publish(_) => parts(S::BAD_REQUEST, "MANIFEST_INVALID", message),
        OciError::Unpublish(UnpublishError::Repo(e)) => repo_parts(e),
        OciError::Unpublish(_) => parts(S::NOT_FOUND, "MANIFEST_UNKNOWN", message),
        OciError::Internal(_) => parts(S::INTERNAL_SERVER_ERROR, "UNKNOWN", message),
    }
}

fn repo_parts(error: &RepoError) -> Parts {
    use StatusCode as S;
    match error {
        RepoError::NotServed { tenant, .. } => parts(S::NOT_FOUND, "NAME_UNKNOWN", format!("no repository {tenant}")),
        RepoError::Closed => parts(S::SERVICE_UNAVAILABLE, "UNAVAILABLE", "the server is shutting down".into()),
        RepoError::Entry(e) => parts(S::BAD_REQUEST, "MANIFEST_INVALID", e.to_string()),
        RepoError::Storage(StorageError::InvalidKey(key)) => {
            parts(S::BAD_REQUEST, "NAME_INVALID", format!("invalid name {key:?}"))
        }
        RepoError::Storage(StorageError::NameTooLong(e)) => {
            parts(S::BAD_REQUEST, "NAME_INVALID", format!("chart name and version too long for this storage: {e}"))
        }
        RepoError::Storage(StorageError::NotAFile(file)) => {
            parts(S::CONFLICT, "DENIED", format!("cannot store {file}: storage holds a folder of that name"))
        }
        RepoError::Storage(StorageError::Full(_)) => {
            let (status, message) = CommonError::StorageFull.status_and_message();
            parts(status, "UNAVAILABLE", message)
        }
        // The same words as `CommonError::StorageUnavailable`: the error itself names storage
        // paths and URLs, so it is logged, never sent.
        RepoError::Storage(e) => {
            tracing::error!(error = %e, "storage failed");
            parts(S::SERVICE_UNAVAILABLE, "UNAVAILABLE", super::common::STORAGE_UNAVAILABLE.to_owned())
        }
    }
}

impl IntoResponse for OciWireError {
    fn into_response(self) -> Response {
        let p = self.parts();
        if p.status.is_server_error() {
            let detail = match &self {
                OciWireError::Common(common) => common.log_detail(),
                _ => None,
            };
            tracing::error!(status = p.status.as_u16(), code = p.code, error = %p.message, detail, "OCI request failed");
        }
        let mut error = serde_json::json!({ "code": p.code, "message": p.message });
        if let Some(detail) = p.detail {
            error["detail"] = detail;
        }
        let body = serde_json::json!({ "errors": [error] }).to_string();
        let mut response = (p.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        headers.insert(API_VERSION_HEADER, HeaderValue::from_static("registry/2.0"));
        if let OciWireError::Unauthorized { challenge, .. } | OciWireError::InsufficientScope { challenge, .. } = &self
            && let Ok(value) = HeaderValue::from_str(challenge)
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let OciWireError::Common(CommonError::UploadMemoryFull(_)) = &self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let Some(size) = self.upload_size() {
            let range = if size == 0 { "0-0".to_owned() } else { format!("0-{}", size - 1) };
            if let Ok(value) = HeaderValue::from_str(&range) {
                headers.insert(header::RANGE, value);
            }
        }
        response
    }
}

impl From<CommonError> for OciWireError {
    fn from(err: CommonError) -> Self {
        OciWireError::Common(err)
    }
}

impl From<OciError> for OciWireError {
    fn from(err: OciError) -> Self {
        OciWireError::Oci(err)
    }
}

#[cfg(test)]
mod tests;
