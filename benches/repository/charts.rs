//! The generated charts: the `helm create` scaffold packed under 10,000 or 100,000 names and
//! versions, cached in `<data dir>/charts-v1`, and minimal charts (one `Chart.yaml`, one
//! template; up to 1,000,000 of them, issue 16) cached in `<data dir>/charts-min-v1`; both are
//! hard-linked into each repository under test.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chartroom_testkit::{ChartBuilder, Helm};

use crate::{Opts, Res, log};

/// Version strings per chart name in the generated set (500 names x 20 versions = 10,000).
pub const VERSIONS_PER_NAME: usize = 20;
/// The placeholder chart name the scaffold is created with (replaced by each chart's name).
const SCAFFOLD_NAME: &str = "benchscaffold";
/// Bumped whenever the generated charts change, so a stale cache is never reused.
const CACHE_FORMAT: &str = "v1";

/// A chart to upload: name, version, `.tgz`.
pub type Upload = (String, String, Vec<u8>);

pub fn chart_id(i: usize) -> (String, String) {
    (format!("bench-chart-{:04}", i / VERSIONS_PER_NAME), format!("1.0.{}", i % VERSIONS_PER_NAME))
}

pub fn tgz_name(name: &str, version: &str) -> String {
    format!("{name}-{version}.tgz")
}

/// The archive names of charts `0..n`.
pub fn base_files(n: usize) -> impl Iterator<Item = String> {
    (0..n).map(|i| {
        let (name, version) = chart_id(i);
        tgz_name(&name, &version)
    })
}

/// The `helm create` scaffold (11 files, ~15 KB), created once with the Helm binary.
pub fn scaffold(opts: &Opts, helm: &Helm) -> Res<Vec<(String, String)>> {
    let dir = opts.data_dir.join("scaffold");
    let chart = dir.join(SCAFFOLD_NAME);
    if !chart.join("Chart.yaml").exists() {
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let out = helm.output_in(Some(&dir), &["create", SCAFFOLD_NAME]);
        if !out.status.success() {
            return Err(format!("helm create failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    let mut files = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> Res<()> {
        let mut entries: Vec<_> =
            fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out)?;
            } else {
                let rel = p.strip_prefix(base).map_err(|e| e.to_string())?.to_string_lossy().replace('\\', "/");
                let text = fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                out.push((rel, text));
            }
        }
        Ok(())
    }
    walk(&chart, &chart, &mut files)?;
    // Helm packages Chart.yaml first, then values.yaml, then the rest.
    files.sort_by_key(|(p, _)| match p.as_str() {
        "Chart.yaml" => 0,
        "values.yaml" => 1,
        _ => 2,
    });
    if !files.iter().any(|(p, t)| p == "Chart.yaml" && t.contains("\nversion: 0.1.0\n")) {
        return Err("unexpected helm create Chart.yaml (no `version: 0.1.0` line)".into());
    }
    Ok(files)
}

/// A chart archive as `helm package` lays it out: `<name>/...`, mode 0644, no directory entries,
/// gzip level 6 (the builder's defaults; the bytes are those of the `charts-v1` cache).
pub fn make_tgz(scaffold: &[(String, String)], name: &str, version: &str) -> Vec<u8> {
    let chart = scaffold.iter().fold(ChartBuilder::new().top_folder(name), |chart, (rel, text)| {
        let mut content = text.replace(SCAFFOLD_NAME, name);
        if rel == "Chart.yaml" {
            content = content.replace("\nversion: 0.1.0\n", &format!("\nversion: {version}\n"));
        }
        chart.file(rel, content)
    });
    chart.build()
}

/// A minimal chart: `Chart.yaml` and one template, packed like `helm package` (a few hundred
/// bytes; what a repository of CI builds of small charts holds).
pub fn make_minimal_tgz(name: &str, version: &str) -> Vec<u8> {
    ChartBuilder::new()
        .top_folder(name)
        .file(
            "Chart.yaml",
            format!(
                "apiVersion: v2\nname: {name}\ndescription: A minimal chart\ntype: application\n\
                 version: {version}\nappVersion: \"1.0.0\"\n"
            ),
        )
        .file(
            "templates/configmap.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n\
             data:\n  chart: {{ .Chart.Name }}\n",
        )
        .build()
}

/// Which generated charts: the `helm create` scaffold, or minimal charts.
#[derive(Clone, Copy)]
pub enum Kind<'a> {
    Scaffold(&'a [(String, String)]),
    Minimal,
}

impl Kind<'_> {
    fn make(self, name: &str, version: &str) -> Vec<u8> {
        match self {
            Kind::Scaffold(scaffold) => make_tgz(scaffold, name, version),
            Kind::Minimal => make_minimal_tgz(name, version),
        }
    }

    fn dir(self, opts: &Opts) -> PathBuf {
        match self {
            Kind::Scaffold(_) => opts.data_dir.join(format!("charts-{CACHE_FORMAT}")),
            Kind::Minimal => opts.data_dir.join(format!("charts-min-{CACHE_FORMAT}")),
        }
    }
}

pub fn generated_count(opts: &Opts) -> usize {
    generated_count_of(opts, Kind::Scaffold(&[]))
}

fn generated_count_of(opts: &Opts, kind: Kind) -> usize {
    fs::read_to_string(kind.dir(opts).join(".complete")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// Makes sure charts `0..want` exist in the cache; returns the time spent generating. Gives up
/// (returning `Ok(None)`) when `budget` is exceeded; a later run continues where it stopped.
pub fn ensure_charts(
    opts: &Opts,
    scaffold: &[(String, String)],
    want: usize,
    budget: Duration,
) -> Res<Option<Duration>> {
    ensure(opts, Kind::Scaffold(scaffold), want, budget)
}

/// [`ensure_charts`] for either kind of chart.
pub fn ensure(opts: &Opts, kind: Kind, want: usize, budget: Duration) -> Res<Option<Duration>> {
    let dir = kind.dir(opts);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let have = generated_count_of(opts, kind);
    if have >= want {
        return Ok(Some(Duration::ZERO));
    }
    log(format!("generating charts {have}..{want} into {}", dir.display()));
    let started = Instant::now();
    let chunk = match kind {
        Kind::Scaffold(_) => 2000,
        Kind::Minimal => 20_000,
    };
    let mut done = have;
    while done < want {
        let end = (done + chunk).min(want);
        let next = AtomicUsize::new(done);
        let failed = Mutex::new(None::<String>);
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= end {
                            break;
                        }
                        let (name, version) = chart_id(i);
                        let path = dir.join(tgz_name(&name, &version));
                        if let Err(e) = fs::write(&path, kind.make(&name, &version)) {
                            *failed.lock().unwrap_or_else(|p| p.into_inner()) =
                                Some(format!("{}: {e}", path.display()));
                            break;
                        }
                    }
                });
            }
        });
        if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        done = end;
        fs::write(dir.join(".complete"), done.to_string()).map_err(|e| e.to_string())?;
        let spent = started.elapsed();
        let projected = spent.mul_f64((want - have) as f64 / (done - have) as f64);
        if done < want && projected > budget {
            log(format!(
                "generation projected at {:.0} s > budget {:.0} s; stopping at {done}",
                projected.as_secs_f64(),
                budget.as_secs_f64()
            ));
            return Ok(None);
        }
    }
    let spent = started.elapsed();
    log(format!("generated {} charts in {:.1} s", want - have, spent.as_secs_f64()));
    Ok(Some(spent))
}

/// A fresh folder holding charts `0..n` of the cache (hard links; copies if linking fails).
pub fn populate(opts: &Opts, target: &Path, n: usize) -> Res<u64> {
    populate_with(opts, Kind::Scaffold(&[]), target, n)
}

/// [`populate`] from either kind's cache.
pub fn populate_with(opts: &Opts, kind: Kind, target: &Path, n: usize) -> Res<u64> {
    fs::create_dir_all(target).map_err(|e| format!("{}: {e}", target.display()))?;
    let src = kind.dir(opts);
    let mut bytes = 0;
    for i in 0..n {
        let (name, version) = chart_id(i);
        let file = tgz_name(&name, &version);
        let (from, to) = (src.join(&file), target.join(&file));
        if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to).map_err(|e| format!("{} -> {}: {e}", from.display(), to.display()))?;
        }
        bytes += fs::metadata(&to).map(|m| m.len()).unwrap_or(0);
    }
    Ok(bytes)
}

/// The new charts uploaded by the sequential test (`2.0.x`) and the concurrent test (`3.0.x`):
/// new versions of names that already exist in the large repository.
pub fn upload_set(scaffold: &[(String, String)], major: u32, n: usize) -> Vec<Upload> {
    upload_set_of(Kind::Scaffold(scaffold), major, n)
}

/// [`upload_set`] of either kind.
pub fn upload_set_of(kind: Kind, major: u32, n: usize) -> Vec<Upload> {
    (0..n)
        .map(|i| {
            let name = format!("bench-chart-{:04}", i % 500);
            let version = format!("{major}.0.{i}");
            let tgz = kind.make(&name, &version);
            (name, version, tgz)
        })
        .collect()
}
