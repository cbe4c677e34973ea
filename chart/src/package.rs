//! Packaging a chart folder into a reproducible `.tgz`, the way `helm package` does.
//!
//! The caller walks the folder (applying [`crate::helmignore`]) and hands over the files;
//! [`package`] does the rest, without I/O:
//!
//! * `Chart.yaml` is parsed and validated with [`Metadata::from_yaml`] (the server's rules),
//!   `--version` / `--app-version` are applied, and it is re-serialized like Helm's
//!   `yaml.Marshal(Metadata)`: keys sorted, empty fields dropped, comments lost; `apiVersion: v1`
//!   charts lose `dependencies` (they live in `requirements.yaml`).
//! * Entry order is Helm's `chartutil.Save`: `Chart.yaml`, `Chart.lock` (`apiVersion: v2`
//!   only), `values.yaml`, `values.schema.json` (must be valid JSON), `templates/…`, every other
//!   file, then the subcharts; inside each group paths are sorted component by component, which
//!   is the order of Helm's lexical directory walk. `requirements.yaml`/`requirements.lock` are
//!   kept for `v1` charts only (Helm merges them into the metadata/lock of `v2` charts); a `v2`
//!   chart's lock (`Chart.lock`, or a legacy `requirements.lock`) is written as `Chart.lock` with
//!   its bytes unchanged (Helm re-serializes it; it loads the same).
//! * Subcharts are written as Helm's `chartutil.Save` writes them: every subchart, a
//!   `charts/<dir>/` folder or a packaged `charts/<x>.tgz` (validated with [`load_archive`], then
//!   expanded), is packaged recursively as the folder `charts/<its chart name>/`; `charts/_*` and
//!   `charts/.*` are dropped as Helm's loader drops them; `charts/*.prov` files stay plain files.
//!   Subcharts are written in chart-name order (Helm's order is random).
//! * Two subcharts with the same chart name (typically the folder of a `file://` dependency
//!   inside `charts/` and the archive `helm dependency update` made of it) land in the same
//!   folder. Helm then writes every file of that folder twice; Chartroom writes each path once
//!   when the copies are identical, and refuses the chart when they differ
//!   ([`PackageError::ConflictingSubcharts`]): Helm would silently use one of them.
//! * Every Chart.yaml dependency must be a subchart (matched by the subchart's own `name`, as
//!   Helm's `CheckDependencies` does), else "found in Chart.yaml, but missing in charts/
//!   directory: <names>".
//! * A UTF-8 BOM is stripped from every file, as Helm's directory loader does.
//!
//! Reproducible: the same files and options always give the same bytes. The tar stream is
//! USTAR (PAX `path` records for names USTAR cannot hold), regular files only (no directory
//! entries), mode 0644, uid/gid 0, empty user/group names, mtime [`MTIME`] (0: a pure function
//! has no clock and no `SOURCE_DATE_EPOCH`), two zero blocks at the end. The gzip member has
//! mtime 0, no name, OS 255 and [`GZIP_LEVEL`] 9. Digests equal to `helm package` are not a goal
//! (Go's deflate differs from zlib and Helm stamps the current time).
//!
//! The result is finally checked with [`load_archive`], the server's upload validation.

use std::cmp::Ordering;
use std::io::Write;

use flate2::{Compression, GzBuilder};
use serde_json::Value;

use crate::archive::{ArchiveError, Limits, load_archive};
use crate::metadata::{self, MapOrNull, Metadata, MetadataError};

/// Modification time of every tar entry (seconds since the epoch).
pub const MTIME: u64 = 0;

/// gzip compression level.
pub const GZIP_LEVEL: u32 = 9;

/// Deepest accepted nesting of directory subcharts (`charts/a/charts/b/...`).
const MAX_DIRECTORY_NESTING: u32 = 32;

/// One file of the chart folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Relative to the chart folder, `/` separators, e.g. `templates/pod.yaml`.
    pub path: String,
    pub data: Vec<u8>,
}

/// `helm package` flags that change the chart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageOptions {
    /// Replaces `version` (`--version`); must be a valid semantic version.
    pub version: Option<String>,
    /// Replaces `appVersion` (`--app-version`).
    pub app_version: Option<String>,
}

/// A packaged chart.
#[derive(Debug, Clone)]
pub struct Packaged {
    /// `<name>-<version>.tgz`.
    pub file_name: String,
    /// The `.tgz` archive.
    pub bytes: Vec<u8>,
    /// The metadata as a loader reads it back from the archive.
    pub metadata: Metadata,
}

/// Why a folder could not be packaged.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("invalid file path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("duplicate file path {0:?}")]
    DuplicatePath(String),
    #[error("chart file {path:?} is larger than the maximum file size {limit}")]
    FileTooLarge { path: String, limit: u64 },
    #[error("chart is larger than the maximum size of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("Chart.yaml file is missing")]
    ChartYamlMissing,
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("--version {0:?} is not a valid semantic version")]
    InvalidVersionOption(String),
    #[error("cannot load {path}: {reason}")]
    InvalidFile { path: String, reason: String },
    #[error("Invalid JSON in {path}: {reason}")]
    InvalidSchema { path: String, reason: String },
    #[error("found in Chart.yaml, but missing in charts/ directory: {}", .0.join(", "))]
    MissingDependencies(Vec<String>),
    #[error("error unpacking subchart tar in {path}: expected a single file")]
    InvalidSubchartArchive { path: String },
    #[error("subcharts are nested more than {limit} levels deep at {path}")]
    NestingTooDeep { path: String, limit: u32 },
    #[error("subchart {path}: {source}")]
    Subchart { path: String, source: Box<PackageError> },
    #[error("subchart {path}: {source}")]
    SubchartArchive { path: String, source: ArchiveError },
    #[error(
        "subcharts {first} and {second} are both chart {name:?}, packaged into the same folder, but differ in {path} (helm package would write both copies and Helm would use one of them): remove the stale one, e.g. with a dependency update"
    )]
    ConflictingSubcharts { name: String, path: String, first: String, second: String },
    #[error("writing the archive: {0}")]
    Write(String),
    #[error("the packaged archive does not load: {0}")]
    Archive(ArchiveError),
}

/// Package a chart folder's files (already filtered by `.helmignore`) into a `.tgz`.
pub fn package(files: Vec<SourceFile>, options: &PackageOptions) -> Result<Packaged, PackageError> {
    let limits = Limits::default();
    let mut total: u64 = 0;
    let mut seen = std::collections::HashSet::with_capacity(files.len());
    let mut clean = Vec::with_capacity(files.len());
    for f in files {
        check_path(&f.path)?;
        if !seen.insert(f.path.clone()) {
            return Err(PackageError::DuplicatePath(f.path));
        }
        let len = f.data.len() as u64;
        if len > limits.max_file {
            return Err(PackageError::FileTooLarge { path: f.path, limit: limits.max_file });
        }
        total = total.saturating_add(len);
        if total >= limits.max_decompressed {
            return Err(PackageError::TooLarge { limit: limits.max_decompressed });
        }
        let mut data = f.data;
        if data.starts_with(b"\xEF\xBB\xBF") {
            data.drain(..3);
        }
        clean.push(Entry { path: f.path, data });
    }

    let budget = Budget { limits: &limits, total: std::cell::Cell::new(total) };
    let mut chart = load_dir(clean, 0, "", &budget)?;

    if let Some(version) = &options.version {
        if crate::version::Version::parse(version).is_err() {
            return Err(PackageError::InvalidVersionOption(version.clone()));
        }
        chart.metadata.version = version.clone();
    }
    if let Some(app_version) = &options.app_version {
        chart.metadata.app_version = app_version.clone();
    }
    chart.metadata.validate()?;

    // Helm's `CheckDependencies`: by the subcharts' own names.
    let missing: Vec<String> = chart
        .metadata
        .dependencies
        .iter()
        .filter(|d| !chart.subcharts.iter().any(|s| s.name() == d.name))
        .map(|d| d.name.clone())
        .collect();
    if !missing.is_empty() {
        return Err(PackageError::MissingDependencies(missing));
    }

    let name = chart.metadata.name.clone();
    let file_name = format!("{}-{}.tgz", name, chart.metadata.version);
    let mut planned = Vec::new();
    plan_chart(&name, &chart, "", &mut planned)?;
    let mut tar = tar::Builder::new(Vec::new());
    for entry in drop_identical_repeats(planned)? {
        append(&mut tar, &entry.path, &entry.data)?;
    }
    let tar_bytes = tar.into_inner().map_err(|e| PackageError::Write(e.to_string()))?;
    let mut gz = GzBuilder::new().mtime(0).operating_system(255).write(Vec::new(), Compression::new(GZIP_LEVEL));
    gz.write_all(&tar_bytes).map_err(|e| PackageError::Write(e.to_string()))?;
    let bytes = gz.finish().map_err(|e| PackageError::Write(e.to_string()))?;

    let loaded = load_archive(&bytes, &limits).map_err(PackageError::Archive)?;
    Ok(Packaged { file_name, bytes, metadata: loaded.metadata })
}

/// A relative path with `/` separators and no empty, `.` or `..` components.
fn check_path(path: &str) -> Result<(), PackageError> {
    let invalid = |reason| Err(PackageError::InvalidPath { path: path.to_owned(), reason });
    if path.is_empty() {
        return invalid("empty");
    }
    if path.starts_with('/') {
        return invalid("absolute");
    }
    if path.contains('\\') {
        return invalid("a backslash is a path separator in chart archives");
    }
    if path.contains('\0') {
        return invalid("contains NUL");
    }
    if path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return invalid("empty, `.` or `..` component");
    }
    Ok(())
}

/// Helm's walk order: component by component, each compared bytewise.
fn path_order(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

struct Entry {
    path: String,
    data: Vec<u8>,
}

/// One chart level, split the way Helm's loader splits it.
struct ChartDir {
    metadata: Metadata,
    lock: Option<Vec<u8>>,
    values: Option<Vec<u8>>,
    schema: Option<Vec<u8>>,
    templates: Vec<Entry>,
    files: Vec<Entry>,
    subcharts: Vec<Subchart>,
}

/// A subchart: a `charts/<dir>/` folder, or a `charts/<x>.tgz` archive expanded.
struct Subchart {
    /// Where it comes from (`charts/<dir>` or `charts/<x>.tgz`, under its parents), for messages.
    origin: String,
    chart: Box<ChartDir>,
}

impl Subchart {
    fn name(&self) -> &str {
        &self.chart.metadata.name
    }
}

/// The size bound of the whole package, which expanded subchart archives also count against.
struct Budget<'a> {
    limits: &'a Limits,
    /// Bytes of every file so far (input files, then expanded ones).
    total: std::cell::Cell<u64>,
}

impl Budget<'_> {
    fn add(&self, files: &[Entry]) -> Result<(), PackageError> {
        let added = files.iter().fold(0u64, |sum, f| sum.saturating_add(f.data.len() as u64));
        let total = self.total.get().saturating_add(added);
        self.total.set(total);
        if total >= self.limits.max_decompressed {
            return Err(PackageError::TooLarge { limit: self.limits.max_decompressed });
        }
        Ok(())
    }
}

/// Helm's `LoadFiles` for one level; `at` is the level's path for messages ("" at the top).
fn load_dir(mut files: Vec<Entry>, depth: u32, at: &str, budget: &Budget<'_>) -> Result<ChartDir, PackageError> {
    files.sort_by(|a, b| path_order(&a.path, &b.path));
    let chart_yaml = files.iter().find(|f| f.path == "Chart.yaml").ok_or(PackageError::ChartYamlMissing)?;
    let mut metadata = Metadata::from_yaml(&chart_yaml.data)?;
    let v1 = metadata.api_version == "v1";

    let mut chart = ChartDir {
        metadata: Metadata::default(),
        lock: None,
        values: None,
        schema: None,
        templates: Vec::new(),
        files: Vec::new(),
        subcharts: Vec::new(),
    };
    // Files under charts/ by their first component, in walk order.
    let mut groups: Vec<(String, Vec<Entry>)> = Vec::new();
    for f in files {
        match f.path.as_str() {
            "Chart.yaml" => {}
            "Chart.lock" => chart.lock = Some(f.data),
            "requirements.yaml" => {
                let req = metadata::parse_yaml_doc::<Option<metadata::Requirements>>(&f.data)
                    .map_err(|e| PackageError::InvalidFile { path: "requirements.yaml".into(), reason: e })?;
                if let Some(deps) = req.and_then(|r| r.dependencies) {
                    metadata.dependencies = deps;
                    metadata.validate()?;
                }
                if v1 {
                    chart.files.push(f);
                }
            }
            "requirements.lock" => {
                if v1 {
                    chart.lock = Some(f.data.clone());
                    chart.files.push(f);
                } else {
                    chart.lock = Some(f.data);
                }
            }
            "values.yaml" => {
                metadata::parse_yaml_docs::<MapOrNull>(&f.data)
                    .map_err(|e| PackageError::InvalidFile { path: "values.yaml".into(), reason: e })?;
                chart.values = Some(f.data);
            }
            "values.schema.json" => {
                serde_json::from_slice::<serde::de::IgnoredAny>(&f.data)
                    .map_err(|e| PackageError::InvalidSchema { path: f.path.clone(), reason: e.to_string() })?;
                chart.schema = Some(f.data);
            }
            p if p.starts_with("templates/") => chart.templates.push(f),
            p if p.starts_with("charts/") && !p.ends_with(".prov") => {
                let rest = p.get("charts/".len()..).unwrap_or_default();
                let cname = rest.split('/').next().unwrap_or_default().to_owned();
                match groups.last_mut() {
                    Some((last, list)) if *last == cname => list.push(f),
                    _ => groups.push((cname, vec![f])),
                }
            }
            _ => chart.files.push(f),
        }
    }

    for (cname, list) in groups {
        // Helm's loader skips these: they are neither subcharts nor files.
        if cname.starts_with('_') || cname.starts_with('.') {
            continue;
        }
        let sub_path = format!("{at}charts/{cname}");
        if depth >= MAX_DIRECTORY_NESTING {
            return Err(PackageError::NestingTooDeep { path: sub_path, limit: MAX_DIRECTORY_NESTING });
        }
        let inner = if cname.ends_with(".tgz") {
            let mut list = list;
            let data = match list.as_mut_slice() {
                [only] if only.path == format!("charts/{cname}") => std::mem::take(&mut only.data),
                _ => return Err(PackageError::InvalidSubchartArchive { path: sub_path }),
            };
            expand_archive(&data, &sub_path, budget)?
        } else {
            let prefix = format!("charts/{cname}/");
            list.into_iter()
                .filter_map(|f| {
                    let rel = f.path.strip_prefix(&prefix)?.to_owned();
                    Some(Entry { path: rel, data: f.data })
                })
                .collect()
        };
        let sub = load_dir(inner, depth + 1, &format!("{sub_path}/"), budget)
            .map_err(|e| PackageError::Subchart { path: sub_path.clone(), source: Box::new(e) })?;
        chart.subcharts.push(Subchart { origin: sub_path, chart: Box::new(sub) });
    }
    // Helm writes subcharts in its map's (random) order; by name, same-named ones side by side.
    chart.subcharts.sort_by(|a, b| a.name().cmp(b.name()));
    chart.metadata = metadata;
    Ok(chart)
}

/// The files of the packaged subchart `path`, after the server's validation.
fn expand_archive(data: &[u8], path: &str, budget: &Budget<'_>) -> Result<Vec<Entry>, PackageError> {
    let invalid = |source| PackageError::SubchartArchive { path: path.to_owned(), source };
    load_archive(data, budget.limits).map_err(invalid)?;
    let files: Vec<Entry> = crate::archive::extract_all(data, budget.limits)
        .map_err(invalid)?
        .into_iter()
        .map(|f| Entry { path: f.path, data: f.data })
        .collect();
    budget.add(&files)?;
    Ok(files)
}

/// One file of the package, in writing order.
struct Planned<'a> {
    path: String,
    data: std::borrow::Cow<'a, [u8]>,
    /// The chart it belongs to, and where that chart comes from (`""` for the chart itself).
    chart: &'a str,
    origin: &'a str,
}

/// Helm's `writeTarContents` for one level under `base`: the files in Helm's order, subcharts
/// under `charts/<chart name>/`.
fn plan_chart<'a>(
    base: &str,
    chart: &'a ChartDir,
    origin: &'a str,
    out: &mut Vec<Planned<'a>>,
) -> Result<(), PackageError> {
    let name = chart.metadata.name.as_str();
    let mut push =
        |path: String, data: std::borrow::Cow<'a, [u8]>| out.push(Planned { path, data, chart: name, origin });
    let mut md = chart.metadata.clone();
    if md.api_version == "v1" {
        md.dependencies.clear();
    }
    push(format!("{base}/Chart.yaml"), chart_yaml(&md)?.into_bytes().into());
    if md.api_version == "v2"
        && let Some(lock) = &chart.lock
    {
        push(format!("{base}/Chart.lock"), lock.as_slice().into());
    }
    if let Some(values) = &chart.values {
        push(format!("{base}/values.yaml"), values.as_slice().into());
    }
    if let Some(schema) = &chart.schema {
        push(format!("{base}/values.schema.json"), schema.as_slice().into());
    }
    for f in chart.templates.iter().chain(&chart.files) {
        push(format!("{base}/{}", f.path), f.data.as_slice().into());
    }
    for sub in &chart.subcharts {
        plan_chart(&format!("{base}/charts/{}", sub.name()), &sub.chart, &sub.origin, out)?;
    }
    Ok(())
}

/// Each path once: a repeat with the same bytes (a subchart present twice) is dropped, a repeat
/// with other bytes is refused.
fn drop_identical_repeats(planned: Vec<Planned<'_>>) -> Result<Vec<Planned<'_>>, PackageError> {
    let mut first: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut kept: Vec<Planned<'_>> = Vec::with_capacity(planned.len());
    for entry in planned {
        if let Some(earlier) = first.get(&entry.path).and_then(|&i| kept.get(i)) {
            if earlier.data != entry.data {
                let (_, rel) = entry.path.split_once('/').unwrap_or(("", &entry.path));
                return Err(PackageError::ConflictingSubcharts {
                    name: entry.chart.to_owned(),
                    path: rel.to_owned(),
                    first: earlier.origin.to_owned(),
                    second: entry.origin.to_owned(),
                });
            }
            continue;
        }
        first.insert(entry.path.clone(), kept.len());
        kept.push(entry);
    }
    Ok(kept)
}

/// One regular-file entry: USTAR, 0644, uid/gid 0, empty owner names, mtime [`MTIME`].
fn append(tar: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) -> Result<(), PackageError> {
    let write_err = |e: std::io::Error| PackageError::Write(format!("{path}: {e}"));
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(MTIME);
    header.set_size(data.len() as u64);
    if header.set_path(path).is_err() {
        // Too long for USTAR's name + prefix: a PAX `path` record, as Go's archive/tar writes.
        let record = pax_record("path", path);
        let mut pax = tar::Header::new_ustar();
        pax.set_entry_type(tar::EntryType::XHeader);
        pax.set_mode(0o644);
        pax.set_uid(0);
        pax.set_gid(0);
        pax.set_mtime(MTIME);
        pax.set_size(record.len() as u64);
        set_raw_name(&mut pax, "PaxHeaders.0/entry");
        pax.set_cksum();
        tar.append(&pax, record.as_slice()).map_err(write_err)?;
        set_raw_name(&mut header, path);
    }
    header.set_cksum();
    tar.append(&header, data).map_err(write_err)
}

/// The first 100 bytes of `name` (at a character boundary) in the header's name field.
fn set_raw_name(header: &mut tar::Header, name: &str) {
    let field = &mut header.as_old_mut().name;
    let mut end = name.len().min(field.len());
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    field.fill(0);
    if let (Some(dst), Some(src)) = (field.get_mut(..end), name.as_bytes().get(..end)) {
        dst.copy_from_slice(src);
    }
}

/// `"<len> <key>=<value>\n"`, where `<len>` counts the whole record, itself included.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let base = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = base + 1;
    while len != base + len.to_string().len() {
        len = base + len.to_string().len();
    }
    format!("{len} {key}={value}\n").into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Chart.yaml as Helm writes it: `yaml.Marshal(Metadata)` (JSON field names, omitempty, keys
// sorted), block style. Strings are plain only when no YAML 1.1 reader (Go's) could take them
// for anything but that string; otherwise they are double-quoted.

/// Serialize metadata as `Chart.yaml`.
fn chart_yaml(md: &Metadata) -> Result<String, PackageError> {
    let value = serde_json::to_value(md).map_err(|e| PackageError::Write(format!("Chart.yaml: {e}")))?;
    let mut out = String::new();
    match &value {
        Value::Object(map) => write_map(&mut out, map, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    Ok(out)
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    for (key, value) in entries {
        push_indent(out, indent);
        out.push_str(&string_scalar(key));
        out.push(':');
        match value {
            Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                write_map(out, m, indent + 2);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                write_seq(out, items, indent);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        push_indent(out, indent);
        match item {
            Value::Object(m) if !m.is_empty() => {
                let mut block = String::new();
                write_map(&mut block, m, indent + 2);
                out.push_str("- ");
                out.push_str(block.get(indent + 2..).unwrap_or_default());
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push_str("-\n");
                write_seq(out, inner, indent + 2);
            }
            other => {
                out.push_str("- ");
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string_scalar(s),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

/// A string as a YAML scalar: plain when unambiguous, else double-quoted.
fn string_scalar(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    crate::yaml::scalar(&mut out, s);
    out
}

#[cfg(test)]
mod tests;
