//! Every OCI error as it leaves the server: status, headers and body.

use std::fmt::Write as _;
use std::time::Duration;

use chartroom_chart::archive::{self, Limits};
use chartroom_index::{Tenancy, Tenant};
use http_body_util::BodyExt;

use super::*;

fn examples() -> Vec<OciWireError> {
    use OciError as O;
    use OciWireError as E;
    let digest = format!("sha256:{}", "ab".repeat(32));
    let archive_error = || archive::load_archive(b"not a chart", &Limits::default()).unwrap_err();
    vec![
        E::Common(CommonError::ShuttingDown),
        E::Common(CommonError::ReadTimeout(Duration::from_secs(30))),
        E::Common(CommonError::WriteTimeout(Duration::from_secs(30))),
        E::Common(CommonError::PayloadTooLarge(1024)),
        E::Common(CommonError::UploadMemoryFull(67_108_864)),
        E::Common(CommonError::Internal("internal server error".into())),
        E::Unauthorized { reason: Reason::MissingCredentials, challenge: "Basic realm=\"Chartroom\"".into() },
        E::Unauthorized { reason: Reason::BadPassword, challenge: "Basic realm=\"Chartroom\"".into() },
        E::Denied { identity: "alice".into(), action: Action::Push, repository: "team/demo".into() },
        E::InsufficientScope {
            scope: "repository:demo:push".into(),
            challenge: "Bearer realm=\"http://h/v2/token\",service=\"h\",scope=\"repository:demo:pull,push\",error=\"insufficient_scope\"".into(),
        },
        E::NameInvalid("invalid repository name \"Demo\"".into()),
        E::NameUnknown("repository a/b is not served here: names are <chart>".into()),
        E::Unsupported("POST is not supported on this path".into()),
        E::UnreadableBody("connection reset".into()),
        E::Oci(O::NameUnknown("team/demo".into())),
        E::Oci(O::ManifestUnknown { repository: "demo".into(), reference: "9.9.9".into() }),
        E::Oci(O::BlobUnknown { repository: "demo".into(), digest: digest.clone() }),
        E::Oci(O::DigestInvalid(format!("the uploaded content's digest is {digest}, not sha256:00"))),
        E::Oci(O::ManifestInvalid("schemaVersion must be 2".into())),
        E::Oci(O::ManifestBlobUnknown(digest.clone())),
        E::Oci(O::UploadUnknown("0123".into())),
        E::Oci(O::UploadInvalid("invalid Content-Range \"x\"".into())),
        E::Oci(O::ChunkOutOfOrder { got: 10, size: 5 }),
        E::Oci(O::RangeNotSatisfiable("bytes=100-".into(), 100)),
        E::Oci(O::TooLarge(1024)),
        E::Oci(O::TooManyUploads("too many open uploads for \"ci\" (64)".into())),
        E::Oci(O::Unsupported("manifest type \"x\" is not supported".into())),
        E::Oci(O::ChartExists("demo-1.0.0.tgz".into())),
        E::Oci(O::Publish(PublishError::InvalidChart(archive_error()))),
        E::Oci(O::Publish(PublishError::EmptyChart)),
        E::Oci(O::Repo(RepoError::NotServed { tenant: Tenant::parse("a").unwrap(), tenancy: Tenancy::Single })),
        E::Oci(O::Repo(RepoError::Closed)),
        E::Oci(O::Unpublish(UnpublishError::VersionNotFound { name: "demo".into(), version: "1.0.0".into() })),
        E::Oci(O::Internal("chart validation failed: task panicked".into())),
    ]
}

#[tokio::test]
async fn every_error_as_it_leaves_the_server() {
    let mut out = String::new();
    for error in examples() {
        // `Oci(ManifestUnknown`, `Common(ShuttingDown`: the variant and the one inside it.
        let debug = format!("{error:?}");
        let name: String = debug.split('(').take(2).collect::<Vec<_>>().join("(");
        let name = name.split([' ', '{', '"', ')']).next().unwrap_or("").to_owned();
        let response = error.into_response();
        let status = response.status();
        let headers = response.headers().clone();
        assert_eq!(headers[header::CONTENT_TYPE], "application/json; charset=utf-8");
        assert_eq!(headers[API_VERSION_HEADER], "registry/2.0");
        // A challenge with every 401, and with the 403 of a token short of a scope.
        let challenged = status == StatusCode::UNAUTHORIZED || name.starts_with("InsufficientScope");
        assert_eq!(headers.contains_key(header::WWW_AUTHENTICATE), challenged, "{name}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8(body.to_vec()).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        let errors = parsed["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{body}");
        assert!(errors[0]["code"].is_string() && errors[0]["message"].is_string(), "{body}");
        writeln!(out, "{name}\n  {status} {body}").unwrap();
        for extra in [header::WWW_AUTHENTICATE, header::RANGE] {
            if let Some(value) = headers.get(&extra) {
                writeln!(out, "  {extra}: {}", value.to_str().unwrap()).unwrap();
            }
        }
    }
    insta::assert_snapshot!(out);
}
