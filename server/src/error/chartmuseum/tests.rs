//! Every ChartMuseum error as it leaves the server: status, content type and body.

use std::fmt::Write as _;
use std::time::Duration;

use chartroom_chart::archive::{self, Limits};
use chartroom_chart::constraint;
use chartroom_chart::provenance;
use chartroom_index::GateRefusal;
use chartroom_signing::VerifyError;
use http_body_util::BodyExt;

use super::*;
use chartroom_auth::{Action, Reason};

/// One example of every variant (and of every [`CommonError`] and [`ProvenanceRejected`], with
/// two of the signature checks' [`VerifyError`]s).
fn examples() -> Vec<ChartMuseumError> {
    use ChartMuseumError as E;
    let archive_error = || archive::load_archive(b"not a chart", &Limits::default()).unwrap_err();
    let backend = object_store::Error::Generic { store: "S3", source: "connection refused".into() };
    let constraint_error = constraint::select(&["1.0.0"], |v| v, ">=foo").unwrap_err();
    let (name, version) = ("demo".to_owned(), "1.0.0".to_owned());
    vec![
        E::Common(CommonError::StorageUnavailable(StorageError::Backend(backend))),
        E::Common(CommonError::StorageFull),
        E::Common(CommonError::ShuttingDown),
        E::Common(CommonError::ReadTimeout(Duration::from_secs(60))),
        E::Common(CommonError::WriteTimeout(Duration::from_secs(300))),
        E::Common(CommonError::PayloadTooLarge(20 * 1024 * 1024)),
        E::Common(CommonError::Internal("internal server error".into())),
        E::Common(CommonError::RateLimited),
        E::Common(CommonError::TooManyUploads),
        E::Common(CommonError::OriginNotAllowed("https://evil.example".into())),
        E::Common(CommonError::Starting),
        E::Common(CommonError::NotReady("storage is unreachable: connection refused".into())),
        E::Common(CommonError::UploadMemoryFull(67_108_864)),
        E::RouteNotFound,
        E::Rejected { status: StatusCode::BAD_REQUEST, message: "Invalid URL: Cannot parse `%FF`".into() },
        E::UnknownRepository(Tenant::parse("org/team").unwrap()),
        E::InvalidTenant(Tenant::parse("org/..").unwrap_err()),
        E::Unauthorized { reason: Reason::MissingCredentials, challenge: "Basic realm=\"ChartMuseum\"".into() },
        E::Unauthorized { reason: Reason::BadPassword, challenge: "Basic realm=\"ChartMuseum\"".into() },
        E::Unauthorized { reason: Reason::Expired, challenge: "Bearer realm=\"r\",service=\"s\"".into() },
        E::Forbidden { identity: "alice".into(), action: Action::Push, tenant: Tenant::parse("team-b").unwrap() },
        E::Forbidden { identity: "ci".into(), action: Action::Delete, tenant: Tenant::root() },
        E::ChartNotFound,
        E::NoChartName,
        E::NoChartVersion { name: name.clone(), version: "9.9.9".into() },
        E::ChartVersionNotFound { name: name.clone(), version: version.clone() },
        E::ObjectNotFound,
        E::NotAChartFile("index.json".into()),
        E::ValuesNotFound,
        E::ImproperConstraint(constraint_error),
        E::InvalidOffset,
        E::InvalidLimit,
        E::InvalidFileName("a/b-1.0.0.tgz".into()),
        E::UnreadableArchive(ArchiveReadError::Unreadable { file: "demo-1.0.0.tgz".into(), source: archive_error() }),
        E::UnreadableArchive(ArchiveReadError::Aborted("task 7 panicked".into())),
        E::UnreadableArchive(ArchiveReadError::TooLarge { file: "demo-1.0.0.tgz".into(), limit: 8 << 20 }),
        E::UnreadableArchive(ArchiveReadError::Busy { limit: 2, refusal: GateRefusal::QueueFull { waiting: 32 } }),
        E::UnreadableArchive(ArchiveReadError::Busy {
            limit: 2,
            refusal: GateRefusal::TimedOut { wait: Duration::from_secs(5) },
        }),
        E::UnreadableValues("invalid YAML at line 1".into()),
        E::FileExists,
        E::ChartExists,
        E::NameTooLong(chartroom_storage::NameTooLong {
            what: "the file name \"nnnn\"...".into(),
            len: 265,
            limit: 255,
            backend: "local storage",
        }),
        E::FolderInTheWay("demo-1.0.0.tgz".into()),
        E::EmptyChart,
        E::InvalidArchive(archive_error()),
        E::InvalidProvenance(ProvenanceRejected::Empty),
        E::InvalidProvenance(ProvenanceRejected::Invalid(provenance::parse(b"hello").unwrap_err())),
        E::InvalidProvenance(ProvenanceRejected::OtherChart {
            prov_name: "other".into(),
            prov_version: "2.0.0".into(),
            name: name.clone(),
            version: version.clone(),
        }),
        E::InvalidProvenance(ProvenanceRejected::OtherArchive {
            recorded: format!("sha256:{}", "ab".repeat(32)),
            file: "demo-1.0.0.tgz".into(),
            digest: "cd".repeat(32),
        }),
        E::InvalidProvenance(ProvenanceRejected::OtherStoredArchive {
            recorded: format!("sha256:{}", "ab".repeat(32)),
            file: "demo-1.0.0.tgz".into(),
            digest: "cd".repeat(32),
        }),
        E::InvalidProvenance(ProvenanceRejected::Unverified(VerifyError::UnknownKey {
            key_id: "0123456789ABCDEF".into(),
        })),
        E::InvalidProvenance(ProvenanceRejected::Unverified(VerifyError::DigestMismatch {
            file_name: "demo-1.0.0.tgz".into(),
            signed: format!("sha256:{}", "ab".repeat(32)),
            actual: format!("sha256:{}", "cd".repeat(32)),
        })),
        E::InvalidProvenance(ProvenanceRejected::StoredUnverified {
            file: "demo-1.0.0.tgz.prov".into(),
            error: VerifyError::WrongVersion { name: name.clone(), expected: version.clone(), found: "0.9.0".into() },
        }),
        E::InvalidProvenance(ProvenanceRejected::StaleAhead {
            file: "demo-1.0.0.tgz.prov".into(),
            reason: format!("it records sha256:{}", "ab".repeat(32)),
            digest: "cd".repeat(32),
        }),
        E::InvalidProvenance(ProvenanceRejected::Required { file: "demo-1.0.0.tgz".into(), hint: "" }),
        E::InvalidProvenance(ProvenanceRejected::Required {
            file: "demo-1.0.0.tgz".into(),
            hint: "; the stored one is for the bytes being replaced",
        }),
        E::InvalidEntry(EntryError::Version { name, version: "x".into(), reason: "not a version".into() }),
        E::UnreadableBody("connection reset".into()),
        E::InvalidMultipart("missing boundary".into()),
        E::InvalidMultipartField { field: "chart".into(), reason: "stream ended early".into() },
        E::DuplicateFormFile("chart".into()),
        E::NoFormFiles { chart_field: "chart".into(), prov_field: "prov".into() },
        E::NoKeyring,
        E::InvalidEventsQuery("wait: invalid duration \"soon\"".into()),
        E::InvalidCursor("bad position"),
        E::CursorExpired(Duration::from_secs(600)),
        E::StorageLimit,
        E::NoArtifactHubId,
    ]
}

/// Lists every variant: adding one without an example above stops this from compiling.
fn variant(e: &ChartMuseumError) -> &'static str {
    use ChartMuseumError as E;
    match e {
        E::Common(CommonError::StorageUnavailable(_)) => "Common(StorageUnavailable)",
        E::Common(CommonError::StorageFull) => "Common(StorageFull)",
        E::Common(CommonError::ShuttingDown) => "Common(ShuttingDown)",
        E::Common(CommonError::ReadTimeout(_)) => "Common(ReadTimeout)",
        E::Common(CommonError::WriteTimeout(_)) => "Common(WriteTimeout)",
        E::Common(CommonError::PayloadTooLarge(_)) => "Common(PayloadTooLarge)",
        E::Common(CommonError::Internal(_)) => "Common(Internal)",
        E::Common(CommonError::RateLimited) => "Common(RateLimited)",
        E::Common(CommonError::TooManyUploads) => "Common(TooManyUploads)",
        E::Common(CommonError::OriginNotAllowed(_)) => "Common(OriginNotAllowed)",
        E::Common(CommonError::Starting) => "Common(Starting)",
        E::Common(CommonError::NotReady(_)) => "Common(NotReady)",
        E::Common(CommonError::UploadMemoryFull(_)) => "Common(UploadMemoryFull)",
        E::RouteNotFound => "RouteNotFound",
        E::Rejected { .. } => "Rejected",
        E::UnknownRepository(_) => "UnknownRepository",
        E::InvalidTenant(_) => "InvalidTenant",
        E::Unauthorized { .. } => "Unauthorized",
        E::Forbidden { .. } => "Forbidden",
        E::ChartNotFound => "ChartNotFound",
        E::NoChartName => "NoChartName",
        E::NoChartVersion { .. } => "NoChartVersion",
        E::ChartVersionNotFound { .. } => "ChartVersionNotFound",
        E::ObjectNotFound => "ObjectNotFound",
        E::NotAChartFile(_) => "NotAChartFile",
        E::ValuesNotFound => "ValuesNotFound",
        E::ImproperConstraint(_) => "ImproperConstraint",
        E::InvalidOffset => "InvalidOffset",
        E::InvalidLimit => "InvalidLimit",
        E::InvalidFileName(_) => "InvalidFileName",
        E::UnreadableArchive(_) => "UnreadableArchive",
        E::UnreadableValues(_) => "UnreadableValues",
        E::FileExists => "FileExists",
        E::ChartExists => "ChartExists",
        E::NameTooLong(_) => "NameTooLong",
        E::FolderInTheWay(_) => "FolderInTheWay",
        E::EmptyChart => "EmptyChart",
        E::InvalidArchive(_) => "InvalidArchive",
        E::InvalidProvenance(_) => "InvalidProvenance",
        E::InvalidEntry(_) => "InvalidEntry",
        E::UnreadableBody(_) => "UnreadableBody",
        E::InvalidMultipart(_) => "InvalidMultipart",
        E::InvalidMultipartField { .. } => "InvalidMultipartField",
        E::DuplicateFormFile(_) => "DuplicateFormFile",
        E::NoFormFiles { .. } => "NoFormFiles",
        E::NoKeyring => "NoKeyring",
        E::InvalidEventsQuery(_) => "InvalidEventsQuery",
        E::InvalidCursor(_) => "InvalidCursor",
        E::CursorExpired(_) => "CursorExpired",
        E::StorageLimit => "StorageLimit",
        E::NoArtifactHubId => "NoArtifactHubId",
    }
}

#[tokio::test]
async fn every_error_as_it_leaves_the_server() {
    let mut out = String::new();
    for error in examples() {
        let name = variant(&error);
        let response = error.into_response();
        let status = response.status();
        let content_type = response.headers()[header::CONTENT_TYPE].to_str().unwrap().to_owned();
        let challenge = response.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(challenge.is_some(), status == StatusCode::UNAUTHORIZED, "{name}: a challenge with every 401");
        assert_eq!(content_type, "application/json; charset=utf-8", "{name}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8(body.to_vec()).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(parsed["error"].is_string() && parsed.as_object().unwrap().len() == 1, "{name}: {body}");
        writeln!(out, "{name}\n  {status} {body}").unwrap();
        if let Some(challenge) = challenge {
            writeln!(out, "  WWW-Authenticate: {challenge}").unwrap();
        }
    }
    insta::assert_snapshot!(out);
}

/// A storage failure's text names paths and URLs: the client never sees it.
#[tokio::test]
async fn storage_failures_show_no_paths() {
    let local = object_store::Error::Generic {
        store: "LocalFileSystem",
        source: "Unable to open file /srv/charts/secret-1.0.0.tgz: Permission denied (os error 13)".into(),
    };
    let response = ChartMuseumError::from(StorageError::Backend(local)).into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8(body.to_vec()).unwrap();
    assert!(!body.contains("/srv") && !body.contains("secret") && body.contains("storage is unavailable"), "{body}");
}

#[test]
fn multipart_uploads_say_chart_already_exists() {
    assert!(matches!(ChartMuseumError::FileExists.in_multipart_form(), ChartMuseumError::ChartExists));
    assert!(matches!(ChartMuseumError::EmptyChart.in_multipart_form(), ChartMuseumError::EmptyChart));
}

#[test]
fn domain_errors_map_to_their_variants() {
    let storage = |e: StorageError| variant(&ChartMuseumError::from(e));
    assert_eq!(storage(StorageError::NotFound("/srv/charts/a.tgz".into())), "ObjectNotFound");
    assert_eq!(storage(StorageError::InvalidKey("a/b".into())), "InvalidFileName");
    assert_eq!(storage(StorageError::AlreadyExists("a.tgz".into())), "FileExists");
    assert_eq!(storage(StorageError::Precondition("a.tgz".into())), "Common(StorageUnavailable)");
    assert_eq!(storage(StorageError::Full("a.tgz".into())), "Common(StorageFull)");
    assert_eq!(storage(StorageError::NotAFile("a.tgz".into())), "FolderInTheWay");
    let long = chartroom_storage::NameTooLong { what: "x".into(), len: 2, limit: 1, backend: "b" };
    assert_eq!(storage(StorageError::NameTooLong(long)), "NameTooLong");
    assert_eq!(variant(&RepoError::Closed.into()), "Common(ShuttingDown)");
    assert_eq!(variant(&PublishError::Exists("a-1.0.0.tgz".into()).into()), "FileExists");
    assert_eq!(variant(&PublishError::ValidationAborted("panicked".into()).into()), "Common(Internal)");
    let not_found = UnpublishError::VersionNotFound { name: "a".into(), version: "1".into() };
    assert_eq!(variant(&not_found.into()), "ChartVersionNotFound");
    assert_eq!(variant(&UnpublishError::ChartNotFound("a".into()).into()), "ChartNotFound");
    assert_eq!(variant(&FileError::NotFound("a.tgz".into()).into()), "ObjectNotFound");
    assert_eq!(variant(&FileError::NotServed("x".into()).into()), "NotAChartFile");
    let storage_failure = StorageError::Precondition("a.tgz".into());
    assert_eq!(variant(&ArchiveReadError::Repo(storage_failure.into()).into()), "Common(StorageUnavailable)");
    assert_eq!(variant(&ReverifyError::NoKeyring.into()), "NoKeyring");
    assert_eq!(variant(&ReverifyError::Repo(RepoError::Closed).into()), "Common(ShuttingDown)");
}
