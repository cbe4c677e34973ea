//! ChartMuseum's API error: `{"error": "<message>"}`. Status codes and messages are a
//! compatibility feature (Helm plugins and scripts match on them): [`ChartMuseumError::parts`] is
//! their specification, and `snapshots/` holds every variant's rendering for review.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chartroom_auth::{Action, Reason};
use chartroom_chart::archive::ArchiveError;
use chartroom_chart::constraint::ConstraintError;
use chartroom_index::{
    ArchiveReadError, EntryError, FeedError, FileError, ProvenanceRejected, PublishError, RepoError, ReverifyError,
    Tenant, TenantError, UnpublishError,
};
use chartroom_storage::StorageError;

use super::CommonError;

#[derive(Debug)]
pub enum ChartMuseumError {
    Common(CommonError),
    /// No route for this method and path (ChartMuseum never answers 405).
    RouteNotFound,
    /// A rejection by the HTTP framework itself (an undecodable path parameter, ...), with the
    /// status it chose.
    Rejected {
        status: StatusCode,
        message: String,
    },
    UnknownRepository(Tenant),
    /// The tenant segments of the path break the tenant rules (checked before anything else).
    InvalidTenant(TenantError),
    // --- access
    /// No credentials where the action needs some, or credentials that do not check out: 401
    /// with `WWW-Authenticate: <challenge>`. The message depends on `reason` only.
    Unauthorized {
        reason: Reason,
        challenge: String,
    },
    /// Valid credentials without the permission.
    Forbidden {
        identity: String,
        action: Action,
        tenant: Tenant,
    },
    // --- reading
    /// `GET /api/charts/<name>`, `DELETE /api/charts/<name>`.
    ChartNotFound,
    /// `GET /api/charts/<name>/<version>` for a name the index does not have.
    NoChartName,
    /// `GET /api/charts/<name>/<version>`: no version satisfies the request.
    NoChartVersion {
        name: String,
        version: String,
    },
    /// `DELETE /api/charts/<name>/<version>`: nothing stored for that version.
    ChartVersionNotFound {
        name: String,
        version: String,
    },
    /// A request for a stored object that does not exist.
    ObjectNotFound,
    /// `GET /charts/<file>` for a file that is not an archive or provenance file.
    NotAChartFile(String),
    ValuesNotFound,
    /// The version in the path is neither a version nor a valid constraint.
    ImproperConstraint(ConstraintError),
    InvalidOffset,
    InvalidLimit,
    InvalidFileName(String),
    /// An indexed archive cannot be read back.
    UnreadableArchive(ArchiveReadError),
    UnreadableValues(String),
    // --- uploading
    /// A create-only write found the object (raw upload, `POST /api/prov`).
    FileExists,
    /// A create-only write found the object (multipart upload).
    ChartExists,
    /// The stored file name would not fit the backend.
    NameTooLong(chartroom_storage::NameTooLong),
    /// A folder in storage has the name of the file to write.
    FolderInTheWay(String),
    EmptyChart,
    InvalidArchive(ArchiveError),
    InvalidProvenance(ProvenanceRejected),
    InvalidEntry(EntryError),
    UnreadableBody(String),
    InvalidMultipart(String),
    InvalidMultipartField {
        field: String,
        reason: String,
    },
    DuplicateFormFile(String),
    NoFormFiles {
        chart_field: String,
        prov_field: String,
    },
    // --- provenance
    /// `POST /api/provenance/verify` on a server without a trusted keyring.
    NoKeyring,
    // --- change feed
    /// `GET /api/events`: a query parameter that cannot be used.
    InvalidEventsQuery(String),
    /// `GET /api/events`: a cursor that cannot be read.
    InvalidCursor(&'static str),
    /// `GET /api/events`: a cursor older than the feed's history window.
    CursorExpired(std::time::Duration),
    // --- lifecycle
    /// A new version in a tenant at its `--max-storage-objects`.
    StorageLimit,
    /// `GET {R}/artifacthub-repo.yml` of a tenant without an Artifact Hub repository ID.
    NoArtifactHubId,
}

impl ChartMuseumError {
    /// Status code and message of every error: the one place they are chosen.
    fn parts(&self) -> (StatusCode, String) {
        use ChartMuseumError as E;
        use StatusCode as S;
        match self {
            E::Common(common) => common.status_and_message(),
            E::RouteNotFound => (S::NOT_FOUND, "not found".into()),
            E::Rejected { status, message } => (*status, message.clone()),
            E::UnknownRepository(tenant) => (S::NOT_FOUND, format!("no repository {tenant}")),
            E::InvalidTenant(e) => (S::BAD_REQUEST, e.to_string()),
            E::Unauthorized { reason, .. } => (S::UNAUTHORIZED, unauthorized_message(*reason).into()),
            E::Forbidden { identity, action, tenant } => {
                let (verb, preposition) = match action {
                    Action::Pull => ("pull", "from"),
                    Action::Push => ("push", "to"),
                    Action::Delete => ("delete", "from"),
                };
                let place =
                    if tenant.is_root() { "the root repository".to_owned() } else { format!("tenant {tenant}") };
                (S::FORBIDDEN, format!("forbidden: {identity:?} may not {verb} charts {preposition} {place}"))
            }
            E::ChartNotFound => (S::NOT_FOUND, "chart not found".into()),
            E::NoChartName => (S::NOT_FOUND, "no chart name found".into()),
            E::NoChartVersion { name, version } => {
                (S::NOT_FOUND, format!("no chart version found for {name}-{version}"))
            }
            E::ChartVersionNotFound { name, version } => {
                (S::NOT_FOUND, format!("chart {name} version {version} not found"))
            }
            E::ObjectNotFound => (S::NOT_FOUND, "object not found".into()),
            E::NotAChartFile(file) => (
                S::NOT_FOUND,
                format!("not found: {file:?} is not a chart file (expected <name>-<version>.tgz or .tgz.prov)"),
            ),
            E::ValuesNotFound => (S::NOT_FOUND, "values.yaml not found".into()),
            E::ImproperConstraint(e) => (S::BAD_REQUEST, e.to_string()),
            E::InvalidOffset => (S::BAD_REQUEST, "offset is not a valid non-negative integer".into()),
            E::InvalidLimit => (S::BAD_REQUEST, "limit is not a valid positive integer".into()),
            E::InvalidFileName(file) => (S::BAD_REQUEST, format!("invalid file name {file:?}")),
            E::UnreadableArchive(e @ ArchiveReadError::TooLarge { .. }) => (S::UNPROCESSABLE_ENTITY, e.to_string()),
            E::UnreadableArchive(e @ ArchiveReadError::Busy { .. }) => (S::SERVICE_UNAVAILABLE, e.to_string()),
            E::UnreadableArchive(e) => (S::INTERNAL_SERVER_ERROR, e.to_string()),
            E::UnreadableValues(e) => (S::INTERNAL_SERVER_ERROR, format!("stored values.yaml is unreadable: {e}")),
            E::FileExists => (S::CONFLICT, "file already exists".into()),
            E::StorageLimit => (S::INSUFFICIENT_STORAGE, "repo has reached storage limit".into()),
            E::NoArtifactHubId => (S::NOT_FOUND, "Artifact Hub repository ID not found".into()),
            E::ChartExists => (S::CONFLICT, "chart already exists".into()),
            E::NameTooLong(e) => (S::BAD_REQUEST, format!("chart name and version too long for this storage: {e}")),
            E::FolderInTheWay(file) => {
                (S::CONFLICT, format!("cannot store {file}: storage holds a folder of that name"))
            }
            E::EmptyChart => (S::BAD_REQUEST, "empty request body: expected a chart archive (.tgz)".into()),
            E::InvalidArchive(e) => (S::BAD_REQUEST, e.to_string()),
            E::InvalidProvenance(e) => (S::BAD_REQUEST, e.to_string()),
            E::InvalidEntry(e) => (S::BAD_REQUEST, e.to_string()),
            E::UnreadableBody(e) => (S::BAD_REQUEST, format!("cannot read request body: {e}")),
            E::InvalidMultipart(e) => (S::BAD_REQUEST, format!("invalid multipart body: {e}")),
            E::InvalidMultipartField { field, reason } => {
                (S::BAD_REQUEST, format!("invalid multipart field {field:?}: {reason}"))
            }
            E::DuplicateFormFile(field) => (S::BAD_REQUEST, format!("more than one {field:?} file in the form")),
            E::NoFormFiles { chart_field, prov_field } => (
                S::BAD_REQUEST,
                format!("no package or provenance file found in form fields {chart_field} and {prov_field}"),
            ),
            E::NoKeyring => {
                (S::BAD_REQUEST, "no trusted keyring is configured: start the server with --provenance-keyring".into())
            }
            E::InvalidEventsQuery(e) => (S::BAD_REQUEST, e.clone()),
            E::InvalidCursor(e) => (S::BAD_REQUEST, FeedError::InvalidCursor(e).to_string()),
            E::CursorExpired(window) => (
                S::GONE,
                format!(
                    "{}: resync (read the index) and follow the feed again without since",
                    FeedError::Expired(*window)
                ),
            ),
        }
    }

    /// The same error, as a multipart upload words it: ChartMuseum answers "chart already
    /// exists" there and "file already exists" to a raw upload.
    pub fn in_multipart_form(self) -> Self {
        match self {
            ChartMuseumError::FileExists => ChartMuseumError::ChartExists,
            other => other,
        }
    }
}

/// The 401 message: ChartMuseum's `unauthorized`, and why when saying so reveals nothing (never
/// whether a user name exists).
pub(super) fn unauthorized_message(reason: Reason) -> &'static str {
    match reason {
        Reason::MalformedHeader => "unauthorized: malformed Authorization header",
        Reason::UnsupportedScheme => "unauthorized: unsupported authentication scheme (use Basic or Bearer)",
        Reason::UnknownUser | Reason::BadPassword | Reason::BadToken | Reason::BadSignature => {
            "unauthorized: invalid credentials"
        }
        Reason::Expired => "unauthorized: token expired",
        Reason::NotYetValid => "unauthorized: token not valid yet",
        Reason::WrongAudience => "unauthorized: token audience not accepted",
        Reason::WrongIssuer => "unauthorized: token issuer not accepted",
        Reason::MissingCredentials | Reason::Forbidden | Reason::Internal => "unauthorized",
    }
}

/// JSON body `{"error": ...}`.
fn error_body(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

impl IntoResponse for ChartMuseumError {
    fn into_response(self) -> Response {
        let (status, message) = self.parts();
        if status.is_server_error() {
            let detail = match &self {
                ChartMuseumError::Common(common) => common.log_detail(),
                _ => None,
            };
            tracing::error!(status = status.as_u16(), error = %message, detail, "request failed");
        }
        let mut response = error_body(status, &message);
        if let ChartMuseumError::Common(CommonError::UploadMemoryFull(_))
        | ChartMuseumError::UnreadableArchive(ArchiveReadError::Busy { .. }) = &self
        {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let ChartMuseumError::Unauthorized { challenge, .. } = &self
            && let Ok(value) = HeaderValue::from_str(challenge)
        {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

impl From<CommonError> for ChartMuseumError {
    fn from(err: CommonError) -> Self {
        ChartMuseumError::Common(err)
    }
}

impl From<StorageError> for ChartMuseumError {
    fn from(err: StorageError) -> Self {
        match err {
            // Never leak backend text or local paths for a plain miss.
            StorageError::NotFound(_) => ChartMuseumError::ObjectNotFound,
            StorageError::InvalidKey(key) => ChartMuseumError::InvalidFileName(key),
            StorageError::AlreadyExists(_) => ChartMuseumError::FileExists,
            StorageError::NameTooLong(e) => ChartMuseumError::NameTooLong(e),
            StorageError::NotAFile(file) => ChartMuseumError::FolderInTheWay(file),
            StorageError::Full(_) => CommonError::StorageFull.into(),
            other => CommonError::StorageUnavailable(other).into(),
        }
    }
}

impl From<FeedError> for ChartMuseumError {
    fn from(err: FeedError) -> Self {
        match err {
            FeedError::Storage(e) => e.into(),
            FeedError::InvalidCursor(e) => ChartMuseumError::InvalidCursor(e),
            FeedError::Expired(window) => ChartMuseumError::CursorExpired(window),
        }
    }
}

impl From<RepoError> for ChartMuseumError {
    fn from(err: RepoError) -> Self {
        match err {
            RepoError::Storage(e) => e.into(),
            RepoError::Entry(e) => ChartMuseumError::InvalidEntry(e),
            RepoError::NotServed { tenant, .. } => ChartMuseumError::UnknownRepository(tenant),
            RepoError::Closed => CommonError::ShuttingDown.into(),
        }
    }
}

impl From<PublishError> for ChartMuseumError {
    fn from(err: PublishError) -> Self {
        match err {
            PublishError::EmptyChart => ChartMuseumError::EmptyChart,
            PublishError::InvalidChart(e) => ChartMuseumError::InvalidArchive(e),
            PublishError::Provenance(e) => ChartMuseumError::InvalidProvenance(e),
            PublishError::Exists(_) => ChartMuseumError::FileExists,
            PublishError::StorageLimit => ChartMuseumError::StorageLimit,
            e @ PublishError::ValidationAborted(_) => CommonError::Internal(e.to_string()).into(),
            PublishError::Repo(e) => e.into(),
        }
    }
}

impl From<UnpublishError> for ChartMuseumError {
    fn from(err: UnpublishError) -> Self {
        match err {
            UnpublishError::VersionNotFound { name, version } => {
                ChartMuseumError::ChartVersionNotFound { name, version }
            }
            UnpublishError::ChartNotFound(_) => ChartMuseumError::ChartNotFound,
            UnpublishError::Repo(e) => e.into(),
        }
    }
}

impl From<ReverifyError> for ChartMuseumError {
    fn from(err: ReverifyError) -> Self {
        match err {
            ReverifyError::NoKeyring => ChartMuseumError::NoKeyring,
            ReverifyError::Repo(e) => e.into(),
        }
    }
}

impl From<FileError> for ChartMuseumError {
    fn from(err: FileError) -> Self {
        match err {
            FileError::NotServed(file) => ChartMuseumError::NotAChartFile(file),
            FileError::NotFound(_) => ChartMuseumError::ObjectNotFound,
            FileError::Repo(e) => e.into(),
        }
    }
}

impl From<ArchiveReadError> for ChartMuseumError {
    fn from(err: ArchiveReadError) -> Self {
        match err {
            ArchiveReadError::Repo(e) => e.into(),
            other => ChartMuseumError::UnreadableArchive(other),
        }
    }
}

impl From<ConstraintError> for ChartMuseumError {
    fn from(err: ConstraintError) -> Self {
        ChartMuseumError::ImproperConstraint(err)
    }
}

#[cfg(test)]
mod tests;
