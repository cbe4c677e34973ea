//! Failures every wire protocol reports, whatever its body format.

use std::time::Duration;

use axum::http::StatusCode;
use chartroom_storage::StorageError;

/// What a client is told of a storage failure (the failure itself names paths and URLs).
pub const STORAGE_UNAVAILABLE: &str = "storage is unavailable: the request was not completed; try again later";

#[derive(Debug)]
pub enum CommonError {
    /// The object store failed: unreachable, denied, a server error. Never a plain miss. The
    /// client sees a generic message (the error names storage paths and URLs); the log has it.
    StorageUnavailable(StorageError),
    /// Local storage has no space left: 507.
    StorageFull,
    /// The repository's writer has stopped.
    ShuttingDown,
    /// The request body did not arrive within `--read-timeout`.
    ReadTimeout(Duration),
    /// The request did not complete within `--write-timeout`.
    WriteTimeout(Duration),
    /// The request body is larger than `--max-upload-size` (the limit, in bytes).
    PayloadTooLarge(u64),
    /// The request bodies in flight fill `--max-upload-memory` (the budget, in bytes); the
    /// response carries `Retry-After`.
    UploadMemoryFull(u64),
    /// A failure of the server itself (a panic, an aborted task).
    Internal(String),
    /// The client used up its `--rate-limit` (the response carries `Retry-After`).
    RateLimited,
    /// The client has `--max-concurrent-uploads` uploads in progress already.
    TooManyUploads,
    /// A CORS preflight from an origin `--cors-alloworigin` does not list.
    OriginNotAllowed(String),
    /// The index is still being built at start.
    Starting,
    /// Readiness: the server cannot serve everything now (the reason).
    NotReady(String),
}

impl CommonError {
    /// What the log says beside the client's message: the storage error in full.
    pub fn log_detail(&self) -> Option<String> {
        match self {
            CommonError::StorageUnavailable(e) => Some(e.to_string()),
            _ => None,
        }
    }

    /// The status code and the human message.
    pub fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            CommonError::StorageUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, STORAGE_UNAVAILABLE.to_owned()),
            CommonError::StorageFull => (
                StatusCode::INSUFFICIENT_STORAGE,
                "storage is full: nothing was stored; free space in storage and retry".to_owned(),
            ),
            CommonError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down".to_owned()),
            CommonError::ReadTimeout(limit) => (
                StatusCode::REQUEST_TIMEOUT,
                format!("request body not received within {}s (--read-timeout)", limit.as_secs()),
            ),
            CommonError::WriteTimeout(limit) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("request not completed within {}s (--write-timeout)", limit.as_secs()),
            ),
            CommonError::PayloadTooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request too large: the limit is {limit} bytes (--max-upload-size / MAX_UPLOAD_SIZE)"),
            ),
            CommonError::UploadMemoryFull(budget) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "server busy: request bodies in progress fill the upload memory budget of {budget} bytes \
                     (--max-upload-memory / MAX_UPLOAD_MEMORY); retry after the time in Retry-After"
                ),
            ),
            CommonError::Internal(message) => (StatusCode::INTERNAL_SERVER_ERROR, message.clone()),
            CommonError::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests from this address (--rate-limit): retry after the time in Retry-After".to_owned(),
            ),
            CommonError::TooManyUploads => (
                StatusCode::TOO_MANY_REQUESTS,
                "too many uploads in progress from this address (--max-concurrent-uploads)".to_owned(),
            ),
            CommonError::OriginNotAllowed(origin) => {
                let shown: String = origin.chars().take(200).filter(|c| !c.is_control()).collect();
                (StatusCode::FORBIDDEN, format!("origin {shown:?} is not allowed (--cors-alloworigin)"))
            }
            CommonError::Starting => (StatusCode::SERVICE_UNAVAILABLE, "starting: the index is being built".to_owned()),
            CommonError::NotReady(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}")),
        }
    }
}
