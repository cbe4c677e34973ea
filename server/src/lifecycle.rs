//! The chart lifecycle's HTTP side: the Artifact Hub metadata file and the retention API.
//! Retention itself (the plan, the deletes through the delete path) is the repository's
//! (`chartroom_index::Repository::apply_retention`).

use axum::Extension;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Json, Response};
use chartroom_index::{Retention, RetentionOutcome, Tenant};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ChartMuseumError;

/// `GET {R}/artifacthub-repo.yml`: the tenant's Artifact Hub repository ID (and the configured
/// owner), as Artifact Hub reads it when it checks a repository's ownership; 404 for a tenant
/// without an ID, as in ChartMuseum.
pub async fn artifact_hub(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
) -> Result<Response, ChartMuseumError> {
    let hub = &state.lifecycle().artifact_hub;
    let id = hub.repo_ids.get(&tenant).ok_or(ChartMuseumError::NoArtifactHubId)?;
    // JSON strings are YAML double-quoted scalars: whatever an ID or an owner holds stays one
    // value.
    let mut yaml = format!("repositoryID: {}\n", quoted(id));
    if let Some(owner) = &hub.owner {
        yaml.push_str(&format!("owners:\n  - name: {}\n    email: {}\n", quoted(&owner.name), quoted(&owner.email)));
    }
    Ok(([(header::CONTENT_TYPE, "application/x-yaml")], yaml).into_response())
}

fn quoted(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// `GET /api{R}/retention`: the policy in force for the tenant and what it would remove now.
pub async fn retention_preview(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
) -> Result<Response, ChartMuseumError> {
    let outcome = state.repo().retention_preview(&tenant)?;
    Ok(Json(body(state.repo().retention(&tenant), &outcome, true)).into_response())
}

/// `POST /api{R}/retention`: applies the policy; answers what was removed.
pub async fn apply_retention(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
) -> Result<Response, ChartMuseumError> {
    let outcome = state.repo().apply_retention(&tenant).await?;
    let mut response = Json(body(state.repo().retention(&tenant), &outcome, false)).into_response();
    // For the audit log: one record per removed version.
    response.extensions_mut().insert(outcome);
    Ok(response)
}

fn body(policy: Retention, outcome: &RetentionOutcome, dry_run: bool) -> Value {
    json!({
        "policy": { "perChartLimit": policy.keep, "keepPrereleases": policy.keep_prereleases },
        "dryRun": dry_run,
        "removed": outcome.removed,
    })
}
