//! Chart lifecycle settings: retention by semantic version, the storage limit, the Artifact Hub
//! metadata file and the audit log. Per-tenant values follow `--provenance-tenant`: a default
//! option and a `TENANT=VALUE` pairs option beside it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chartroom_index::{PerTenant, Retention, Tenant};

use super::error::ConfigError;
use super::options::*;
use super::resolve::{Resolver, Shown};

/// Retention, limits, Artifact Hub and the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifecycleSettings {
    /// `--per-chart-limit` (`PER_CHART_LIMIT`, key `per-chart-limit`; 0 is off),
    /// `--retention-keep-prereleases` and their `-tenant` pairs.
    pub retention: PerTenant<Retention>,
    /// `--max-storage-objects` (`MAX_STORAGE_OBJECTS`, key `maxstorageobjects`; 0 is off) and
    /// `--max-storage-objects-tenant`.
    pub max_objects: PerTenant<Option<usize>>,
    pub artifact_hub: ArtifactHub,
    /// `--audit-log` (`AUDIT_LOG`, key `auditlog`).
    pub audit: Option<AuditTarget>,
}

/// What `artifacthub-repo.yml` holds, per tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactHub {
    /// `--artifact-hub-repo-id` (`ARTIFACT_HUB_REPO_ID`, key `artifact-hub-repo-id`): the
    /// repository ID of each tenant that has one (the root is `Tenant::root()`).
    pub repo_ids: BTreeMap<Tenant, String>,
    /// `--artifact-hub-owner` (`ARTIFACT_HUB_OWNER`, key `artifact-hub-owner`).
    pub owner: Option<Owner>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub name: String,
    pub email: String,
}

/// Where audit records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    Stdout,
    /// Appended to.
    File(PathBuf),
}

impl LifecycleSettings {
    pub(crate) fn resolve(r: &mut Resolver<'_>) -> Result<Self, ConfigError> {
        let keep = r.uint(&PER_CHART_LIMIT, |n| Ok(nonzero(n)))?;
        let keep_tenants = r.pairs(&PER_CHART_LIMIT_TENANT, |pairs| tenant_values(pairs, parse_count_or_off))?;
        let pre = r.text(&RETENTION_KEEP_PRERELEASES, |t| match t {
            "" => Ok(None),
            t => parse_count(t).map(Some),
        })?;
        let pre_tenants = r.pairs(&RETENTION_KEEP_PRERELEASES_TENANT, |pairs| {
            tenant_values(pairs, |t| if t == "none" { Ok(None) } else { parse_count(t).map(Some) })
        })?;
        let mut tenants: BTreeMap<Tenant, Retention> = BTreeMap::new();
        for tenant in keep_tenants.0.keys().chain(pre_tenants.0.keys()) {
            let own = Retention {
                keep: keep_tenants.0.get(tenant).copied().unwrap_or(keep),
                keep_prereleases: pre_tenants.0.get(tenant).copied().unwrap_or(pre),
            };
            tenants.insert(tenant.clone(), own);
        }
        let retention = PerTenant::new(Retention { keep, keep_prereleases: pre }, tenants);
        let max = r.uint(&MAX_STORAGE_OBJECTS, |n| Ok(nonzero(n)))?;
        let max_tenants = r.pairs(&MAX_STORAGE_OBJECTS_TENANT, |pairs| tenant_values(pairs, parse_count_or_off))?;
        let max_objects = PerTenant::new(max, max_tenants.0);
        let repo_ids = r.items(&ARTIFACT_HUB_REPO_ID, |items| {
            let mut ids = BTreeMap::new();
            for (tenant, id) in items {
                let tenant = Tenant::parse(&tenant).map_err(|e| e.to_string())?;
                if id.contains(|c: char| c.is_control() || c == '"' || c == '\\') {
                    return Err(format!("{id:?} is not an Artifact Hub repository ID"));
                }
                ids.insert(tenant, id);
            }
            Ok(TenantMap(ids))
        })?;
        let owner = r.text(&ARTIFACT_HUB_OWNER, |text| {
            if text.trim().is_empty() {
                return Ok(None);
            }
            let mut owner = Owner { name: String::new(), email: String::new() };
            for field in text.split(',') {
                let (key, value) = field.split_once('=').unwrap_or((field, ""));
                let value = value.trim().to_owned();
                match key.trim() {
                    "name" => owner.name = value,
                    "email" => owner.email = value,
                    other => return Err(format!("unknown owner field {other:?}: expected name=NAME,email=EMAIL")),
                }
            }
            if owner.name.is_empty() || owner.email.is_empty() {
                return Err("expected name=NAME,email=EMAIL".to_owned());
            }
            Ok(Some(owner))
        })?;
        let audit = r.text(&AUDIT_LOG, |t| {
            Ok(match t {
                "" => None,
                "stdout" | "-" => Some(AuditTarget::Stdout),
                path => Some(AuditTarget::File(PathBuf::from(path))),
            })
        })?;
        Ok(LifecycleSettings {
            retention,
            max_objects,
            artifact_hub: ArtifactHub { repo_ids: repo_ids.0, owner },
            audit,
        })
    }
}

fn nonzero(n: u64) -> Option<usize> {
    usize::try_from(n).ok().filter(|n| *n > 0)
}

fn parse_count(text: &str) -> Result<usize, String> {
    text.parse::<usize>().map_err(|_| format!("expected a number, got {text:?}"))
}

/// A count where 0 is off.
fn parse_count_or_off(text: &str) -> Result<Option<usize>, String> {
    parse_count(text).map(|n| (n > 0).then_some(n))
}

/// `TENANT=VALUE` pairs: each tenant valid and not the root (whose value is the option itself).
fn tenant_values<T>(
    pairs: Vec<(String, String)>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<TenantMap<BTreeMap<Tenant, T>>, String> {
    let mut values = BTreeMap::new();
    for (tenant, value) in pairs {
        let parsed = Tenant::parse(&tenant).map_err(|e| e.to_string())?;
        if parsed.is_root() {
            return Err("the root repository's value is the option without -tenant".to_owned());
        }
        values.insert(parsed, parse(&value).map_err(|e| format!("tenant {tenant}: {e}"))?);
    }
    Ok(TenantMap(values))
}

/// A resolved mapping, shown in the startup log as `tenant=value` pairs.
struct TenantMap<T>(T);

impl<T: std::fmt::Debug> Shown for TenantMap<BTreeMap<Tenant, T>> {
    fn shown(&self) -> String {
        self.0.iter().map(|(t, v)| format!("{}={v:?}", t.as_str())).collect::<Vec<_>>().join(",")
    }
}

impl Shown for Option<Owner> {
    fn shown(&self) -> String {
        self.as_ref().map(|o| format!("name={},email={}", o.name, o.email)).unwrap_or_default()
    }
}

impl Shown for Option<AuditTarget> {
    fn shown(&self) -> String {
        match self {
            None => String::new(),
            Some(AuditTarget::Stdout) => "stdout".to_owned(),
            Some(AuditTarget::File(path)) => path.display().to_string(),
        }
    }
}
