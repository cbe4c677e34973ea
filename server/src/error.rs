//! The ChartMuseum wire error: `{"error": "<message>"}` with a status code, chosen here and
//! nowhere else.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chartroom_index::{EntryError, RepoError};
use chartroom_storage::StorageError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
    pub fn too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request too large: the limit is {limit} bytes (--max-upload-size / MAX_UPLOAD_SIZE)"),
        )
    }
    pub fn route_not_found() -> Self {
        Self::not_found("not found")
    }
}

/// JSON body `{"error": ...}`.
pub fn error_body(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), error = %self.message, "request failed");
        }
        error_body(self.status, &self.message)
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err {
            // Never leak backend text or local paths for a plain miss.
            StorageError::NotFound(_) => Self::not_found("object not found"),
            StorageError::InvalidKey(key) => Self::bad_request(format!("invalid file name {key:?}")),
            StorageError::AlreadyExists(_) => Self::conflict("file already exists"),
            other => Self::new(StatusCode::SERVICE_UNAVAILABLE, format!("storage is unavailable: {other}")),
        }
    }
}

impl From<RepoError> for ApiError {
    fn from(err: RepoError) -> Self {
        match err {
            RepoError::Storage(e) => e.into(),
            RepoError::Entry(e) => Self::bad_request(e.to_string()),
            RepoError::Closed => Self::new(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down"),
        }
    }
}

impl From<EntryError> for ApiError {
    fn from(err: EntryError) -> Self {
        Self::bad_request(err.to_string())
    }
}
