//! Entry points for the fuzz targets (`fuzz/`): the server's parsers of client bytes that are
//! not reachable from outside the crate, called as the handlers call them. The route table is
//! public already (`routing`). Not an API: hidden from the docs, no stability.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use bytes::Bytes;

use crate::error::ChartMuseumError;

pub use crate::oci::route::{Endpoint, OciRepo, OciRoute, OciRouteError};

/// The chart and provenance parts of an upload form as `POST /api/charts` reads them (the
/// default field names), or the status and error that refuse the form.
pub fn multipart(content_type: &[u8], body: Bytes) -> Result<(Option<Bytes>, Option<Bytes>), (StatusCode, String)> {
    let req = Request::builder()
        .method("POST")
        .uri("/api/charts")
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    // The form reader only awaits the in-memory body: no runtime, no timers.
    let form = futures::executor::block_on(crate::upload::read_form(req, "chart", "prov")).map_err(refusal)?;
    Ok((form.chart, form.prov))
}

/// `values.yaml` as `GET /api/charts/<name>/<version>/templates` parses it.
pub fn values(data: &[u8]) -> Result<serde_json::Value, (StatusCode, String)> {
    crate::handlers::parse_values(data).map_err(refusal)
}

fn refusal(e: ChartMuseumError) -> (StatusCode, String) {
    let text = format!("{e:?}");
    (e.into_response().status(), text)
}
