//! Bounded request bodies of the distribution API.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::{Bytes, BytesMut};
use chartroom_index::oci::OciError;
use http_body_util::BodyExt;

use crate::AppState;
use crate::error::{CommonError, OciWireError};

/// Reads a body of at most `limit` bytes within the read timeout (413 `SIZE_INVALID` beyond).
pub(super) async fn read(state: &AppState, headers: &HeaderMap, body: Body, limit: u64) -> Result<Bytes, OciWireError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(OciError::TooLarge(limit).into());
    }
    let read = async {
        let mut body = body;
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| OciWireError::UnreadableBody(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                if buf.len() as u64 + data.len() as u64 > limit {
                    return Err(OciError::TooLarge(limit).into());
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
    };
    let timeout = state.settings().read_timeout;
    tokio::time::timeout(timeout, read).await.map_err(|_| OciWireError::from(CommonError::ReadTimeout(timeout)))?
}
