//! Signed charts: `--provenance`, `--provenance-tenant` and `--provenance-keyring`, resolved
//! into the policy of uploads and the trusted keys.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use chartroom_index::{PolicyError, ProvenanceMode, ProvenancePolicy, Tenant};
use chartroom_signing::{KeySummary, Keyring, MAX_KEYRING_SIZE};

use super::error::ConfigError;
use super::options::*;
use super::resolve::{Resolver, Shown};

/// Signed charts: the provenance policy of uploads and the trusted keys.
#[derive(Debug, Clone)]
pub struct ProvenanceSettings {
    /// `--provenance`, `PROVENANCE`, key `provenance`: the policy of every tenant without its own.
    pub default: ProvenanceMode,
    /// `--provenance-tenant`, `PROVENANCE_TENANT`, key `provenancetenant`: tenants' own policies.
    pub tenants: BTreeMap<Tenant, ProvenanceMode>,
    /// `--provenance-keyring`, `PROVENANCE_KEYRING`, key `provenancekeyring`: read and checked
    /// at start; required when any policy is not `off`.
    pub keyring: Option<TrustedKeyring>,
    /// The three above, as the repository takes them.
    pub(super) policy: ProvenancePolicy,
}

impl PartialEq for ProvenanceSettings {
    fn eq(&self, other: &Self) -> bool {
        (self.default, &self.tenants, &self.keyring) == (other.default, &other.tenants, &other.keyring)
    }
}

impl Eq for ProvenanceSettings {}

impl Default for ProvenanceSettings {
    fn default() -> Self {
        ProvenanceSettings {
            default: ProvenanceMode::Off,
            tenants: BTreeMap::new(),
            keyring: None,
            policy: ProvenancePolicy::default(),
        }
    }
}

/// A keyring file, read.
#[derive(Debug, Clone)]
pub struct TrustedKeyring {
    pub path: PathBuf,
    pub keyring: Arc<Keyring>,
    /// Its keys (fingerprint, key id, user ids), for the startup log.
    pub keys: Vec<KeySummary>,
}

/// Two keyrings are the same when read from the same file with the same keys.
impl PartialEq for TrustedKeyring {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.keys == other.keys
    }
}

impl Eq for TrustedKeyring {}

impl ProvenanceSettings {
    /// `default` for every tenant not in `tenants`; a keyring is needed unless every policy is off.
    pub fn new(
        default: ProvenanceMode,
        tenants: BTreeMap<Tenant, ProvenanceMode>,
        keyring: Option<TrustedKeyring>,
    ) -> Result<Self, PolicyError> {
        let trusted = keyring.as_ref().map(|k| Arc::clone(&k.keyring));
        let policy = ProvenancePolicy::new(default, tenants.clone(), trusted)?;
        Ok(ProvenanceSettings { default, tenants, keyring, policy })
    }

    pub(super) fn resolve(r: &mut Resolver<'_>) -> Result<Self, ConfigError> {
        let default = r.text(&PROVENANCE, parse_mode)?;
        let tenants = r.pairs(&PROVENANCE_TENANT, |pairs| {
            let mut tenants = BTreeMap::new();
            for (tenant, mode) in pairs {
                let parsed = Tenant::parse(&tenant).map_err(|e| e.to_string())?;
                if parsed.is_root() {
                    return Err("the root repository's policy is --provenance itself".to_owned());
                }
                let mode = parse_mode(&mode).map_err(|e| format!("tenant {tenant}: {e}"))?;
                tenants.insert(parsed, mode);
            }
            Ok(tenants)
        })?;
        let keyring = r.path(&PROVENANCE_KEYRING, |path| match path.as_os_str().is_empty() {
            true => Ok(None),
            false => TrustedKeyring::read(path).map(Some),
        })?;
        ProvenanceSettings::new(default, tenants, keyring).map_err(|e| r.missing(&PROVENANCE_KEYRING, &e.to_string()))
    }
}

fn parse_mode(text: &str) -> Result<ProvenanceMode, String> {
    ProvenanceMode::parse(text).ok_or_else(|| format!("expected one of {}", ProvenanceMode::NAMES.join(", ")))
}

impl TrustedKeyring {
    /// Reads and checks a keyring file: one that cannot be read or holds no usable key is an
    /// error saying why (the start stops on it).
    pub fn read(path: PathBuf) -> Result<TrustedKeyring, String> {
        let len = std::fs::metadata(&path).map_err(|e| format!("cannot read the keyring: {e}"))?.len();
        if usize::try_from(len).map_or(true, |n| n > MAX_KEYRING_SIZE) {
            return Err(format!("the keyring is larger than {MAX_KEYRING_SIZE} bytes"));
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read the keyring: {e}"))?;
        let keyring = Keyring::from_bytes(&bytes).map_err(|e| format!("not a usable keyring: {e}"))?;
        let keys = keyring.summaries();
        Ok(TrustedKeyring { path, keyring: Arc::new(keyring), keys })
    }
}

impl Shown for ProvenanceMode {
    fn shown(&self) -> String {
        self.as_str().to_owned()
    }
}

/// `team-a=required,team-b=if-present`, as it would be written in the variable.
impl Shown for BTreeMap<Tenant, ProvenanceMode> {
    fn shown(&self) -> String {
        self.iter().map(|(t, m)| format!("{}={m}", t.as_str())).collect::<Vec<_>>().join(",")
    }
}

/// The file and how many keys it holds.
impl Shown for Option<TrustedKeyring> {
    fn shown(&self) -> String {
        match self {
            Some(k) => format!("{} ({} keys)", k.path.display(), k.keys.len()),
            None => String::new(),
        }
    }
}
