//! Chartroom repository benchmark (`cargo bench --bench repository`, normally via `scripts/bench.sh`).
//!
//! Drives the release binary over loopback HTTP and prints a Markdown report. What it measures
//! and why is described in `BENCHMARKS.md`. Everything talks to 127.0.0.1 only; generated charts
//! are cached in `target/bench-data/charts` and reused across runs.
//!
//! Options (all optional):
//!   --data-dir DIR        cache and scratch folder            [target/bench-data]
//!   --server PATH         chartroom binary                    [target/release/chartroom]
//!   --helm PATH           Helm 3.17 binary                    [.tools/bin/helm3]
//!   --wrk PATH            wrk binary                          [wrk]
//!   --nginx PATH          nginx binary                        [nginx]
//!   --versions N          versions in the main repository     [10000]
//!   --big-versions N      versions for the large restart test, 0 = skip [100000]
//!   --big-budget-secs S   skip the large test if generating its charts would exceed S [240]
//!   --seq-uploads N       sequential uploads per repository   [300]
//!   --conc-clients N      concurrent upload clients           [16]
//!   --conc-uploads N      concurrent uploads in total         [1600]
//!   --wrk-secs S          wrk duration                        [10]
//!   --restarts N          timed restarts with persisted state [3]
//!   --deadline-secs S     hard limit for the whole run        [570]

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

type Res<T> = Result<T, String>;

/// Version strings per chart name in the generated set (500 names x 20 versions = 10,000).
const VERSIONS_PER_NAME: usize = 20;
/// The placeholder chart name the scaffold is created with (replaced by each chart's name).
const SCAFFOLD_NAME: &str = "benchscaffold";
/// Bumped whenever the generated charts change, so a stale cache is never reused.
const CACHE_FORMAT: &str = "v1";

/// PIDs of child processes still running, killed by the watchdog if the deadline passes.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn register_child(pid: u32) {
    CHILDREN.lock().unwrap_or_else(|p| p.into_inner()).push(pid);
}

fn unregister_child(pid: u32) {
    CHILDREN.lock().unwrap_or_else(|p| p.into_inner()).retain(|p| *p != pid);
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).stderr(Stdio::null()).status();
}

#[derive(Clone)]
struct Opts {
    data_dir: PathBuf,
    server: PathBuf,
    helm: PathBuf,
    wrk: PathBuf,
    nginx: PathBuf,
    versions: usize,
    big_versions: usize,
    big_budget: Duration,
    seq_uploads: usize,
    conc_clients: usize,
    conc_uploads: usize,
    wrk_secs: u32,
    restarts: usize,
    deadline: Duration,
}

fn parse_opts() -> Res<Opts> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut o = Opts {
        data_dir: root.join("target/bench-data"),
        server: root.join("target/release/chartroom"),
        helm: root.join(".tools/bin/helm3"),
        wrk: PathBuf::from("wrk"),
        nginx: PathBuf::from("nginx"),
        versions: 10_000,
        big_versions: 100_000,
        big_budget: Duration::from_secs(240),
        seq_uploads: 300,
        conc_clients: 16,
        conc_uploads: 1600,
        wrk_secs: 10,
        restarts: 3,
        deadline: Duration::from_secs(570),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--bench" {
            continue; // passed by `cargo bench`
        }
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        let num = |s: String| s.parse::<usize>().map_err(|e| format!("{s}: {e}"));
        match a.as_str() {
            "--data-dir" => o.data_dir = PathBuf::from(val()?),
            "--server" => o.server = PathBuf::from(val()?),
            "--helm" => o.helm = PathBuf::from(val()?),
            "--wrk" => o.wrk = PathBuf::from(val()?),
            "--nginx" => o.nginx = PathBuf::from(val()?),
            "--versions" => o.versions = num(val()?)?,
            "--big-versions" => o.big_versions = num(val()?)?,
            "--big-budget-secs" => o.big_budget = Duration::from_secs(num(val()?)? as u64),
            "--seq-uploads" => o.seq_uploads = num(val()?)?,
            "--conc-clients" => o.conc_clients = num(val()?)?.max(1),
            "--conc-uploads" => o.conc_uploads = num(val()?)?,
            "--wrk-secs" => o.wrk_secs = num(val()?)? as u32,
            "--restarts" => o.restarts = num(val()?)?.max(1),
            "--deadline-secs" => o.deadline = Duration::from_secs(num(val()?)? as u64),
            other => return Err(format!("unknown option {other} (see the top of benches/repository.rs)")),
        }
    }
    Ok(o)
}

fn main() {
    let opts = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    };
    let deadline = opts.deadline;
    std::thread::spawn(move || {
        std::thread::sleep(deadline);
        eprintln!("bench: deadline of {} s reached; killing children and exiting", deadline.as_secs());
        for pid in CHILDREN.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            signal(*pid, "KILL");
        }
        std::process::exit(3);
    });
    // A single-threaded client runtime keeps the load generator's CPU share small: client and
    // server share the same cores.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let result = rt.block_on(run(opts));
    if let Err(e) = result {
        eprintln!("bench: FAILED: {e}");
        for pid in CHILDREN.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            signal(*pid, "KILL");
        }
        std::process::exit(1);
    }
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[bench {:>7.1}s] {}", START.get_or_init(Instant::now).elapsed().as_secs_f64(), msg.as_ref());
}

static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

// ------------------------------------------------------------------------------------------------
// Chart generation
// ------------------------------------------------------------------------------------------------

fn chart_id(i: usize) -> (String, String) {
    (format!("bench-chart-{:04}", i / VERSIONS_PER_NAME), format!("1.0.{}", i % VERSIONS_PER_NAME))
}

fn tgz_name(name: &str, version: &str) -> String {
    format!("{name}-{version}.tgz")
}

/// The `helm create` scaffold (11 files, ~15 KB), created once with the Helm binary.
fn scaffold(opts: &Opts) -> Res<Vec<(String, String)>> {
    let dir = opts.data_dir.join("scaffold");
    let chart = dir.join(SCAFFOLD_NAME);
    if !chart.join("Chart.yaml").exists() {
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let out = helm_cmd(opts, &dir.join("home"))
            .arg("create")
            .arg(SCAFFOLD_NAME)
            .current_dir(&dir)
            .output()
            .map_err(|e| format!("running {}: {e}", opts.helm.display()))?;
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
/// gzip level 6.
fn make_tgz(scaffold: &[(String, String)], name: &str, version: &str) -> Vec<u8> {
    let enc = flate2::write::GzEncoder::new(Vec::with_capacity(8192), flate2::Compression::new(6));
    let mut b = tar::Builder::new(enc);
    for (rel, text) in scaffold {
        let mut content = text.replace(SCAFFOLD_NAME, name);
        if rel == "Chart.yaml" {
            content = content.replace("\nversion: 0.1.0\n", &format!("\nversion: {version}\n"));
        }
        let mut h = tar::Header::new_ustar();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, format!("{name}/{rel}"), content.as_bytes()).expect("in-memory tar");
    }
    b.into_inner().expect("in-memory tar").finish().expect("in-memory gzip")
}

fn charts_dir(opts: &Opts) -> PathBuf {
    opts.data_dir.join(format!("charts-{CACHE_FORMAT}"))
}

fn generated_count(opts: &Opts) -> usize {
    fs::read_to_string(charts_dir(opts).join(".complete")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// Makes sure charts `0..want` exist in the cache; returns the time spent generating. Gives up
/// (returning `Ok(None)`) when `budget` is exceeded; a later run continues where it stopped.
fn ensure_charts(opts: &Opts, scaffold: &[(String, String)], want: usize, budget: Duration) -> Res<Option<Duration>> {
    let dir = charts_dir(opts);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let have = generated_count(opts);
    if have >= want {
        return Ok(Some(Duration::ZERO));
    }
    log(format!("generating charts {have}..{want} into {}", dir.display()));
    let started = Instant::now();
    let chunk = 2000;
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
                        if let Err(e) = fs::write(&path, make_tgz(scaffold, &name, &version)) {
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
fn populate(opts: &Opts, target: &Path, n: usize) -> Res<u64> {
    fs::create_dir_all(target).map_err(|e| format!("{}: {e}", target.display()))?;
    let src = charts_dir(opts);
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

// ------------------------------------------------------------------------------------------------
// Processes
// ------------------------------------------------------------------------------------------------

fn free_port() -> Res<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn helm_cmd(opts: &Opts, home: &Path) -> Command {
    let mut c = Command::new(&opts.helm);
    c.env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"));
    c
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

struct Server {
    child: Option<Child>,
    pid: u32,
    base: String,
    root: PathBuf,
    log: PathBuf,
}

impl Server {
    /// Starts the server and waits for `/health` to answer 200; returns it with the time from
    /// spawning the process to that first 200.
    async fn start(
        opts: &Opts,
        http: &reqwest::Client,
        root: &Path,
        log: &Path,
        limit: Duration,
    ) -> Res<(Server, Duration)> {
        let port = free_port()?;
        let log_file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let started = Instant::now();
        let child = Command::new(&opts.server)
            .args(["serve", "--listen-host", "127.0.0.1", "--port", &port.to_string(), "--storage", "local"])
            .arg("--storage-local-rootdir")
            .arg(root)
            .args(["--cache-interval", "0"])
            .env_remove("CHARTROOM_LOG")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", opts.server.display()))?;
        let pid = child.id();
        register_child(pid);
        let mut server = Server {
            child: Some(child),
            pid,
            base: format!("http://127.0.0.1:{port}"),
            root: root.to_owned(),
            log: log.to_owned(),
        };
        let health = format!("{}/health", server.base);
        loop {
            if let Ok(r) = http.get(&health).timeout(Duration::from_secs(2)).send().await
                && r.status() == 200
            {
                let elapsed = started.elapsed();
                let _ = r.bytes().await;
                return Ok((server, elapsed));
            }
            if let Some(c) = server.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(format!("server exited with {status} before serving; see {}", server.log.display()));
            }
            if started.elapsed() > limit {
                return Err(format!("server not healthy after {} s; see {}", limit.as_secs(), server.log.display()));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// SIGTERM, then waits for exit; returns the shutdown time.
    async fn stop(&mut self) -> Res<Duration> {
        let Some(mut child) = self.child.take() else { return Ok(Duration::ZERO) };
        let started = Instant::now();
        signal(self.pid, "TERM");
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                unregister_child(self.pid);
                if !status.success() {
                    log(format!("server exited with {status} after SIGTERM"));
                }
                return Ok(started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                let _ = child.wait();
                unregister_child(self.pid);
                return Err("server did not stop within 60 s of SIGTERM".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn rss(&self) -> Res<Mem> {
        read_mem(self.pid)
    }

    /// The last `elapsed_ms` of an "index ready" log line, and that line's `reused` count.
    fn index_ready_ms(&self) -> Option<String> {
        let text = fs::read_to_string(&self.log).ok()?;
        let line = text.lines().rev().find(|l| l.contains("index ready"))?;
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{k}=")).map(|v| v.trim_matches('"').to_owned()))
        };
        Some(format!(
            "{} ms (opened={}, reused={})",
            field("elapsed_ms").unwrap_or_else(|| "?".into()),
            field("opened").unwrap_or_else(|| "?".into()),
            field("reused").unwrap_or_else(|| "?".into())
        ))
    }

    fn state_file(&self) -> PathBuf {
        self.root.join(".chartroom").join("index-state.json")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            unregister_child(self.pid);
        }
    }
}

#[derive(Clone, Copy)]
struct Mem {
    rss_kb: u64,
    hwm_kb: u64,
}

fn read_mem(pid: u32) -> Res<Mem> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    let get = |k: &str| {
        text.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(Mem { rss_kb: get("VmRSS:"), hwm_kb: get("VmHWM:") })
}

// ------------------------------------------------------------------------------------------------
// Index inspection
// ------------------------------------------------------------------------------------------------

/// Counts each archive file named in the index's `urls` (`- charts/<name>-<version>.tgz`).
fn url_counts(body: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for line in body.lines() {
        let t = line.trim();
        if let Some(item) = t.strip_prefix("- ")
            && item.ends_with(".tgz")
        {
            let file = item.trim_matches('"').rsplit('/').next().unwrap_or(item).to_owned();
            *counts.entry(file).or_insert(0) += 1;
        }
    }
    counts
}

async fn get_index(http: &reqwest::Client, base: &str) -> Res<(Vec<u8>, HashMap<String, usize>)> {
    let r = http.get(format!("{base}/index.yaml")).send().await.map_err(|e| e.to_string())?;
    if r.status() != 200 {
        return Err(format!("GET /index.yaml: {}", r.status()));
    }
    let body = r.bytes().await.map_err(|e| e.to_string())?.to_vec();
    let counts = url_counts(&String::from_utf8_lossy(&body));
    Ok((body, counts))
}

/// Checks that charts `0..n` are all listed exactly once and nothing else is listed.
fn check_exact(counts: &HashMap<String, usize>, expected: impl Iterator<Item = String>) -> Res<usize> {
    let mut want = 0;
    for file in expected {
        want += 1;
        match counts.get(&file) {
            Some(1) => {}
            Some(c) => return Err(format!("{file} listed {c} times")),
            None => return Err(format!("{file} missing from the index")),
        }
    }
    if counts.len() != want {
        return Err(format!("index lists {} archives, expected {want}", counts.len()));
    }
    Ok(want)
}

fn base_files(n: usize) -> impl Iterator<Item = String> {
    (0..n).map(|i| {
        let (name, version) = chart_id(i);
        tgz_name(&name, &version)
    })
}

// ------------------------------------------------------------------------------------------------
// Measurements
// ------------------------------------------------------------------------------------------------

#[derive(Default)]
struct Stats {
    post: Vec<Duration>,
    visible: Vec<Duration>,
    extra_gets: usize,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s.get(s.len() / 2).copied().unwrap_or_default()
}

fn secs_list(v: &[Duration]) -> String {
    v.iter().map(|d| format!("{:.3}", d.as_secs_f64())).collect::<Vec<_>>().join(", ")
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn summary(v: &[Duration]) -> [Duration; 4] {
    let mut s = v.to_vec();
    s.sort();
    [pct(&s, 50.0), pct(&s, 90.0), pct(&s, 99.0), s.last().copied().unwrap_or_default()]
}

/// The new charts uploaded by the sequential test (`2.0.x`) and the concurrent test (`3.0.x`):
/// new versions of names that already exist in the large repository.
fn upload_set(scaffold: &[(String, String)], major: u32, n: usize) -> Vec<(String, String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let name = format!("bench-chart-{:04}", i % 500);
            let version = format!("{major}.0.{i}");
            let tgz = make_tgz(scaffold, &name, &version);
            (name, version, tgz)
        })
        .collect()
}

async fn sequential_uploads(http: &reqwest::Client, base: &str, set: &[(String, String, Vec<u8>)]) -> Res<Stats> {
    let mut st = Stats::default();
    for (name, version, tgz) in set {
        let t0 = Instant::now();
        let r = http
            .post(format!("{base}/api/charts"))
            .header("content-type", "application/octet-stream")
            .body(tgz.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let body = r.bytes().await.map_err(|e| e.to_string())?;
        let post = t0.elapsed();
        if status != 201 {
            return Err(format!("upload {name} {version}: {status} {}", String::from_utf8_lossy(&body)));
        }
        loop {
            let r = http.get(format!("{base}/api/charts/{name}/{version}")).send().await.map_err(|e| e.to_string())?;
            let ok = r.status() == 200;
            let _ = r.bytes().await;
            if ok {
                break;
            }
            st.extra_gets += 1;
            if t0.elapsed() > Duration::from_secs(10) {
                return Err(format!("{name} {version} not visible 10 s after upload"));
            }
        }
        st.visible.push(t0.elapsed());
        st.post.push(post);
    }
    Ok(st)
}

struct Conc {
    elapsed: Duration,
    ok: usize,
    non_201: BTreeMap<u16, usize>,
    errors: usize,
}

async fn concurrent_uploads(
    http: &reqwest::Client,
    base: &str,
    set: &[(String, String, Vec<u8>)],
    clients: usize,
) -> Conc {
    let per = set.len().div_ceil(clients);
    let started = Instant::now();
    let tasks = set.chunks(per.max(1)).map(|chunk| async move {
        let mut out: Vec<Result<u16, String>> = Vec::with_capacity(chunk.len());
        for (_, _, tgz) in chunk {
            let r = http
                .post(format!("{base}/api/charts"))
                .header("content-type", "application/octet-stream")
                .body(tgz.clone())
                .send()
                .await;
            out.push(match r {
                Ok(r) => {
                    let s = r.status().as_u16();
                    let _ = r.bytes().await;
                    Ok(s)
                }
                Err(e) => Err(e.to_string()),
            });
        }
        out
    });
    let results = futures::future::join_all(tasks).await;
    let elapsed = started.elapsed();
    let mut c = Conc { elapsed, ok: 0, non_201: BTreeMap::new(), errors: 0 };
    for r in results.into_iter().flatten() {
        match r {
            Ok(201) => c.ok += 1,
            Ok(s) => *c.non_201.entry(s).or_insert(0) += 1,
            Err(_) => c.errors += 1,
        }
    }
    c
}

struct WrkResult {
    rps: f64,
    latency_line: String,
    non_2xx: u64,
    socket_errors: String,
}

fn run_wrk(opts: &Opts, url: &str) -> Res<WrkResult> {
    let out = Command::new(&opts.wrk)
        .args(["-t2", "-c64", &format!("-d{}s", opts.wrk_secs), url])
        .output()
        .map_err(|e| format!("running {}: {e}", opts.wrk.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        return Err(format!("wrk failed: {text} {}", String::from_utf8_lossy(&out.stderr)));
    }
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or_else(|| format!("no Requests/sec in wrk output: {text}"))?;
    let latency_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("Latency"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let non_2xx = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let socket_errors = text
        .lines()
        .find(|l| l.contains("Socket errors"))
        .map(|l| l.trim().to_owned())
        .unwrap_or_else(|| "none".into());
    Ok(WrkResult { rps, latency_line, non_2xx, socket_errors })
}

struct Nginx {
    child: Option<Child>,
    pid: u32,
}

impl Nginx {
    async fn start(opts: &Opts, http: &reqwest::Client, dir: &Path, body: &[u8]) -> Res<(Nginx, String)> {
        let www = dir.join("www");
        fs::create_dir_all(www.join("x")).map_err(|e| e.to_string())?;
        fs::create_dir_all(dir.join("tmp")).map_err(|e| e.to_string())?;
        fs::write(www.join("index.yaml"), body).map_err(|e| e.to_string())?;
        let port = free_port()?;
        let is_root = fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
            .unwrap_or(false);
        let d = dir.display();
        let conf = format!(
            "{user}daemon off;\nworker_processes auto;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  default_type application/octet-stream;\n\
             \x20 client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n\
             \x20 fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n\
             \x20 server {{\n    listen 127.0.0.1:{port};\n    root {d}/www;\n  }}\n}}\n",
            user = if is_root { "user root;\n" } else { "" },
        );
        let conf_path = dir.join("nginx.conf");
        fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
        let child = Command::new(&opts.nginx)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", opts.nginx.display()))?;
        let pid = child.id();
        register_child(pid);
        let mut n = Nginx { child: Some(child), pid };
        let url = format!("http://127.0.0.1:{port}/index.yaml");
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(&url).send().await
                && r.status() == 200
                && let Ok(b) = r.bytes().await
            {
                if b.as_ref() != body {
                    return Err("nginx serves different bytes".into());
                }
                return Ok((n, url));
            }
            if let Some(c) = n.child.as_mut()
                && let Ok(Some(s)) = c.try_wait()
            {
                let err = fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                return Err(format!("nginx exited with {s}: {err}"));
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err("nginx not serving after 10 s".into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(self.pid, "TERM"); // the master stops its workers
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = c.try_wait() {
                    unregister_child(self.pid);
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
            unregister_child(self.pid);
        }
    }
}

fn helm_repo_index(opts: &Opts, dir: &Path, home: &Path) -> Res<Duration> {
    let _ = fs::remove_file(dir.join("index.yaml"));
    let started = Instant::now();
    let out = helm_cmd(opts, home).arg("repo").arg("index").arg(dir).output().map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    if !out.status.success() {
        return Err(format!("helm repo index failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(elapsed)
}

fn machine() -> Vec<(String, String)> {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "?".into());
    let mem = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| format!("{:.1} GiB", kb as f64 / 1048576.0))
        .unwrap_or_else(|| "?".into());
    let cmd = |c: &str, a: &[&str]| {
        Command::new(c)
            .args(a)
            .output()
            .ok()
            .map(|o| {
                let s = if o.stdout.is_empty() { o.stderr } else { o.stdout };
                String::from_utf8_lossy(&s).lines().next().unwrap_or("").trim().to_owned()
            })
            .unwrap_or_else(|| "?".into())
    };
    vec![
        ("nproc".into(), std::thread::available_parallelism().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())),
        ("CPU".into(), cpu),
        ("RAM".into(), mem),
        ("kernel".into(), cmd("uname", &["-sr"])),
    ]
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "**met**" } else { "**NOT met**" }
}

// ------------------------------------------------------------------------------------------------
// The run
// ------------------------------------------------------------------------------------------------

async fn run(opts: Opts) -> Res<()> {
    START.get_or_init(Instant::now);
    let run_started = Instant::now();
    for (what, p) in [("server", &opts.server), ("helm", &opts.helm)] {
        if !p.exists() {
            return Err(format!("{what} binary {} not found", p.display()));
        }
    }
    let n = opts.versions;
    let scaffold = scaffold(&opts)?;
    let sample = make_tgz(&scaffold, "bench-chart-0000", "1.0.0");
    let gen10 = ensure_charts(&opts, &scaffold, n, Duration::from_secs(3600))?.unwrap_or_default();

    let work = opts.data_dir.join("run");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let http = client();
    let mut rows: Vec<[String; 3]> = Vec::new(); // measurement, result, detail
    let mut targets: Vec<[String; 4]> = Vec::new(); // target, measured, verdict, note
    let row = |rows: &mut Vec<[String; 3]>, a: &str, b: String, c: String| rows.push([a.to_owned(), b, c]);

    let seq_set = upload_set(&scaffold, 2, opts.seq_uploads);
    let conc_set = upload_set(&scaffold, 3, opts.conc_uploads);

    // 1a. Upload latency into an empty repository.
    log("uploads into an empty repository");
    let empty_root = work.join("repo-empty");
    fs::create_dir_all(&empty_root).map_err(|e| e.to_string())?;
    let (mut srv, _) =
        Server::start(&opts, &http, &empty_root, &work.join("server-empty.log"), Duration::from_secs(60)).await?;
    let empty = sequential_uploads(&http, &srv.base, &seq_set).await?;
    srv.stop().await?;
    drop(srv);

    // 3a. Helm repo index on a copy of the N charts (server not running).
    log(format!("helm repo index on {n} charts"));
    let helm_dir = work.join("helm-repo");
    let repo_bytes = populate(&opts, &helm_dir, n)?;
    let mut helm_times = Vec::new();
    for _ in 0..opts.restarts {
        helm_times.push(helm_repo_index(&opts, &helm_dir, &work.join("helm-home"))?);
    }
    let helm_time = median(&helm_times);
    let helm_count = fs::read_to_string(helm_dir.join("index.yaml")).map(|s| url_counts(&s).len()).unwrap_or(0);
    let _ = fs::remove_dir_all(&helm_dir);
    log(format!("helm repo index: {} s, {helm_count} entries", secs_list(&helm_times)));

    // 3b. Cold start from N charts with no state.
    let root = work.join("repo");
    populate(&opts, &root, n)?;
    let srv_log = work.join("server.log");
    log(format!("cold start with {n} charts, no state"));
    let (mut srv, first_cold) = Server::start(&opts, &http, &root, &srv_log, Duration::from_secs(300)).await?;
    let mut colds = vec![first_cold];
    let (mut index_body, mut counts) = get_index(&http, &srv.base).await?;
    check_exact(&counts, base_files(n)).map_err(|e| format!("after cold start: {e}"))?;
    for _ in 1..opts.restarts {
        srv.stop().await?;
        drop(srv);
        fs::remove_dir_all(root.join(".chartroom")).map_err(|e| format!("deleting the state: {e}"))?;
        let (s, t) = Server::start(&opts, &http, &root, &srv_log, Duration::from_secs(300)).await?;
        srv = s;
        colds.push(t);
        (index_body, counts) = get_index(&http, &srv.base).await?;
        check_exact(&counts, base_files(n)).map_err(|e| format!("after cold start: {e}"))?;
    }
    let cold = median(&colds);
    let cold_ready = srv.index_ready_ms();
    log(format!("cold start {} s; index {} bytes lists {n}", secs_list(&colds), index_body.len()));

    // 2. GET /index.yaml throughput vs nginx.
    let mem_before_wrk = srv.rss()?;
    log("wrk against chartroom");
    let wrk_cr = run_wrk(&opts, &format!("{}/index.yaml", srv.base))?;
    let mem_10k = srv.rss()?;
    log("wrk against nginx");
    let wrk_ng = {
        let (ng, url) = Nginx::start(&opts, &http, &work.join("nginx"), &index_body).await?;
        let r = run_wrk(&opts, &url);
        drop(ng);
        r?
    };
    let gz = http
        .get(format!("{}/index.yaml", srv.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let gz_enc = gz.headers().get("content-encoding").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned();
    let gz_len = gz.bytes().await.map_err(|e| e.to_string())?.len();

    // 4a. Restart with persisted state at N.
    let mut restarts = Vec::new();
    let mut stop_times = Vec::new();
    let mut restart_ready = None;
    for k in 0..opts.restarts {
        log(format!("restart {} with persisted state", k + 1));
        stop_times.push(srv.stop().await?);
        let state_len =
            fs::metadata(srv.state_file()).map(|m| m.len()).map_err(|e| format!("no state file after SIGTERM: {e}"))?;
        drop(srv);
        let (s, t) = Server::start(&opts, &http, &root, &srv_log, Duration::from_secs(120)).await?;
        srv = s;
        restart_ready = srv.index_ready_ms().map(|r| format!("{r}; state file {state_len} bytes"));
        restarts.push(t);
        let (_, c) = get_index(&http, &srv.base).await?;
        check_exact(&c, base_files(n)).map_err(|e| format!("after restart: {e}"))?;
    }
    let mut rs = restarts.clone();
    rs.sort();
    let restart_med = rs[rs.len() / 2];
    let mem_10k_restarted = srv.rss()?;

    // 1b. Upload latency into the N repository.
    log(format!("{} sequential uploads into {n}", opts.seq_uploads));
    let full = sequential_uploads(&http, &srv.base, &seq_set).await?;

    // 6. Concurrent uploads.
    log(format!("{} concurrent uploads by {} clients", opts.conc_uploads, opts.conc_clients));
    let conc = concurrent_uploads(&http, &srv.base, &conc_set, opts.conc_clients).await;
    let (final_body, final_counts) = get_index(&http, &srv.base).await?;
    let expected = base_files(n)
        .chain(seq_set.iter().map(|(a, b, _)| tgz_name(a, b)))
        .chain(conc_set.iter().map(|(a, b, _)| tgz_name(a, b)));
    let exact = check_exact(&final_counts, expected);
    let conc_listed_once = conc_set.iter().filter(|(a, b, _)| final_counts.get(&tgz_name(a, b)) == Some(&1)).count();
    let mem_end = srv.rss()?;
    srv.stop().await?;
    drop(srv);
    let _ = fs::remove_dir_all(&root);

    // 4b/5b. The large repository.
    let mut big: Option<String> = None;
    let mut big_rows: Vec<[String; 3]> = Vec::new();
    let mut big_targets: Option<(Duration, Mem, usize)> = None;
    let nb = opts.big_versions;
    if nb > n {
        let remaining = opts.deadline.saturating_sub(run_started.elapsed());
        let budget = opts.big_budget.min(remaining.saturating_sub(Duration::from_secs(150)));
        match ensure_charts(&opts, &scaffold, nb, budget)? {
            None => {
                big = Some(format!(
                    "skipped: generating {nb} charts would exceed the {:.0} s budget (progress is cached; \
                     the next run continues from {})",
                    budget.as_secs_f64(),
                    generated_count(&opts)
                ))
            }
            Some(gen_time) => {
                let broot = work.join("repo-big");
                let blog = work.join("server-big.log");
                log(format!("large repository: {nb} charts"));
                let t = Instant::now();
                let big_bytes = populate(&opts, &broot, nb)?;
                let link_time = t.elapsed();
                let (mut s, bcold) = Server::start(&opts, &http, &broot, &blog, Duration::from_secs(300)).await?;
                let bcold_ready = s.index_ready_ms();
                let (bbody, bc) = get_index(&http, &s.base).await?;
                check_exact(&bc, base_files(nb)).map_err(|e| format!("large cold start: {e}"))?;
                let bmem_cold = s.rss()?;
                let mut brs = Vec::new();
                let mut bready = None;
                for k in 0..opts.restarts {
                    log(format!("large restart {} with persisted state", k + 1));
                    s.stop().await?;
                    drop(s);
                    let (s2, t) = Server::start(&opts, &http, &broot, &blog, Duration::from_secs(120)).await?;
                    s = s2;
                    bready = s.index_ready_ms();
                    brs.push(t);
                }
                let (bbody2, bc2) = get_index(&http, &s.base).await?;
                check_exact(&bc2, base_files(nb)).map_err(|e| format!("large restart: {e}"))?;
                let bmem_pre = s.rss()?;
                // A little traffic so the served buffers are all touched.
                let bwrk = run_wrk(&Opts { wrk_secs: 3, ..opts.clone() }, &format!("{}/index.yaml", s.base))?;
                let bmem = s.rss()?;
                let bup_set = upload_set(&scaffold, 4, 100);
                log(format!("{} sequential uploads into {nb}", bup_set.len()));
                let bup = sequential_uploads(&http, &s.base, &bup_set).await?;
                let bmem_end = s.rss()?;
                s.stop().await?;
                drop(s);
                let _ = fs::remove_dir_all(&broot);
                let mut sorted = brs.clone();
                sorted.sort();
                let bmed = sorted[sorted.len() / 2];
                big_rows.push([
                    format!("generate charts {n}..{nb} (cache)"),
                    if gen_time.is_zero() { "cached".into() } else { format!("{:.1} s", gen_time.as_secs_f64()) },
                    format!(
                        "hard-linking {nb} files into the repo: {:.1} s; {:.0} MiB of .tgz",
                        link_time.as_secs_f64(),
                        big_bytes as f64 / 1048576.0
                    ),
                ]);
                big_rows.push([
                    format!("cold start, {nb} versions, no state"),
                    format!("{:.3} s", bcold.as_secs_f64()),
                    format!("index ready: {}", bcold_ready.unwrap_or_default()),
                ]);
                big_rows.push([
                    format!("restart with persisted state, {nb} versions (median of {})", brs.len()),
                    format!("{:.3} s", bmed.as_secs_f64()),
                    format!(
                        "all: {} s; index ready: {}",
                        brs.iter().map(|d| format!("{:.3}", d.as_secs_f64())).collect::<Vec<_>>().join(", "),
                        bready.unwrap_or_default()
                    ),
                ]);
                big_rows.push([
                    format!("index body, {nb} versions"),
                    format!("{} bytes", bbody2.len()),
                    format!("{:.1} MiB (cold start body {} bytes)", bbody2.len() as f64 / 1048576.0, bbody.len()),
                ]);
                big_rows.push([
                    format!("server RSS, {nb} versions, after restart + 3 s wrk"),
                    mib(bmem.rss_kb),
                    format!(
                        "{:.2}x the index; before the wrk {} ({:.2}x); peak (VmHWM) {}; after cold build: RSS {} / peak {}",
                        bmem.rss_kb as f64 * 1024.0 / bbody2.len() as f64,
                        mib(bmem_pre.rss_kb),
                        bmem_pre.rss_kb as f64 * 1024.0 / bbody2.len() as f64,
                        mib(bmem.hwm_kb),
                        mib(bmem_cold.rss_kb),
                        mib(bmem_cold.hwm_kb)
                    ),
                ]);
                big_rows.push([
                    format!("GET /index.yaml, {nb} versions (wrk -t2 -c64, 3 s)"),
                    format!("{:.1} req/s", bwrk.rps),
                    format!("{}; non-2xx: {}; {}", bwrk.latency_line, bwrk.non_2xx, bwrk.socket_errors),
                ]);
                let [p50, p90, p99, max] = summary(&bup.visible);
                big_rows.push([
                    format!("upload -> visible, {nb}-version repo ({} sequential)", bup_set.len()),
                    format!("p50 {} ms", ms(p50)),
                    format!(
                        "p90 {} / p99 {} / max {} ms; POST alone p50 {} ms; RSS after: {}",
                        ms(p90),
                        ms(p99),
                        ms(max),
                        ms(summary(&bup.post)[0]),
                        mib(bmem_end.rss_kb)
                    ),
                ]);
                big_targets = Some((bmed, bmem, bbody2.len()));
            }
        }
    }
    let _ = fs::remove_dir_all(&work);

    // -------------------------------------------------------------------------------------------
    // Report
    // -------------------------------------------------------------------------------------------
    let [ep50, ep90, ep99, emax] = summary(&empty.post);
    let [ev50, ev90, ev99, evmax] = summary(&empty.visible);
    let [fp50, fp90, fp99, fmax] = summary(&full.post);
    let [fv50, fv90, fv99, fvmax] = summary(&full.visible);
    let ratio_nginx = wrk_cr.rps / wrk_ng.rps;
    let cold_ratio = cold.as_secs_f64() / helm_time.as_secs_f64();
    let ups = conc.ok as f64 / conc.elapsed.as_secs_f64();

    let mut out = String::new();
    let w = &mut out;
    use std::fmt::Write as _;
    let _ = writeln!(w, "## Chartroom benchmark results\n");
    let _ = writeln!(w, "| machine | |\n|---|---|");
    for (k, v) in machine() {
        let _ = writeln!(w, "| {k} | {v} |");
    }
    let _ = writeln!(
        w,
        "| chart | `helm create` scaffold, {} files, {} bytes .tgz each; {n} versions = {} names x {VERSIONS_PER_NAME}, {:.1} MiB |",
        scaffold.len(),
        sample.len(),
        n.div_ceil(VERSIONS_PER_NAME),
        repo_bytes as f64 / 1048576.0
    );
    let _ = writeln!(
        w,
        "| chart generation | {} |\n",
        if gen10.is_zero() { "cached".to_owned() } else { format!("{:.1} s", gen10.as_secs_f64()) }
    );

    row(
        &mut rows,
        &format!("upload POST, empty repo ({} sequential)", opts.seq_uploads),
        format!("p50 {} ms", ms(ep50)),
        format!("p90 {} / p99 {} / max {} ms", ms(ep90), ms(ep99), ms(emax)),
    );
    row(
        &mut rows,
        "upload -> visible (POST + GET 200), empty repo",
        format!("p50 {} ms", ms(ev50)),
        format!("p90 {} / p99 {} / max {} ms; extra GETs needed: {}", ms(ev90), ms(ev99), ms(evmax), empty.extra_gets),
    );
    row(
        &mut rows,
        &format!("upload POST, {n}-version repo ({} sequential)", opts.seq_uploads),
        format!("p50 {} ms", ms(fp50)),
        format!("p90 {} / p99 {} / max {} ms", ms(fp90), ms(fp99), ms(fmax)),
    );
    row(
        &mut rows,
        &format!("upload -> visible (POST + GET 200), {n}-version repo"),
        format!("p50 {} ms", ms(fv50)),
        format!("p90 {} / p99 {} / max {} ms; extra GETs needed: {}", ms(fv90), ms(fv99), ms(fvmax), full.extra_gets),
    );
    row(
        &mut rows,
        &format!("index.yaml body, {n} versions"),
        format!("{} bytes", index_body.len()),
        format!(
            "{:.2} MiB; gzip variant: {gz_len} bytes (content-encoding: {gz_enc})",
            index_body.len() as f64 / 1048576.0
        ),
    );
    row(
        &mut rows,
        "GET /index.yaml, chartroom (wrk -t2 -c64)",
        format!("{:.1} req/s", wrk_cr.rps),
        format!("{}; non-2xx: {}; {}", wrk_cr.latency_line, wrk_cr.non_2xx, wrk_cr.socket_errors),
    );
    row(
        &mut rows,
        "GET /index.yaml, nginx same bytes (wrk -t2 -c64)",
        format!("{:.1} req/s", wrk_ng.rps),
        format!("{}; non-2xx: {}; {}", wrk_ng.latency_line, wrk_ng.non_2xx, wrk_ng.socket_errors),
    );
    row(&mut rows, "chartroom / nginx", format!("{ratio_nginx:.2}x"), String::new());
    row(
        &mut rows,
        &format!("`helm repo index`, {n} charts (Helm 3.17, median of {})", helm_times.len()),
        format!("{:.3} s", helm_time.as_secs_f64()),
        format!("all: {} s; {helm_count} entries written", secs_list(&helm_times)),
    );
    row(
        &mut rows,
        &format!("cold start, {n} charts, no state (spawn -> first /health 200, median of {})", colds.len()),
        format!("{:.3} s", cold.as_secs_f64()),
        format!("all: {} s; last run's index ready: {}", secs_list(&colds), cold_ready.unwrap_or_default()),
    );
    row(&mut rows, "cold start / helm repo index", format!("{cold_ratio:.3}x"), String::new());
    row(
        &mut rows,
        &format!("restart with persisted state, {n} versions (median of {})", restarts.len()),
        format!("{:.3} s", restart_med.as_secs_f64()),
        format!(
            "all: {} s; SIGTERM->exit: {} s; index ready: {}",
            restarts.iter().map(|d| format!("{:.3}", d.as_secs_f64())).collect::<Vec<_>>().join(", "),
            stop_times.iter().map(|d| format!("{:.3}", d.as_secs_f64())).collect::<Vec<_>>().join(", "),
            restart_ready.unwrap_or_default()
        ),
    );
    row(
        &mut rows,
        &format!("server RSS, {n} versions, after wrk"),
        mib(mem_10k.rss_kb),
        format!(
            "{:.2}x the index body; before wrk {}; peak (VmHWM) {}; after restart {}",
            mem_10k.rss_kb as f64 * 1024.0 / index_body.len() as f64,
            mib(mem_before_wrk.rss_kb),
            mib(mem_10k.hwm_kb),
            mib(mem_10k_restarted.rss_kb)
        ),
    );
    row(
        &mut rows,
        &format!("concurrent uploads, {} clients, {} new versions", opts.conc_clients, opts.conc_uploads),
        format!("{ups:.1} uploads/s"),
        format!(
            "{} x 201 in {:.2} s; non-201: {:?}; transport errors: {}",
            conc.ok,
            conc.elapsed.as_secs_f64(),
            conc.non_201,
            conc.errors
        ),
    );
    row(
        &mut rows,
        "final index check",
        match &exact {
            Ok(c) => format!("{c} listed, each once"),
            Err(e) => format!("FAILED: {e}"),
        },
        format!(
            "{conc_listed_once}/{} concurrent uploads listed exactly once; body {} bytes",
            opts.conc_uploads,
            final_body.len()
        ),
    );
    row(
        &mut rows,
        &format!("server RSS at the end ({} versions)", final_counts.len()),
        mib(mem_end.rss_kb),
        format!("peak (VmHWM) {}", mib(mem_end.hwm_kb)),
    );
    rows.extend(big_rows);

    let _ = writeln!(w, "| measurement | result | detail |\n|---|---|---|");
    for [a, b, c] in &rows {
        let _ = writeln!(w, "| {a} | {b} | {c} |");
    }

    targets.push([
        format!("GET /index.yaml, {n} versions, 64 connections: >= 1.0x nginx"),
        format!("{ratio_nginx:.2}x ({:.0} vs {:.0} req/s)", wrk_cr.rps, wrk_ng.rps),
        verdict(ratio_nginx >= 1.0).into(),
        String::new(),
    ]);
    targets.push([
        format!("upload -> visible, {n} versions: p50 <= 10 ms"),
        format!("p50 {} ms", ms(fv50)),
        verdict(fv50 <= Duration::from_millis(10)).into(),
        String::new(),
    ]);
    let two_x = fv50.as_secs_f64() <= 2.0 * ev50.as_secs_f64();
    targets.push([
        "upload -> visible: within 2x of an empty repo (p50)".into(),
        format!("{:.2}x ({} vs {} ms)", fv50.as_secs_f64() / ev50.as_secs_f64(), ms(fv50), ms(ev50)),
        verdict(two_x).into(),
        String::new(),
    ]);
    targets.push([
        format!("cold start, {n} charts: <= 0.25x helm repo index"),
        format!("{cold_ratio:.3}x ({:.3} s vs {:.3} s)", cold.as_secs_f64(), helm_time.as_secs_f64()),
        verdict(cold_ratio <= 0.25).into(),
        String::new(),
    ]);
    match (&big_targets, &big) {
        (Some((bmed, bmem, blen)), _) => {
            targets.push([
                format!("restart with persisted state, {nb} versions: <= 1 s"),
                format!("{:.3} s", bmed.as_secs_f64()),
                verdict(*bmed <= Duration::from_secs(1)).into(),
                String::new(),
            ]);
            let r = bmem.rss_kb as f64 * 1024.0 / *blen as f64;
            targets.push([
                format!("RSS, {nb} versions: <= 3x the served index"),
                format!("{r:.2}x ({} vs {:.1} MiB)", mib(bmem.rss_kb), *blen as f64 / 1048576.0),
                verdict(r <= 3.0).into(),
                String::new(),
            ]);
        }
        (None, note) => {
            let note = note.clone().unwrap_or_else(|| "large test disabled (--big-versions 0)".into());
            targets.push([
                format!("restart with persisted state: <= 1 s (target is at 100,000; measured at {n})"),
                format!("{:.3} s", restart_med.as_secs_f64()),
                "not measured at 100,000".into(),
                note.clone(),
            ]);
            let r = mem_10k.rss_kb as f64 * 1024.0 / index_body.len() as f64;
            targets.push([
                format!("RSS <= 3x the served index (target is at 100,000; measured at {n})"),
                format!("{r:.2}x"),
                "not measured at 100,000".into(),
                note,
            ]);
        }
    }
    let lost = opts.conc_uploads - conc_listed_once;
    targets.push([
        format!("concurrent uploads, {} clients: >= 300 uploads/s, 0 lost", opts.conc_clients),
        format!("{ups:.1} uploads/s, {lost} lost, {} non-201", conc.non_201.values().sum::<usize>() + conc.errors),
        verdict(ups >= 300.0 && lost == 0 && exact.is_ok()).into(),
        String::new(),
    ]);

    let _ = writeln!(w, "\n| target (design.md) | measured | verdict | note |\n|---|---|---|---|");
    for [a, b, c, d] in &targets {
        let _ = writeln!(w, "| {a} | {b} | {c} | {d} |");
    }
    let _ = writeln!(w, "\nTotal bench time: {:.1} s", run_started.elapsed().as_secs_f64());
    io::stdout().write_all(out.as_bytes()).map_err(|e| e.to_string())?;
    Ok(())
}
