//! ChartMuseum-compatible bearer JWTs (`BEARER_AUTH`): signature with the configured public
//! key(s), `exp`, `nbf`, and `aud`/`iss` when configured; permissions from the claims through
//! ChartMuseum's JMESPath search.

use crate::action::{Action, ActionSet};
use crate::error::ConfigError;
use crate::reason::Reason;
use crate::tenant::validate_tenant;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// ChartMuseum's access entry type, substituted for `$ACCESS_ENTRY_TYPE`.
pub const ACCESS_ENTRY_TYPE: &str = "artifact-repository";
/// The namespace of the root repository (depth 0) in JWT claims and challenges, as ChartMuseum.
pub const DEFAULT_NAMESPACE: &str = "repo";
/// ChartMuseum's default `AUTH_ACTIONS_SEARCH_PATH`.
pub const DEFAULT_ACTIONS_SEARCH_PATH: &str = "access[?name=='$NAMESPACE' && type=='$ACCESS_ENTRY_TYPE'].actions[]";

/// One entry of ChartMuseum's `access` claim:
/// `{"type": "artifact-repository", "name": "org1/repo1", "actions": ["pull", "push"]}`.
/// A token issuer (later Chartroom's own registry-token endpoint) writes these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    /// Always [`ACCESS_ENTRY_TYPE`] for chart repositories.
    #[serde(rename = "type")]
    pub kind: String,
    /// The namespace: the tenant, or [`DEFAULT_NAMESPACE`] for the root repository.
    pub name: String,
    /// `pull`, `push` (which also covers delete) and optionally `delete`.
    pub actions: Vec<String>,
}

/// The JWT namespace of a tenant: the tenant itself, or `repo` for the root repository.
pub fn namespace(tenant: &str) -> &str {
    if tenant.is_empty() { DEFAULT_NAMESPACE } else { tenant }
}

/// Bearer settings: `BEARER_AUTH` with `AUTH_REALM`, `AUTH_SERVICE`, `AUTH_CERT_PATH`,
/// `AUTH_ACTIONS_SEARCH_PATH`, and Chartroom's `--auth-audience` / `--auth-issuer`.
/// Empty strings count as unset, as in ChartMuseum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BearerSettings {
    /// The token service URL announced in the challenge.
    pub realm: String,
    /// The service name announced in the challenge.
    pub service: String,
    /// PEM file with the issuer's public key(s) or certificate(s): RSA, EC (P-256, P-384) or
    /// Ed25519. Several blocks give several keys (rotation).
    pub cert_path: PathBuf,
    /// JMESPath with `$NAMESPACE` and `$ACCESS_ENTRY_TYPE`; empty = ChartMuseum's default.
    pub actions_search_path: String,
    /// Accepted `aud` values; when not empty a token must carry one of them.
    pub audience: Vec<String>,
    /// Accepted `iss` values; when not empty a token must carry one of them.
    pub issuer: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds (ChartMuseum: 0).
    pub leeway_seconds: u64,
}

struct VerificationKey {
    key: DecodingKey,
    family: AlgorithmFamily,
}

/// Verifies bearer JWTs and reads their permissions.
pub(crate) struct JwtVerifier {
    pub(crate) realm: String,
    pub(crate) service: String,
    keys: Vec<VerificationKey>,
    /// One validation per acceptable algorithm (the algorithm comes from the token header).
    validations: Vec<(Algorithm, Validation)>,
    search_path: String,
}

impl JwtVerifier {
    /// Checks the settings (ChartMuseum's messages for missing ones) and reads the key file.
    pub(crate) fn new(settings: &BearerSettings) -> Result<JwtVerifier, ConfigError> {
        if settings.realm.is_empty() {
            return Err(ConfigError::Setting("Missing Auth Realm".to_owned()));
        }
        if settings.service.is_empty() {
            return Err(ConfigError::Setting("Missing Auth Service".to_owned()));
        }
        if settings.cert_path.as_os_str().is_empty() {
            return Err(ConfigError::Setting("Missing Auth Server Public Cert Path".to_owned()));
        }
        // Pin the crypto backend: if another crate ever enables jsonwebtoken's `rust_crypto` too,
        // the automatic choice would fail at the first verification instead of here.
        let _already_installed = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();

        let search_path = if settings.actions_search_path.is_empty() {
            DEFAULT_ACTIONS_SEARCH_PATH.to_owned()
        } else {
            settings.actions_search_path.clone()
        };
        jmespath::compile(&substitute(&search_path, DEFAULT_NAMESPACE))
            .map_err(|e| ConfigError::Setting(format!("AUTH_ACTIONS_SEARCH_PATH is not a valid JMESPath: {e}")))?;

        let keys = load_keys(&settings.cert_path)?;
        let mut validations = Vec::new();
        for family in [AlgorithmFamily::Rsa, AlgorithmFamily::Ec, AlgorithmFamily::Ed] {
            if !keys.iter().any(|k| k.family == family) {
                continue;
            }
            for algorithm in family.algorithms() {
                validations.push((*algorithm, validation(*algorithm, settings)));
            }
        }
        Ok(JwtVerifier {
            realm: settings.realm.clone(),
            service: settings.service.clone(),
            keys,
            validations,
            search_path,
        })
    }

    /// Verifies `token` and returns its claims.
    pub(crate) fn verify(&self, token: &str) -> Result<serde_json::Value, Reason> {
        // The header is read unverified only to pick the algorithm; `none` and unknown
        // algorithms fail to parse here, HMAC finds no validation below.
        let header = jsonwebtoken::decode_header(token).map_err(|_| Reason::BadToken)?;
        let Some((_, validation)) = self.validations.iter().find(|(alg, _)| *alg == header.alg) else {
            return Err(Reason::BadToken);
        };
        let family = header.alg.family();
        for key in self.keys.iter().filter(|k| k.family == family) {
            match jsonwebtoken::decode::<serde_json::Value>(token, &key.key, validation) {
                Ok(data) => return Ok(data.claims),
                // Another key of the same family may have signed it (key rotation).
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => continue,
                Err(e) => return Err(reason_of(e.kind())),
            }
        }
        Err(Reason::BadSignature)
    }

    /// The actions the claims allow on `tenant`: ChartMuseum's search with `$NAMESPACE` = the
    /// tenant (`repo` at the root). `push` also allows delete, as in ChartMuseum.
    pub(crate) fn allowed_actions(&self, claims: &serde_json::Value, tenant: &str) -> ActionSet {
        // The namespace is pasted into the expression as ChartMuseum does; only names of the
        // tenant alphabet (no quotes) are pasted, so a name cannot change the expression.
        if validate_tenant(tenant).is_err() {
            return ActionSet::EMPTY;
        }
        let Ok(expression) = jmespath::compile(&substitute(&self.search_path, namespace(tenant))) else {
            return ActionSet::EMPTY;
        };
        let Ok(result) = expression.search(claims) else {
            return ActionSet::EMPTY;
        };
        let mut allowed = ActionSet::EMPTY;
        for value in result.as_array().into_iter().flatten() {
            match value.as_string().map(String::as_str) {
                Some("pull") => allowed.insert(Action::Pull),
                Some("push") => {
                    allowed.insert(Action::Push);
                    allowed.insert(Action::Delete);
                }
                Some("delete") => allowed.insert(Action::Delete),
                _ => {}
            }
        }
        allowed
    }
}

fn substitute(search_path: &str, namespace: &str) -> String {
    search_path.replace("$NAMESPACE", namespace).replace("$ACCESS_ENTRY_TYPE", ACCESS_ENTRY_TYPE)
}

fn validation(algorithm: Algorithm, settings: &BearerSettings) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = settings.leeway_seconds;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    let mut required = vec!["exp"];
    if settings.audience.is_empty() {
        // ChartMuseum ignores `aud`; without a configured audience so does Chartroom (the
        // library would otherwise refuse every token that carries one).
        validation.validate_aud = false;
    } else {
        validation.set_audience(&settings.audience);
        required.push("aud");
    }
    if !settings.issuer.is_empty() {
        validation.set_issuer(&settings.issuer);
        required.push("iss");
    }
    validation.set_required_spec_claims(&required);
    validation
}

fn reason_of(kind: &ErrorKind) -> Reason {
    match kind {
        ErrorKind::ExpiredSignature => Reason::Expired,
        ErrorKind::ImmatureSignature => Reason::NotYetValid,
        ErrorKind::InvalidAudience => Reason::WrongAudience,
        ErrorKind::InvalidIssuer => Reason::WrongIssuer,
        ErrorKind::InvalidSignature => Reason::BadSignature,
        ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => match claim.as_str() {
            "aud" => Reason::WrongAudience,
            "iss" => Reason::WrongIssuer,
            // A token without `exp` (or with a malformed one) is refused as malformed: it
            // would never expire.
            _ => Reason::BadToken,
        },
        _ => Reason::BadToken,
    }
}

/// Reads every public key or certificate of the PEM file.
fn load_keys(path: &Path) -> Result<Vec<VerificationKey>, ConfigError> {
    let content = std::fs::read(path).map_err(|e| ConfigError::read(path, e))?;
    let blocks =
        pem::parse_many(&content).map_err(|e| ConfigError::invalid(path, None, format!("is not a PEM file: {e}")))?;
    let mut keys = Vec::new();
    for (index, block) in blocks.iter().enumerate() {
        let number = index + 1;
        let tag = block.tag();
        if tag.contains("PRIVATE KEY") {
            return Err(ConfigError::invalid(
                path,
                None,
                format!(
                    "PEM block {number} is a private key; AUTH_CERT_PATH takes the token issuer's public key or certificate"
                ),
            ));
        }
        if !matches!(tag, "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE") {
            return Err(ConfigError::invalid(
                path,
                None,
                format!("PEM block {number} is a `{tag}`; expected PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE"),
            ));
        }
        let encoded = pem::encode(block);
        let bytes = encoded.as_bytes();
        let key = if let Ok(key) = DecodingKey::from_rsa_pem(bytes) {
            VerificationKey { key, family: AlgorithmFamily::Rsa }
        } else if let Ok(key) = DecodingKey::from_ec_pem(bytes) {
            VerificationKey { key, family: AlgorithmFamily::Ec }
        } else if let Ok(key) = DecodingKey::from_ed_pem(bytes) {
            VerificationKey { key, family: AlgorithmFamily::Ed }
        } else {
            return Err(ConfigError::invalid(
                path,
                None,
                format!("PEM block {number} is not an RSA, EC (P-256/P-384) or Ed25519 public key"),
            ));
        };
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(ConfigError::invalid(path, None, "holds no PEM public key or certificate"));
    }
    Ok(keys)
}
