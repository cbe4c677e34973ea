//! `Chart.lock`: its model, Helm's lock digest (`resolver.HashReq`), and the file as Helm writes
//! it (go-yaml v2 scalars, Go's RFC 3339 times), written atomically.

use std::path::Path;

use chartroom_chart::metadata::Dependency;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ClientError;

/// One entry of `Chart.lock` `dependencies` (Helm writes only these three fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedDependency {
    pub name: String,
    /// The resolved version (for repository `""`: the constraint of `Chart.yaml`).
    pub version: String,
    /// The repository URL (`@name` aliases already rewritten), `file://…`, or `""`.
    pub repository: String,
}

impl LockedDependency {
    pub(super) fn as_dependency(&self) -> Dependency {
        Dependency {
            name: self.name.clone(),
            version: self.version.clone(),
            repository: self.repository.clone(),
            ..Default::default()
        }
    }
}

/// A `Chart.lock` file.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartLock {
    /// When it was generated (RFC 3339, as written).
    pub generated: String,
    /// `sha256:<hex>`, see [`lock_digest`].
    pub digest: String,
    pub dependencies: Vec<LockedDependency>,
}

/// What `dependency update` / `build` did.
#[derive(Debug, Clone)]
pub struct DependencyReport {
    /// The locked dependencies, in `Chart.yaml` (or `Chart.lock`) order.
    pub dependencies: Vec<LockedDependency>,
    /// Whether `Chart.lock` was (re)written.
    pub lock_written: bool,
}

/// `Chart.lock` as parsed, keeping every field of its entries (they are all part of the digest).
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawLock {
    generated: Option<serde_json::Value>,
    digest: Option<serde_json::Value>,
    dependencies: Option<Vec<Option<Dependency>>>,
}

use crate::index::scalar;

impl ChartLock {
    /// Parses `Chart.lock` bytes (unknown keys ignored, scalars taken as written).
    ///
    /// ```
    /// use chartroom_client::deps::ChartLock;
    /// let lock = ChartLock::parse(b"dependencies:\n- name: redis\n  repository: https://charts.example.com/stable\n  version: 17.3.7\ndigest: sha256:84714347ba2070a0526cafed8e8f3ae60bc5e8c6b3a55f471ca613e220f0d194\ngenerated: \"2024-01-02T03:04:05.123456789Z\"\n")?;
    /// assert_eq!(lock.dependencies[0].version, "17.3.7");
    /// assert_eq!(ChartLock::parse(lock.to_yaml().as_bytes())?, lock);
    /// # Ok::<(), chartroom_client::ClientError>(())
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<ChartLock, ClientError> {
        Ok(parse_lock(bytes)?.0)
    }

    /// The file as Helm writes it (`yaml.Marshal(lock)`): keys sorted, `dependencies` entries
    /// with `name`, `repository` and `version` (omitted when empty), strings quoted only where
    /// YAML needs it.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        if self.dependencies.is_empty() {
            out.push_str("dependencies: []\n");
        } else {
            out.push_str("dependencies:\n");
            for d in &self.dependencies {
                out.push_str(&format!("- name: {}\n", yaml_scalar(&d.name)));
                out.push_str(&format!("  repository: {}\n", yaml_scalar(&d.repository)));
                if !d.version.is_empty() {
                    out.push_str(&format!("  version: {}\n", yaml_scalar(&d.version)));
                }
            }
        }
        out.push_str(&format!("digest: {}\n", yaml_scalar(&self.digest)));
        out.push_str(&format!("generated: {}\n", yaml_scalar(&self.generated)));
        out
    }
}

/// A lock's `dependencies` as written (`None`: absent, Go's nil slice; `None` items: `null`).
pub(super) type RawLockDeps = Option<Vec<Option<Dependency>>>;

pub(super) fn parse_lock(bytes: &[u8]) -> Result<(ChartLock, RawLockDeps), ClientError> {
    let bad = |reason: String| ClientError::usage(format!("cannot parse Chart.lock: {reason}"));
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| bad(format!("not valid UTF-8: {e}")))?;
    let raw: Option<RawLock> = serde_saphyr::from_str_with_options(text, chartroom_chart::yaml::read_options())
        .map_err(|e| bad(e.to_string().trim().lines().next().unwrap_or("").to_owned()))?;
    let raw = raw.unwrap_or_default();
    let lock = ChartLock {
        generated: scalar(raw.generated),
        digest: scalar(raw.digest),
        dependencies: raw
            .dependencies
            .iter()
            .flatten()
            .flatten()
            .map(|d| LockedDependency {
                name: d.name.clone(),
                version: d.version.clone(),
                repository: d.repository.clone(),
            })
            .collect(),
    };
    Ok((lock, raw.dependencies))
}

/// Helm's `resolver.HashReq`: `"sha256:" + hex(sha256(json.Marshal([2][]*Dependency{requested,
/// locked})))`, with Go's `encoding/json` (field order of Helm's `Dependency`, empty fields
/// omitted, HTML escaping). `requested` are the `Chart.yaml` dependencies after `@name` →
/// URL rewriting; aliases, conditions, tags and import-values are part of it.
///
/// ```
/// use chartroom_chart::metadata::Dependency;
/// use chartroom_client::deps::{LockedDependency, lock_digest};
///
/// let requested = [Dependency {
///     name: "redis".into(),
///     version: ">=17.0.0 <18.0.0".into(),
///     repository: "https://charts.example.com/stable".into(),
///     alias: "cache".into(),
///     ..Default::default()
/// }];
/// let locked = [LockedDependency {
///     name: "redis".into(),
///     version: "17.3.7".into(),
///     repository: "https://charts.example.com/stable".into(),
/// }];
/// assert!(lock_digest(&requested, &locked)?.starts_with("sha256:"));
/// # Ok::<(), chartroom_client::ClientError>(())
/// ```
pub fn lock_digest(requested: &[Dependency], locked: &[LockedDependency]) -> Result<String, ClientError> {
    let locked: Vec<Option<Dependency>> = locked.iter().map(|d| Some(d.as_dependency())).collect();
    hash_req(requested, Some(&locked))
}

/// `HashReq` over the raw lock entries (a missing list is Go's nil slice: `null`; so is an
/// empty `requested`, which comes from a `Chart.yaml` without dependencies).
pub(super) fn hash_req(requested: &[Dependency], locked: Option<&[Option<Dependency>]>) -> Result<String, ClientError> {
    let requested = (!requested.is_empty()).then_some(requested);
    let json = chartroom_chart::gojson::to_vec(&(requested, locked))
        .map_err(|e| ClientError::other(format!("cannot hash the dependencies: {e}")))?;
    Ok(format!("sha256:{}", hex::encode(Sha256::digest(&json))))
}

/// Writes `Chart.lock` atomically (refusing to replace a symbolic link, as Helm does).
pub(super) fn write_lock(chart_dir: &Path, lock: &ChartLock) -> Result<(), ClientError> {
    use std::io::Write;
    let dest = chart_dir.join("Chart.lock");
    if std::fs::symlink_metadata(&dest).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(ClientError::usage(format!("cannot write {}: it is a symbolic link", dest.display())));
    }
    let io = |e: std::io::Error| ClientError::other(format!("cannot write {}: {e}", dest.display()));
    let mut tmp = tempfile::Builder::new().prefix(".Chart.lock.").tempfile_in(chart_dir).map_err(io)?;
    tmp.write_all(lock.to_yaml().as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(&dest).map_err(|e| io(e.error))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o644));
    }
    Ok(())
}

/// Now, as Go's `time.Time` JSON (RFC 3339 with trailing-zero-trimmed nanoseconds), in UTC.
pub(super) fn rfc3339_nano_now() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    rfc3339_nano(d.as_secs(), d.subsec_nanos())
}

pub(super) fn rfc3339_nano(secs: u64, nanos: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut s = format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rem / 3600, (rem % 3600) / 60, rem % 60);
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// A string as go-yaml v2 writes it in block context: double-quoted when it would read back as
/// another type (null, bool, number, timestamp) or holds control characters, single-quoted when
/// a plain scalar cannot start or contain it, plain otherwise.
pub(super) fn yaml_scalar(s: &str) -> String {
    if s.is_empty() || resolves_to_non_string(s) || s.chars().any(|c| c.is_control()) {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        return out;
    }
    let first = s.chars().next().unwrap_or(' ');
    let second_blank = s.chars().nth(1).is_none_or(|c| c == ' ');
    let plain = !(s.starts_with(' ')
        || s.ends_with(' ')
        || s.ends_with(':')
        || s.contains(": ")
        || s.contains(" #")
        || "#,[]{}&*!|>'\"%@`".contains(first)
        || (matches!(first, '-' | '?' | ':') && second_blank));
    if plain { s.to_owned() } else { format!("'{}'", s.replace('\'', "''")) }
}

/// go-yaml v2 `resolve`: would this plain scalar be read as something other than a string?
pub(super) fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE",
        "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", ".inf", ".Inf", ".INF", "+.inf", "+.Inf",
        "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    if !(first.is_ascii_digit() || matches!(first, '+' | '-' | '.')) {
        return false;
    }
    let plain = s.replace('_', "");
    let unsigned = plain.strip_prefix(['+', '-']).unwrap_or(&plain);
    let lower = unsigned.to_ascii_lowercase();
    // Go's ParseInt(base 0) and ParseFloat.
    let is_int = |t: &str| {
        if let Some(h) = t.strip_prefix("0x") {
            return !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit());
        }
        if let Some(b) = t.strip_prefix("0b") {
            return !b.is_empty() && b.chars().all(|c| c == '0' || c == '1');
        }
        if let Some(o) = t.strip_prefix("0o") {
            return !o.is_empty() && o.chars().all(|c| ('0'..='7').contains(&c));
        }
        !t.is_empty() && t.chars().all(|c| c.is_ascii_digit())
    };
    let is_float = |t: &str| {
        if matches!(t, "inf" | "infinity" | "nan") {
            return true;
        }
        let (mantissa, exp) = match t.find('e') {
            Some(i) => (&t[..i], Some(&t[i + 1..])),
            None => (t, None),
        };
        let exp_ok = exp.is_none_or(|e| {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
        });
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        exp_ok
            && !(int.is_empty() && frac.is_empty())
            && int.chars().all(|c| c.is_ascii_digit())
            && frac.chars().all(|c| c.is_ascii_digit())
    };
    if is_int(&lower) || is_float(&lower) {
        return true;
    }
    // Base 60 (`1:20`) and timestamps (`2006-1-2`, `2006-1-2T15:04:05Z`, `2006-1-2 15:4:5`).
    let base60 = {
        let mut parts = unsigned.split(':');
        let head = parts.next().unwrap_or("");
        let rest: Vec<&str> = parts.collect();
        !rest.is_empty()
            && !head.is_empty()
            && head.chars().all(|c| c.is_ascii_digit())
            && rest.iter().enumerate().all(|(i, p)| {
                let p = if i + 1 == rest.len() { p.split('.').next().unwrap_or("") } else { p };
                !p.is_empty() && p.len() <= 2 && p.chars().all(|c| c.is_ascii_digit())
            })
    };
    base60 || looks_like_timestamp(s)
}

pub(super) fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let mut parts = rest.splitn(2, '-');
    let month = parts.next().unwrap_or("");
    let tail = parts.next().unwrap_or("");
    let day_len = tail.bytes().take_while(u8::is_ascii_digit).count();
    let after = &tail[day_len..];
    (1..=2).contains(&month.len())
        && month.bytes().all(|c| c.is_ascii_digit())
        && (1..=2).contains(&day_len)
        && (after.is_empty() || after.starts_with(['T', 't', ' ']))
}
